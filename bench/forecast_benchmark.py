"""How long the staffing forecast takes for a provincial center (issue 11; queue_server/forecast.py).

A generated center: 8 fields, 20 counters, 500 tickets each weekday and about 170 on Saturdays,
30 % of them in the first half hour (the opening burst), exponential waits and service times.
The forecast for the last 4 weeks (the page's default) and for 52 weeks, by the pure function the
API calls (`plan_from_tickets`); reading the tickets from SQLite is not included. Prints wall and
CPU seconds (CPU time is the fairer figure on a machine shared with other work).

    .venv/bin/python bench/forecast_benchmark.py
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from queue_server import forecast  # noqa: E402
from queue_server.core.models import CenterRules, Counter, Field, Ticket, TicketStatus  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FIELDS = {f"f{i}": Field(f"f{i}", f"Lĩnh vực {i}") for i in range(8)}
RULES = CenterRules(center_name="Trung tâm", timezone=TZ, fields=FIELDS,
                    counters={n: Counter(n, f"Quầy {n}", tuple(FIELDS)) for n in range(1, 21)})


def center(weeks: int, per_day: int = 500) -> tuple[list[Ticket], date, date]:
    rng = random.Random(1)
    tickets: list[Ticket] = []
    last = date(2026, 11, 29)
    first = last - timedelta(days=7 * weeks - 1)
    day = first
    while day <= last:
        if day.weekday() < 6:
            for k in range(per_day if day.weekday() < 5 else per_day // 3):
                minute = rng.uniform(0, 30) if rng.random() < 0.3 else rng.uniform(30, 570)
                issued = (datetime(day.year, day.month, day.day, 7, tzinfo=TZ)
                          + timedelta(minutes=minute)).astimezone(timezone.utc)
                called = issued + timedelta(minutes=rng.expovariate(1 / 10))
                n = len(tickets) + 1
                tickets.append(Ticket(
                    id=str(n), day=day, origin_field=f"f{k % 8}", seq=n, number=str(n),
                    field_id=f"f{k % 8}", priority=False, priority_group=None,
                    status=TicketStatus.DONE, issued_at=issued, source="api", called_at=called,
                    finished_at=called + timedelta(minutes=rng.expovariate(1 / 8)), counter=1,
                    staff="s"))
        day += timedelta(days=1)
    return tickets, first, last


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1].split("\n\n")[0])
    p.add_argument("--weeks", default="4,52", help="periods to forecast from, in weeks, comma-separated (default 4,52)")
    args = p.parse_args()
    for weeks in (int(w) for w in args.weeks.split(",")):
        tickets, first, last = center(weeks)
        wall, cpu = time.perf_counter(), time.process_time()
        plan = forecast.plan_from_tickets(tickets, RULES, first, last, 15.0, 0.8)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        monday = plan["weekdays"][0]["hours"]
        print(f"{weeks:2d} weeks, {len(tickets):6d} tickets: {wall:5.2f} s wall, {cpu:5.2f} s CPU; "
              f"Monday 07:00 {monday[0]['counters']} counters ({monday[0]['method']}), "
              f"08:00 {monday[1]['counters']} ({monday[1]['method']})")


if __name__ == "__main__":
    main()
