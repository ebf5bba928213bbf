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

import heapq
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

DEFAULT_WEEKS = 4
DEFAULT_TARGET_MIN = 15.0
DEFAULT_SHARE = 0.8
MAX_COUNTERS = 200
SIMULATION_RUNS = 40
SIMULATED_ARRIVALS = 3_000
SIMULATED_DAYS = 16  # the opening hour is replayed from at most this many recent days  # citizens replayed per estimate: runs = this / observed arrivals
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
                   target_min: float, runs: int | None = None, seed: int = 11) -> float:
    """Share (0..1) of arrivals that wait at most `target_min`, replaying each day's arrival
    times (`days`: minutes from the start of the period, one list per day) through `servers`
    first-come-first-served counters that start idle, with exponential service times of mean
    `service_min`, averaged over `runs` seeded runs (default: enough for about
    `SIMULATED_ARRIVALS` simulated citizens, at least 3; the same seed gives the same answer)."""
    ordered = [sorted(arrivals) for arrivals in days]
    count = sum(len(a) for a in ordered)
    if not count:
        return 1.0
    if runs is None:
        runs = max(3, min(SIMULATION_RUNS, -(-SIMULATED_ARRIVALS // count)))
    rng = random.Random(seed)
    rate = 1.0 / service_min
    within = 0
    for _ in range(runs):
        for arrivals in ordered:
            free = [0.0] * servers  # a heap of the times the counters are next free (minutes)
            for at in arrivals:
                start = max(at, heapq.heappop(free))
                within += (start - at) <= target_min
                heapq.heappush(free, start + rng.expovariate(rate))
    return within / (count * runs)


def simulated_counters(days: Sequence[Sequence[float]], service_min: float, target_min: float,
                       share: float, limit: int = MAX_COUNTERS) -> int | None:
    """The fewest counters for which `simulate_share` ≥ `share`; None if `limit` is not enough.
    A binary search (more counters never make a seeded replay wait longer)."""
    return _simulated(days, service_min, target_min, share, limit)[0]


def _simulated(days: Sequence[Sequence[float]], service_min: float, target_min: float,
               share: float, limit: int = MAX_COUNTERS) -> tuple[int | None, float | None]:
    """(`simulated_counters`, the share it reaches)."""
    if not any(days):
        return 0, 1.0
    busiest = max(len(a) for a in days)  # with as many counters as citizens nobody waits
    if busiest > limit and simulate_share(days, limit, service_min, target_min) < share:
        return None, None
    lo, hi = 1, min(limit, busiest)  # the answer is in [lo, hi]
    reached = {hi: 1.0}
    while lo < hi:
        mid = (lo + hi) // 2
        reached[mid] = simulate_share(days, mid, service_min, target_min)
        if reached[mid] >= share:
            hi = mid
        else:
            lo = mid + 1
    return lo, reached.get(lo, simulate_share(days, lo, service_min, target_min))


def _weekdays(first: date, last: date, weekday: int) -> list[date]:
    out, day = [], first
    while day <= last:
        if day.weekday() == weekday:
            out.append(day)
        day += timedelta(days=1)
    return out


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
                # the most recent SIMULATED_DAYS of this weekday (the days without anyone included)
                observed = traces[(wd, hour)]
                days = [observed.get(d, []) for d in sorted(_weekdays(first, last, wd))][-SIMULATED_DAYS:]
                counters, achieved = _simulated(days, service_min, target_min, share)
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


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _cv(values: Sequence[float]) -> float:
    """Coefficient of variation: population standard deviation / mean."""
    m = _mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / len(values)) / m


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
    service = _mean(every) if every else rules.default_service_minutes
    per_field = {f: _mean(ms) for f, ms in durations.items()}
    for fid, field in rules.fields.items():
        per_field.setdefault(fid, field.default_service_minutes or service)
    result = plan(arrivals, service, per_field, first, last, target_min, share)
    return {
        "from": first.isoformat(), "to": last.isoformat(),
        "target_min": target_min, "share": share,
        "tickets": len(held),
        "service_min": round(service, 2),
        "service_cv": round(_cv(every), 2) if len(every) > 1 else None,
        "service_from": "observed" if every else "default_service_minutes",
        "counters_configured": len(rules.counters),
        **result,
    }
