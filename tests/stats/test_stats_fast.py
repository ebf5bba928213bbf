"""The statistics' per-day path (`stats.compute`, each day's pieces kept while the day's version in
`event_days` stays the same) gives exactly the answer of the straightforward computation
(`stats.compute_direct`, every figure from SQL over the whole range) — on a generated week driven
through the queue service with a manual clock: transfers, no-shows (re-queued or not), cancels,
pauses, ratings, visits closed at the day's end, a failed print, and the clock stepping back
(durations made negative: clock anomalies) and durations in fractions of a second. Then a late
rating of a closed day (the day's pieces must be rebuilt) and new visits today."""

from __future__ import annotations

import random
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from queue_server import stats
from queue_server.config import parse_config
from queue_server.core.errors import QueueError
from queue_server.core.models import Outcome, TicketStatus
from queue_server.core.ports import ManualClock
from queue_server.core.service import QueueService
from queue_server.storage import SqliteStore
from tests.conftest import RecordingPublisher
from tests.hub.test_core_time import CONFIG, HANOI

RULES = parse_config(CONFIG).rules
DAYS = [date(2026, 10, 28) + timedelta(days=i) for i in range(6)]  # Wednesday 28/10 … Monday 2/11
# one day, the middle, a longer span, the whole closed October (read from its days' pieces
# combined, its days then kept slim), days of it on their own again (built again), the whole
# November (today's month), a range around both; other targets
RANGES = [(DAYS[0], DAYS[-1], 10), (DAYS[2], DAYS[2], 15), (DAYS[1], DAYS[4], 5),
          (date(2026, 10, 1), date(2026, 10, 31), 10), (DAYS[2], DAYS[4], 10),
          (date(2026, 10, 1), date(2026, 10, 31), 15), (date(2026, 11, 1), date(2026, 11, 30), 10),
          (date(2026, 9, 15), date(2026, 12, 15), 15)]


def simulate(store: SqliteStore, seed: int = 11) -> tuple[QueueService, ManualClock, random.Random]:
    """Six days of a small center through the real service (its events, triggers and tables)."""
    rnd = random.Random(seed)
    clock = ManualClock(datetime(DAYS[0].year, DAYS[0].month, DAYS[0].day, 7, 30, tzinfo=HANOI))
    q = QueueService(RULES, store, clock, RecordingPublisher())
    for day in DAYS:
        now = datetime(day.year, day.month, day.day, 7, 30, tzinfo=HANOI)
        clock.set(now)
        no_shows: list[str] = []
        done: list[str] = []
        issued: list[str] = []
        paused: set[int] = set()
        for step in range(70):
            now += timedelta(seconds=rnd.uniform(20, 400))
            if step in (25, 50):  # NTP steps the clock back
                now -= timedelta(minutes=rnd.uniform(3, 30))
            clock.set(now)
            counter = rnd.choice((1, 2, 3))
            staff = f"staff{counter}"
            action = rnd.random()
            try:
                if action < 0.35:
                    issued.append(q.issue(rnd.choice(("dat-dai", "dat-dai", "ho-tich")),
                                          priority=rnd.random() < 0.1,
                                          print_pending=rnd.random() < 0.03).ticket.id)
                elif action < 0.55:
                    if counter in paused:
                        q.resume(counter, staff)
                        paused.discard(counter)
                    q.call_next(counter, staff)
                elif action < 0.72:
                    done.append(q.finish(counter, staff, rnd.choice(list(Outcome)), rnd.randint(0, 3)).id)
                elif action < 0.77:
                    no_shows.append(q.no_show(counter, staff).id)
                elif action < 0.80 and no_shows:
                    q.requeue(no_shows.pop(), staff, counter)
                elif action < 0.84:
                    q.transfer(counter, staff, to_field=rnd.choice(("dat-dai", "ho-tich")))
                elif action < 0.86 and issued:
                    q.cancel(issued[-1], staff, "left")  # refused unless it is still waiting
                elif action < 0.89:
                    q.pause(counter, staff, "break", minutes=rnd.randint(1, 20))
                    paused.add(counter)
                elif action < 0.92 and counter in paused:
                    q.resume(counter, staff)
                    paused.discard(counter)
                elif done:
                    q.rate(done.pop(rnd.randrange(len(done))), rnd.choice((1, 1, 1, 2, 3)))
            except QueueError:
                pass  # a counter with nothing to finish, a ticket not served yet …: the hub refuses
        q.cancel_unconfirmed_prints()
    return q, clock, rnd


def both(store: SqliteStore, first: date, last: date, target: float = 10) -> tuple[dict[str, Any], dict[str, Any]]:
    fast = stats.from_store(store, RULES, first, last, target)
    db = sqlite3.connect(f"{Path(store.path).resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        db.execute("BEGIN")
        direct = stats.compute_direct(db, RULES, first, last, target)
    finally:
        db.close()
    return fast, direct


def test_per_day_path_equals_the_direct_computation(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "queue.sqlite3")
    q, clock, rnd = simulate(store)

    fast, direct = both(store, DAYS[0], DAYS[-1])
    totals = direct["totals"]
    # the week holds every case the per-day path must get right
    assert totals["served"] > 20 and totals["no_show"] > 0 and totals["cancelled"] > 0
    assert totals["closed_at_day_end"] > 0 and totals["print_failed"] > 0
    assert totals["clock_anomalies"] > 0
    assert sum(s["transferred"] for s in direct["by_service"]) > 0
    assert direct["satisfaction"]["total"] > 0
    assert any(c["pauses"] for c in direct["by_counter"])
    assert fast == direct

    for first, last, target in RANGES * 2:  # built, then from what was kept
        assert both(store, first, last, target)[0] == both(store, first, last, target)[1]

    # a late rating of a closed day of a closed month: that day and its month are built again
    day = DAYS[3]
    assert day == date(2026, 10, 31)
    with store.reading() as tx:
        ticket_id, finished_at = tx.db.execute(
            "SELECT id, finished_at FROM tickets WHERE day = ? AND status = ? AND rating IS NULL "
            "ORDER BY finished_at DESC", (day.isoformat(), TicketStatus.DONE.value)).fetchone()
    before = fast["satisfaction"]["total"]
    clock.set(datetime.fromtimestamp(finished_at, HANOI) + timedelta(hours=20))  # within the rating window
    q.rate(ticket_id, 2)
    fast, direct = both(store, DAYS[0], DAYS[-1])
    assert direct["satisfaction"]["total"] == before + 1
    assert fast == direct
    for first, last, target in RANGES:
        assert both(store, first, last, target)[0] == both(store, first, last, target)[1]

    # today, live: new visits after the pieces were kept
    clock.set(datetime(DAYS[-1].year, DAYS[-1].month, DAYS[-1].day, 16, 0, tzinfo=HANOI))
    q.issue("ho-tich")
    clock.set(datetime(DAYS[-1].year, DAYS[-1].month, DAYS[-1].day, 16, 3, 7, 500000, tzinfo=HANOI))
    q.call_next(3, "staff3")
    fast, direct = both(store, DAYS[0], DAYS[-1])
    assert fast == direct and fast["totals"]["issued"] == totals["issued"] + 1
    for first, last, target in RANGES:
        assert both(store, first, last, target)[0] == both(store, first, last, target)[1]
    store.close()

