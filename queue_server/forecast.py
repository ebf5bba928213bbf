"""Staffing forecast (issue 11): how many counters to open in each hour of each weekday so that
a chosen share of citizens waits less than a chosen target — pure functions, no I/O, no clock.

Model: Erlang C (the M/M/c queue; formula, assumptions and where they break in docs/forecast.md).
With arrival rate λ (per minute), mean service time s (minutes), offered load A = λ·s erlangs and
c counters (c > A):

    P(wait > 0) = C(c, A) = [A^c/c! · c/(c−A)] / [Σ_{k<c} A^k/k! + A^c/c! · c/(c−A)]
    P(wait ≤ t) = 1 − C(c, A) · exp(−(c − A) · t / s)

C is computed through the Erlang B recursion (B₀ = 1, B_k = A·B_{k−1} / (k + A·B_{k−1}),
C = c·B_c / (c − A·(1 − B_c))), which never forms A^c or c! and so stays exact for any hall.

Where it does not hold, what this module does:
- the first open hour of a day: citizens queue before the doors open, so arrivals come in a burst,
  not as a Poisson stream. That hour is planned by replaying the observed arrival times of each
  such day through a simulated queue (`simulate_share`) that starts empty at opening;
- counters that serve only some fields: Erlang C pools every counter for every citizen, a lower
  bound. `counters_if_dedicated` is the other bound (each field planned as its own queue); the
  truth lies between, and the table shows both;
- service times that are not exponential: the coefficient of variation of the observed times is
  reported (`service_cv`; 1 for exponential). Below 1 the Erlang C answer is on the safe side.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from statistics import mean, pstdev
from typing import Any

DEFAULT_WEEKS = 4
DEFAULT_TARGET_MIN = 15.0
DEFAULT_SHARE = 0.8
MAX_COUNTERS = 200
SIMULATION_RUNS = 40
WEEKDAY_NAMES = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
WEEKDAY_NAMES_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival has to wait, C(c, A), for `servers` = c counters and an
    offered `load` A in erlangs (arrivals per minute × mean service minutes). 1.0 when c ≤ A
    (the queue grows without bound). Raises ValueError for c < 1 or A < 0."""
    if servers < 1 or load < 0 or math.isnan(load):
        raise ValueError("servers must be ≥ 1 and load ≥ 0")
    if load == 0:
        return 0.0
    if servers <= load:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return servers * b / (servers - load * (1.0 - b))


def share_within(servers: int, per_hour: float, service_min: float, target_min: float) -> float:
    """Share (0..1) of citizens who wait at most `target_min` minutes, by Erlang C, with
    `per_hour` arrivals per hour and a mean service of `service_min` minutes."""
    if per_hour <= 0:
        return 1.0
    load = per_hour / 60.0 * service_min
    if servers <= load:
        return 0.0
    waiting = erlang_c(servers, load)
    return 1.0 - waiting * math.exp(-(servers - load) * target_min / service_min)


def mean_wait_min(servers: int, per_hour: float, service_min: float) -> float:
    """Average wait in minutes (ASA): C(c, A) · s / (c − A); infinite when c ≤ A."""
    load = per_hour / 60.0 * service_min
    if per_hour <= 0:
        return 0.0
    if servers <= load:
        return math.inf
    return erlang_c(servers, load) * service_min / (servers - load)


def counters_needed(per_hour: float, service_min: float, target_min: float, share: float,
                    limit: int = MAX_COUNTERS) -> int | None:
    """The fewest counters for which `share_within` ≥ `share` (0 when nobody comes); None if
    even `limit` counters are not enough."""
    if per_hour <= 0:
        return 0
    load = per_hour / 60.0 * service_min
    for c in range(max(1, math.floor(load) + 1), limit + 1):
        if share_within(c, per_hour, service_min, target_min) >= share:
            return c
    return None


def simulate_share(days: Sequence[Sequence[float]], servers: int, service_min: float,
                   target_min: float, runs: int = SIMULATION_RUNS, seed: int = 11) -> float:
    """Share (0..1) of arrivals that wait at most `target_min`, replaying each day's arrival
    times (`days`: minutes from the start of the period, one list per day) through `servers`
    first-come-first-served counters that start idle, with exponential service times of mean
    `service_min`, averaged over `runs` seeded runs (the same seed gives the same answer)."""
    rng = random.Random(seed)
    within = total = 0
    for _ in range(runs):
        for arrivals in days:
            free = [0.0] * servers  # when each counter is next free (minutes)
            for at in sorted(arrivals):
                i = min(range(servers), key=free.__getitem__)
                start = max(at, free[i])
                within += (start - at) <= target_min
                total += 1
                free[i] = start + rng.expovariate(1.0 / service_min)
    return within / total if total else 1.0


def simulated_counters(days: Sequence[Sequence[float]], service_min: float, target_min: float,
                       share: float, limit: int = MAX_COUNTERS) -> int | None:
    """The fewest counters for which `simulate_share` ≥ `share`; None if `limit` is not enough."""
    if not any(days):
        return 0
    for c in range(1, limit + 1):
        if simulate_share(days, c, service_min, target_min) >= share:
            return c
    return None


def plan(arrivals: Iterable[tuple[date, int, float, str]], service_min: float,
         field_service_min: dict[str, float], first: date, last: date, target_min: float,
         share: float, opening: dict[int, int] | None = None) -> dict[str, Any]:
    """The staffing table. `arrivals`: (service day, local hour, minute within the hour, field id)
    per citizen; `service_min`: mean service minutes overall, `field_service_min` per field;
    `first`..`last`: the days observed (each weekday's rate is divided by how many of that
    weekday the period has); `opening`: {weekday: first open hour} (default: the earliest hour
    with arrivals), planned by simulation (module docstring). Answer:
    {weekdays: [{weekday, name, name_en, hours: [{hour, arrivals_per_hour, counters,
    counters_if_dedicated, share_within, method}]}], hours: [...]}."""
    weekdays_in_period: dict[int, int] = defaultdict(int)
    day = first
    while day <= last:
        weekdays_in_period[day.weekday()] += 1
        day += timedelta(days=1)
    count: dict[tuple[int, int], int] = defaultdict(int)
    by_field: dict[tuple[int, int, str], int] = defaultdict(int)
    traces: dict[tuple[int, int], dict[date, list[float]]] = defaultdict(lambda: defaultdict(list))
    for day, hour, minute, field_id in arrivals:
        wd = day.weekday()
        count[(wd, hour)] += 1
        by_field[(wd, hour, field_id)] += 1
        traces[(wd, hour)][day].append(minute)
    opening = dict(opening or {})
    for wd, hour in count:
        opening[wd] = min(opening.get(wd, hour), hour)
    hours = sorted({h for _, h in count})
    weekdays = []
    for wd in range(7):
        rows = []
        for hour in hours:
            n = count.get((wd, hour), 0)
            if not n:
                continue
            per_hour = n / max(1, weekdays_in_period[wd])
            dedicated: int | None = 0
            for (fwd, fhour, fid), fn in by_field.items():
                if (fwd, fhour) != (wd, hour):
                    continue
                need = counters_needed(fn / max(1, weekdays_in_period[wd]),
                                       field_service_min.get(fid, service_min), target_min, share)
                dedicated = None if need is None or dedicated is None else dedicated + need
            if opening.get(wd) == hour:
                days = list(traces[(wd, hour)].values())
                days += [[] for _ in range(max(0, weekdays_in_period[wd] - len(days)))]
                counters = simulated_counters(days, service_min, target_min, share)
                achieved = simulate_share(days, counters, service_min, target_min) if counters else None
                method = "simulation"
            else:
                counters = counters_needed(per_hour, service_min, target_min, share)
                achieved = share_within(counters, per_hour, service_min, target_min) if counters else None
                method = "erlang_c"
            rows.append({"hour": hour, "arrivals_per_hour": round(per_hour, 2), "counters": counters,
                         "counters_if_dedicated": dedicated,
                         "share_within": round(achieved, 4) if achieved is not None else None,
                         "method": method})
        weekdays.append({"weekday": wd, "name": WEEKDAY_NAMES[wd], "name_en": WEEKDAY_NAMES_EN[wd],
                         "hours": rows})
    return {"hours": hours, "weekdays": [w for w in weekdays if w["hours"]]}


def plan_from_tickets(tickets: Sequence[Any], rules: Any, first: date, last: date,
                      target_min: float = DEFAULT_TARGET_MIN,
                      share: float = DEFAULT_SHARE) -> dict[str, Any]:
    """`plan` from the tickets (core.models.Ticket) of `first`..`last`: arrivals are the tickets
    citizens held (a print never confirmed is no arrival), service times those of finished
    visits (finish − call); without any, the configured default service minutes."""
    tz = rules.timezone
    held = [t for t in tickets if not (t.print_pending and t.status.value == "cancelled")]
    arrivals = []
    for t in held:
        local = t.issued_at.astimezone(tz)
        arrivals.append((t.day, local.hour, local.minute + local.second / 60.0, t.origin_field))
    durations: dict[str, list[float]] = defaultdict(list)
    for t in held:
        if t.status.value == "done" and t.called_at and t.finished_at:
            minutes = (t.finished_at - t.called_at).total_seconds() / 60.0
            if minutes > 0:
                durations[t.field_id].append(minutes)
    every = [m for ms in durations.values() for m in ms]
    service = mean(every) if every else rules.default_service_minutes
    per_field = {f: mean(ms) for f, ms in durations.items()}
    for fid, field in rules.fields.items():
        per_field.setdefault(fid, field.default_service_minutes or service)
    result = plan(arrivals, service, per_field, first, last, target_min, share)
    return {
        "from": first.isoformat(), "to": last.isoformat(),
        "target_min": target_min, "share": share,
        "tickets": len(held),
        "service_min": round(service, 2),
        "service_cv": round(pstdev(every) / mean(every), 2) if len(every) > 1 else None,
        "service_from": "observed" if every else "default_service_minutes",
        "counters_configured": len(rules.counters),
        **result,
    }
