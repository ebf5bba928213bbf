"""Statistics for a date range, derived from tickets and the event log (SPEC §7).

Definitions (written out with examples in docs/statistics.md):

- A *visit* is a ticket that was really handed to a citizen. Waiting time = first call − issue;
  service time = finish − its call (the call that finished the visit; visits closed by a no-show
  or cancel have none). In the per-field, per-counter and per-staff views every call that ended
  in a service counts — finished, or transferred on (transfer − its call) — so a transferred
  visit is counted once per field it was served in, and once as a visit in the totals.
- The waiting time of a visit in a field it was transferred to runs from the transfer to its
  first call in that field; the totals use the visit's own waiting time (first call − issue).
- No-show and cancelled rates are shares of the visits; a no-show that was re-queued and then
  served counts as served (its final state), and its waiting time is still first call − issue.
- `within_target_pct`: share of the called visits whose waiting time was at most
  `target_wait_min` (config `[reports] target_wait_min`, default 15 minutes).
- Average, median (mean of the two middle values for an even count) and 90th percentile by the
  nearest-rank method (the ⌈0.9·n⌉-th smallest value: a figure a spreadsheet user can find by
  sorting), all in minutes, 2 places.

The rules that keep the published figures honest:

- A ratio with nothing to divide by is null (None), never 0: "0 % within target" would say every
  citizen waited too long when nobody was served at all.
- A visit still open when its day ended (`closed_reason = "day_end"`) is counted in its own bucket
  `closed_at_day_end`, never as cancelled, served, or in service time; its waiting time counts
  only if it was called (issue → first call was measured before the day ended).
- A kiosk ticket whose print was never confirmed (`print_pending`, then cancelled: the citizen
  holds no paper) is no visit: it is left out of `issued` and every other figure and counted in
  `print_failed` only, so a jammed printer does not swell the visits the reports publish.
- A duration the clock made negative (a Pi's clock stepping back when NTP corrects it) is not a
  measurement: it is excluded from averages and percentiles (not clamped to 0, which would pull
  them down), and counted in `clock_anomalies` so the exclusion is visible.

Reading: `compute` works inside one read transaction of its own connection, from per-day
pieces: each service day's counts per grouping and its durations sorted per group (with exact
sums, and clock anomalies apart), built once by the SQL of `compute_direct` grouped by day and
kept in memory while the day's version (storage migration "v9": `event_days`, its event count
and latest event id, kept by a trigger) is unchanged — a late rating of a closed day changes it,
today's changes at each event. A whole month of the range is its days' pieces combined, kept the
same way; a range's figures are its months' and days' pieces combined (counts added, sorted runs
merged, exact sums added). `compute_direct` is the straightforward computation: counts by SQL
`GROUP BY`s over the tickets of the range and over `visit_calls` (one row per call, kept by
triggers on the event log: migration "v8"); durations from four fetches, each sorted once and
split into every grouping. Both give the same answer (tests/stats/test_stats_fast.py). No
event's JSON is decoded at read time except the pauses'.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from array import array
from bisect import bisect_right
from collections import Counter as Tally
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .core.models import CLOSED_AT_DAY_END, CenterRules

TARGET_WAIT_MINUTES = 15.0
# Upper bounds (minutes) of the waiting-time distribution's bins; the last bin is open-ended.
WAIT_BINS = (5, 10, 15, 20, 30, 45, 60)
_SERVED_ENDS = ("finished", "transferred")


def pct(part: int, whole: int) -> float | None:
    """Percent with 2 places (round half to even on the float); None when `whole` is 0."""
    return round(100.0 * part / whole, 2) if whole else None


def _per(total: float, count: int) -> float | None:
    return round(total / count, 2) if count else None


def satisfaction(counts: Tally[int], levels: tuple[str, ...]) -> dict[str, Any]:
    """Total, then each level with count and percent (2 places, may not add to 100: the report
    tables use report_tables.shares for that) — the shape the reports print (SPEC §6)."""
    total = sum(counts[i] for i in range(1, len(levels) + 1))
    return {
        "total": total,
        "levels": [{"level": i, "label": label, "count": counts[i], "percent": pct(counts[i], total)}
                   for i, label in enumerate(levels, start=1)],
    }


def _local(ts: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc).astimezone(tz)


def _weekday_sql(day: str) -> str:
    return f"((CAST(strftime('%w', {day}) AS INTEGER) + 6) % 7)"  # 0 = Monday


class _Local:
    """SQL for a timestamp's local hour of day in the center's zone. A zone whose offset does not
    change over the range (Vietnam: always +07:00) is plain arithmetic on the epoch seconds;
    otherwise a SQL function (Python, per row) converts with zoneinfo."""

    def __init__(self, db: Any, tz: ZoneInfo, first: date, last: date) -> None:
        offsets = {tz.utcoffset(datetime(d.year, d.month, d.day, 12))
                   for d in (date.fromordinal(o) for o in range(first.toordinal() - 1, last.toordinal() + 2))}
        if len(offsets) == 1:
            seconds = int(next(iter(offsets)).total_seconds())  # type: ignore[union-attr]
            self.hour = lambda col: f"(CAST(({col} + {seconds}) / 3600 AS INTEGER) % 24)"
        else:
            db.create_function("qs_local_hour", 1, lambda ts: _local(ts, tz).hour, deterministic=True)
            self.hour = lambda col: f"qs_local_hour({col})"


class _Values:
    """The durations (minutes, ascending) of one group, and its clock anomalies."""

    __slots__ = ("values", "neg", "exact")

    def __init__(self) -> None:
        self.values: Any = []  # a list, or an array('d') in a day's pieces
        self.neg = 0
        # the exact sum of `values` in units of 2**-1074 (every double is a whole number of
        # them), when known: sums of days add up exactly, and divided back give math.fsum's value
        self.exact: int | None = None


def _distributions(db: Any, source: str, params: dict[str, Any], keys: int) -> list[dict[Any, _Values]]:
    """Per group, for each of the `keys` grouping columns of `source` (SQL yielding the value x
    in minutes, then the keys): the values sorted, and the negatives counted apart. One query,
    one sort in Python; each row is appended to its group in every grouping, so every group's
    list comes out sorted."""
    rows = db.execute(source, params).fetchall()
    rows.sort(key=_first)
    groupings: list[dict[Any, _Values]] = [defaultdict(_Values) for _ in range(keys)]
    start = 0
    while start < len(rows) and rows[start][0] < 0:
        for i, grouping in enumerate(groupings):
            grouping[rows[start][i + 1]].neg += 1
        start += 1
    valid = rows[start:]
    for i, grouping in enumerate(groupings):
        lists: dict[Any, list[float]] = defaultdict(list)
        for row in valid:
            lists[row[i + 1]].append(row[0])
        for g, values in lists.items():
            grouping[g].values = values
    return groupings


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


_EMPTY = _Values()
_ULPS = 1 << 1074  # 2**-1074: the smallest subnormal double, of which every double is a multiple


def _exact(x: float) -> int:
    """`x` (a double ≥ 0) in units of 2**-1074, exactly."""
    p, q = x.as_integer_ratio()  # q is a power of two
    return p << (1075 - q.bit_length())


def _summary_of(d: _Values) -> dict[str, float | None]:
    v = d.values
    n = len(v)
    if not n:
        return {"avg": None, "median": None, "p90": None}
    total = math.fsum(v) if d.exact is None else d.exact / _ULPS
    return {"avg": round(total / n, 2), "median": round((v[(n - 1) // 2] + v[n // 2]) / 2, 2),
            "p90": round(v[(9 * n + 9) // 10 - 1], 2)}


_COUNTS = ("issued", "served", "no_show", "cancelled", "closed_at_day_end", "print_failed", "waiting",
           "dossiers", "transferred")


def _desks_of(counter: int | None, staff: str | None) -> tuple[tuple[str, Any], ...]:
    """The desks a rating or a pause counts for: ("counter", number) when the counter is known,
    ("staff", username) when the staff member is (each also gets a row in the desk tables)."""
    return ((("counter", counter),) if counter is not None else ()) + ((("staff", staff),) if staff else ())


def _block(counts: dict[str, int], wait: _Values, service: _Values, target: float) -> dict[str, Any]:
    c = {k: int(counts.get(k) or 0) for k in _COUNTS}
    within = bisect_right(wait.values, target)
    return {
        **c,
        "no_show_pct": pct(c["no_show"], c["issued"]), "cancelled_pct": pct(c["cancelled"], c["issued"]),
        "wait_min": _summary_of(wait), "service_min": _summary_of(service),
        "within_target": within, "within_target_pct": pct(within, len(wait.values)),
        "clock_anomalies": wait.neg + service.neg,
    }


def compute_direct(db: Any, rules: CenterRules, first: date, last: date,
                   target_wait_min: float = TARGET_WAIT_MINUTES) -> dict[str, Any]:
    """The statistics of `first`..`last` (local service days, inclusive) as a JSON-able dict, read
    from the SQLite connection `db` inside the caller's read transaction (tables `tickets` and
    `visit_calls`, the pause events): counts by SQL GROUP BY, durations from one sorted fetch per
    source (see the module's docstring); Python rolls the day × hour × priority counts up.
    Shapes of the answer: docs/statistics.md and the OpenAPI document (`Statistics`)."""
    target = float(target_wait_min)
    cur = db.cursor()
    cur.row_factory = None
    span = {"first": first.isoformat(), "last": last.isoformat()}
    local = _Local(db, rules.timezone, first, last)
    levels = rules.rating_levels
    n_levels = len(levels)
    weekday = _weekday_sql("day")
    hour = local.hour("issued_at")
    tickets = ("(SELECT *, (print_pending = 1 AND status = 'cancelled') AS pf FROM tickets "
               "WHERE day BETWEEN :first AND :last)")
    ratings_sql = ", ".join(f"SUM(status = 'done' AND rating = {i})" for i in range(1, n_levels + 1))

    # --- visit-level counts per day × local hour × priority, rolled up in Python
    total: dict[str, Any] = Tally()
    by_day: dict[str, Tally[str]] = defaultdict(Tally)
    by_hour: dict[int, Tally[str]] = defaultdict(Tally)
    by_weekday: dict[int, Tally[str]] = defaultdict(Tally)
    by_priority: dict[bool, Tally[str]] = defaultdict(Tally)
    ratings: dict[Any, Tally[int]] = defaultdict(Tally)
    hour_days: dict[int, set[str]] = defaultdict(set)
    weekday_days: dict[int, set[str]] = defaultdict(set)
    weekday_of: dict[str, int] = {}
    rows = cur.execute(f"""
        SELECT day, {hour}, priority, SUM(NOT pf), SUM(pf), SUM(status = 'done'),
               SUM(status = 'no_show'), SUM(status = 'cancelled' AND NOT pf AND closed_reason IS NOT '{CLOSED_AT_DAY_END}'),
               SUM(status = 'cancelled' AND closed_reason IS '{CLOSED_AT_DAY_END}'),
               SUM(status IN ('waiting', 'called')),
               SUM(CASE WHEN status = 'done' THEN COALESCE(dossiers, 0) END), {ratings_sql}
        FROM {tickets} GROUP BY 1, 2, 3""", span).fetchall()
    names = ("issued", "print_failed", "served", "no_show", "cancelled", "closed_at_day_end", "waiting", "dossiers")
    for day, h, priority, *values in rows:
        counts = dict(zip(names, (v or 0 for v in values)))
        w = weekday_of.get(day)
        if w is None:
            w = weekday_of[day] = date.fromisoformat(day).weekday()
        for bucket in (total, by_day[day], by_hour[h], by_weekday[w]):
            bucket.update(counts)
        by_priority[bool(priority)].update({k: v for k, v in counts.items() if k != "print_failed"})
        for i, v in enumerate(values[len(names):], start=1):
            if v:
                for key in ("total", ("day", day), ("hour", h), ("weekday", w), ("priority", bool(priority))):
                    ratings[key][i] += v
        if counts["issued"]:
            hour_days[h].add(day)
            weekday_days[w].add(day)

    # --- visit-level waits (first call − issue) and services (finish − its call)
    wait_groups = _distributions(cur, f"""
        SELECT wait_seconds / 60.0, 0, day, {local.hour('issued_at')}, {weekday}, priority FROM visit_calls
        WHERE day BETWEEN :first AND :last AND first_call = 1 AND wait_seconds IS NOT NULL""", span, 5)
    service_groups = _distributions(cur, f"""
        SELECT (finished_at - called_at) / 60.0, 0, day, {hour}, {weekday}, priority FROM tickets
        WHERE day BETWEEN :first AND :last AND status = 'done' AND called_at IS NOT NULL
          AND finished_at IS NOT NULL""", span, 5)
    kinds = ("total", "day", "hour", "weekday", "priority")
    waits = dict(zip(kinds, wait_groups))
    services = dict(zip(kinds, service_groups))

    # --- per field, counter, staff: calls (a transferred visit counts in each field it was served in)
    desk_cols = ("field_id", "counter", "staff")
    desk_waits = dict(zip(desk_cols, _distributions(cur, """
        SELECT field_wait_seconds / 60.0, field_id, counter, staff FROM visit_calls
        WHERE day BETWEEN :first AND :last AND field_wait_seconds IS NOT NULL""", span, 3)))
    desk_services = dict(zip(desk_cols, _distributions(cur, """
        SELECT (ended_at - called_at) / 60.0, field_id, counter, staff FROM visit_calls
        WHERE day BETWEEN :first AND :last AND end_kind IN ('finished', 'transferred')""", span, 3)))
    desks: dict[str, dict[Any, Tally[str]]] = {}
    for col in desk_cols:
        desks[col] = defaultdict(Tally)
        for g, visits, served, no_show, moved, dossiers in cur.execute(f"""
                SELECT {col}, COUNT(DISTINCT ticket_id),
                       COUNT(DISTINCT CASE WHEN end_kind IN ('finished', 'transferred') THEN ticket_id END),
                       SUM(end_kind = 'no_show'), SUM(end_kind = 'transferred'),
                       SUM(CASE WHEN end_kind = 'finished' THEN COALESCE(dossiers, 0) END)
                FROM visit_calls WHERE day BETWEEN :first AND :last AND {col} IS NOT NULL GROUP BY 1""", span):
            desks[col][g].update({"issued": visits, "served": served, "no_show": no_show or 0,
                                  "transferred": moved or 0, "dossiers": dossiers or 0})
    fields = desks["field_id"]
    for c in fields.values():  # a field's visits are those issued there; its no-shows end there
        c["issued"] = c["no_show"] = 0
    for fid, issued, failed in cur.execute(
            f"SELECT origin_field, SUM(NOT pf), SUM(pf) FROM {tickets} GROUP BY 1", span):
        fields[fid].update({"issued": issued or 0, "print_failed": failed or 0})
    for fid, no_show, cancelled, day_end, waiting in cur.execute(f"""
            SELECT field_id, SUM(status = 'no_show'),
                   SUM(status = 'cancelled' AND closed_reason IS NOT '{CLOSED_AT_DAY_END}'),
                   SUM(status = 'cancelled' AND closed_reason IS '{CLOSED_AT_DAY_END}'),
                   SUM(status IN ('waiting', 'called'))
            FROM {tickets} WHERE NOT pf GROUP BY 1""", span):
        fields[fid].update({"no_show": no_show or 0, "cancelled": cancelled or 0,
                            "closed_at_day_end": day_end or 0, "waiting": waiting or 0})
    for counter, staff, rating, n in cur.execute(
            f"SELECT counter, staff, rating, COUNT(*) FROM {tickets} WHERE status = 'done' "
            "AND rating IS NOT NULL GROUP BY 1, 2, 3", span):
        for key in _desks_of(counter, staff):
            ratings[key][rating] += n
            desks[key[0]].setdefault(key[1], Tally())
    pauses: dict[tuple[str, Any], list[float]] = defaultdict(lambda: [0, 0.0])
    for counter, staff, paused, seconds in cur.execute("""
            SELECT counter, staff, SUM(kind = 'counter_paused'),
                   SUM(CASE WHEN kind = 'counter_resumed' AND ps >= 0 THEN ps END)
            FROM (SELECT counter, staff, kind, json_extract(data, '$.paused_seconds') AS ps FROM events
                  WHERE day BETWEEN :first AND :last AND kind IN ('counter_paused', 'counter_resumed'))
            GROUP BY 1, 2""", span):
        for key in _desks_of(counter, staff):
            pauses[key][0] += paused or 0
            pauses[key][1] += seconds or 0.0
            desks[key[0]].setdefault(key[1], Tally())
    staff_month = cur.execute(f"""
        SELECT staff, substr(day, 1, 7) AS month,
               COUNT(DISTINCT CASE WHEN end_kind IN ('finished', 'transferred') THEN ticket_id END),
               SUM(CASE WHEN end_kind = 'finished' THEN COALESCE(dossiers, 0) ELSE 0 END)
        FROM visit_calls WHERE day BETWEEN :first AND :last AND staff IS NOT NULL GROUP BY 1, 2
        HAVING COUNT(CASE WHEN end_kind IN ('finished', 'transferred') THEN 1 END) > 0
        ORDER BY 1, 2""", span).fetchall()
    bins = cur.execute(f"""
        SELECT CASE {' '.join(f'WHEN x <= {b} THEN {i}' for i, b in enumerate(WAIT_BINS))}
                    ELSE {len(WAIT_BINS)} END, COUNT(*)
        FROM (SELECT wait_seconds / 60.0 AS x FROM visit_calls
              WHERE day BETWEEN :first AND :last AND first_call = 1 AND wait_seconds >= 0) GROUP BY 1""", span).fetchall()
    wait_bins = [0] * (len(WAIT_BINS) + 1)
    for i, n in bins:
        wait_bins[i] = n

    return _assemble(rules, first, last, target, total=total, by_day=by_day, by_hour=by_hour,
                     by_weekday=by_weekday, by_priority=by_priority, ratings=ratings,
                     hour_days=hour_days, weekday_days=weekday_days, waits=waits, services=services,
                     desks=desks, desk_waits=desk_waits, desk_services=desk_services, pauses=pauses,
                     staff_month=staff_month, wait_bins=wait_bins)


def _assemble(rules: CenterRules, first: date, last: date, target: float, *, total: Tally[str],
              by_day: dict[str, Tally[str]], by_hour: dict[int, Tally[str]],
              by_weekday: dict[int, Tally[str]], by_priority: dict[bool, Tally[str]],
              ratings: dict[Any, Tally[int]], hour_days: dict[int, set[str]],
              weekday_days: dict[int, set[str]], waits: dict[str, dict[Any, _Values]],
              services: dict[str, dict[Any, _Values]], desks: dict[str, dict[Any, Tally[str]]],
              desk_waits: dict[str, dict[Any, _Values]], desk_services: dict[str, dict[Any, _Values]],
              pauses: dict[tuple[str, Any], list[float]], staff_month: list[tuple[Any, ...]],
              wait_bins: list[int]) -> dict[str, Any]:
    """The answer of `compute` from the gathered counts and sorted durations (shared by the
    direct path and the per-day one, so both give the same shape)."""
    levels = rules.rating_levels
    fields = desks["field_id"]

    def visit_block(kind: str, g: Any, counts: Tally[str]) -> dict[str, Any]:
        return _block(counts, waits[kind].get(g, _EMPTY), services[kind].get(g, _EMPTY), target)

    def desk_block(col: str, g: Any) -> dict[str, Any]:
        out = _block(desks[col][g], desk_waits[col].get(g, _EMPTY), desk_services[col].get(g, _EMPTY),
                     target)
        if col != "field_id":
            kind = "counter" if col == "counter" else "staff"
            out["pauses"] = int(pauses[(kind, g)][0])
            out["paused_min"] = round(pauses[(kind, g)][1] / 60.0, 2)
            out["satisfaction"] = satisfaction(ratings[(kind, g)], levels)
        return out

    totals = visit_block("total", 0, total)
    days_open = sum(1 for c in by_day.values() if c["issued"])
    field_ids = [*rules.fields, *sorted(f for f in fields if f not in rules.fields)]
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for day, c in by_day.items():
        m = months[day[:7]]
        m[0] += c["issued"]
        m[1] += c["served"]
        m[2] += c["dossiers"]
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "target_wait_min": target,
        "totals": totals,
        "days_with_visits": days_open,
        "visits_per_day": _per(totals["issued"], days_open),
        "served_per_day": _per(totals["served"], days_open),
        "dossiers_per_day": _per(totals["dossiers"], days_open),
        "by_service": [
            {"service": fid, "name": rules.fields[fid].name if fid in rules.fields else fid,
             **desk_block("field_id", fid)} for fid in field_ids],
        "by_counter": [{"counter": n, "name": rules.counters[n].name if n in rules.counters else str(n),
                        **desk_block("counter", n)} for n in sorted(desks["counter"])],
        "by_staff": [{"staff": st, **desk_block("staff", st)} for st in sorted(desks["staff"])],
        "by_hour": [{"hour": h, "days": len(hour_days[h]), "issued_per_day": _per(c["issued"], len(hour_days[h])),
                     **visit_block("hour", h, c)} for h, c in sorted(by_hour.items())],
        "by_weekday": [{"weekday": w, "days": len(weekday_days[w]),
                        "issued_per_day": _per(c["issued"], len(weekday_days[w])),
                        **visit_block("weekday", w, c)} for w, c in sorted(by_weekday.items())],
        "by_day": [{"day": d, **visit_block("day", d, c)} for d, c in sorted(by_day.items())],
        "by_priority": [{"priority": p, **visit_block("priority", int(p), by_priority[p])}
                        for p in (False, True) if p in by_priority],
        "by_month": [{"month": m, "issued": v[0], "served": v[1], "dossiers": v[2]}
                     for m, v in sorted(months.items())],
        "by_staff_month": [{"staff": st, "month": m, "served": n, "dossiers": d or 0}
                           for st, m, n, d in staff_month],
        "wait_histogram": [
            {"from_min": lo, "to_min": hi, "visits": n}
            for lo, hi, n in zip((0, *WAIT_BINS), (*WAIT_BINS, None), wait_bins)],
        "satisfaction": satisfaction(ratings["total"], levels),
    }



class _Day:
    """What a span of days — one service day, or a whole month — contributes to any range's
    statistics: its counts, and its durations (minutes) sorted per group of every grouping
    with the clock anomalies counted apart and the exact sums. A day's is built from the same
    SQL as `compute_direct`, grouped by day as well; a month's is its days' combined
    (`_combine`). Kept in memory while the versions of its days do not change (see `compute`)."""

    __slots__ = ("counts", "hours", "prio", "hour_days", "ratings", "waits", "services",
                 "desk_counts", "desk_waits", "desk_services", "field_issued", "field_ends",
                 "desk_ratings", "pauses", "staff", "bins", "whole")

    def __init__(self) -> None:
        self.whole = True  # False: a slim day piece (`_slim`)
        self.counts: Tally[str] = Tally()  # visit-level counts
        self.hours: dict[int, Tally[str]] = defaultdict(Tally)
        self.prio: dict[bool, Tally[str]] = defaultdict(Tally)
        self.hour_days: set[int] = set()  # (a day's) local hours with at least one visit
        self.ratings: Tally[int] = Tally()
        # kind ("total" — a day's only —, "hour", "priority", "weekday") → group → _Values
        self.waits: dict[str, dict[Any, _Values]] = {}
        self.services: dict[str, dict[Any, _Values]] = {}
        # column → group → [visits, served, no-shows, transferred, dossiers]
        self.desk_counts: dict[str, dict[Any, list[int]]] = {c: {} for c in _DESK_COLS}
        self.desk_waits: dict[str, dict[Any, _Values]] = {}
        self.desk_services: dict[str, dict[Any, _Values]] = {}
        self.field_issued: dict[Any, list[int]] = {}  # origin field → [issued, print failed]
        self.field_ends: dict[Any, list[int]] = {}  # field → [no-show, cancelled, day end, waiting]
        self.desk_ratings: Tally[tuple[Any, Any, Any]] = Tally()  # (counter, staff, level) → n
        self.pauses: dict[tuple[Any, Any], list[int]] = {}  # (counter, staff) → [pauses, exact seconds]
        self.staff: dict[tuple[Any, str], list[int]] = {}  # (staff, month) → [served, dossiers, calls]
        self.bins: list[int] = [0] * (len(WAIT_BINS) + 1)


_DESK_COLS = ("field_id", "counter", "staff")


def _split(rows: list[tuple[Any, ...]], keys: tuple[str, ...], days: dict[str, _Day], attr: str) -> None:
    """Rows (day, value, key…) → each day's `attr`: per grouping in `keys` (key i is column
    i + 2), per group, the sorted non-negative values and the count of negative ones."""
    rows.sort(key=_second)
    for day, x, *ks in rows:
        d = days.get(day)
        if d is None:
            continue
        groupings = getattr(d, attr)
        if not groupings:
            groupings.update((k, defaultdict(_day_values)) for k in keys)
        if x < 0:
            for k, g in zip(keys, ks):
                groupings[k][g].neg += 1
            continue
        units = _exact(x)
        for k, g in zip(keys, ks):
            v = groupings[k][g]
            v.values.append(x)
            v.exact += units


def _day_values() -> _Values:
    v = _Values()
    v.values = array("d")  # contiguous: merging a year's days copies memory, not objects
    v.exact = 0
    return v


def _second(row: tuple[Any, ...]) -> Any:
    return row[1]


def _build_days(cur: Any, rules: CenterRules, first: date, last: date, wanted: set[str]) -> dict[str, _Day]:
    """The `_Day`s of the days in `wanted` (all between `first` and `last`), read with the
    queries of `compute_direct` grouped by day."""
    span = {"first": first.isoformat(), "last": last.isoformat()}
    days = {d: _Day() for d in wanted}
    local = _Local(cur.connection, rules.timezone, first, last)
    hour = local.hour("issued_at")
    tickets = ("(SELECT *, (print_pending = 1 AND status = 'cancelled') AS pf FROM tickets "
               "WHERE day BETWEEN :first AND :last)")
    n_levels = len(rules.rating_levels)
    ratings_sql = ", ".join(f"SUM(status = 'done' AND rating = {i})" for i in range(1, n_levels + 1))
    names = ("issued", "print_failed", "served", "no_show", "cancelled", "closed_at_day_end", "waiting", "dossiers")
    for day, h, priority, *values in cur.execute(f"""
            SELECT day, {hour}, priority, SUM(NOT pf), SUM(pf), SUM(status = 'done'),
                   SUM(status = 'no_show'), SUM(status = 'cancelled' AND NOT pf AND closed_reason IS NOT '{CLOSED_AT_DAY_END}'),
                   SUM(status = 'cancelled' AND closed_reason IS '{CLOSED_AT_DAY_END}'),
                   SUM(status IN ('waiting', 'called')),
                   SUM(CASE WHEN status = 'done' THEN COALESCE(dossiers, 0) END), {ratings_sql}
            FROM {tickets} GROUP BY 1, 2, 3""", span):
        d = days.get(day)
        if d is None:
            continue
        counts = dict(zip(names, (v or 0 for v in values)))
        d.counts.update(counts)
        d.hours[h].update(counts)
        d.prio[bool(priority)].update({k: v for k, v in counts.items() if k != "print_failed"})
        for i, v in enumerate(values[len(names):], start=1):
            if v:
                d.ratings[i] += v
        if counts["issued"]:
            d.hour_days.add(h)
    kinds = ("total", "hour", "priority")
    _split(cur.execute(f"""
        SELECT day, wait_seconds / 60.0, 0, {hour}, priority FROM visit_calls
        WHERE day BETWEEN :first AND :last AND first_call = 1 AND wait_seconds IS NOT NULL""", span).fetchall(),
           kinds, days, "waits")
    _split(cur.execute(f"""
        SELECT day, (finished_at - called_at) / 60.0, 0, {hour}, priority FROM tickets
        WHERE day BETWEEN :first AND :last AND status = 'done' AND called_at IS NOT NULL
          AND finished_at IS NOT NULL""", span).fetchall(), kinds, days, "services")
    _split(cur.execute("""
        SELECT day, field_wait_seconds / 60.0, field_id, counter, staff FROM visit_calls
        WHERE day BETWEEN :first AND :last AND field_wait_seconds IS NOT NULL""", span).fetchall(),
           _DESK_COLS, days, "desk_waits")
    _split(cur.execute("""
        SELECT day, (ended_at - called_at) / 60.0, field_id, counter, staff FROM visit_calls
        WHERE day BETWEEN :first AND :last AND end_kind IN ('finished', 'transferred')""", span).fetchall(),
           _DESK_COLS, days, "desk_services")
    for col in _DESK_COLS:
        for day, g, *values in cur.execute(f"""
                SELECT day, {col}, COUNT(DISTINCT ticket_id),
                       COUNT(DISTINCT CASE WHEN end_kind IN ('finished', 'transferred') THEN ticket_id END),
                       SUM(end_kind = 'no_show'), SUM(end_kind = 'transferred'),
                       SUM(CASE WHEN end_kind = 'finished' THEN COALESCE(dossiers, 0) END)
                FROM visit_calls WHERE day BETWEEN :first AND :last AND {col} IS NOT NULL GROUP BY 1, 2""", span):
            if day in days:
                days[day].desk_counts[col][g] = [v or 0 for v in values]
    for day, fid, issued, failed in cur.execute(
            f"SELECT day, origin_field, SUM(NOT pf), SUM(pf) FROM {tickets} GROUP BY 1, 2", span):
        if day in days:
            days[day].field_issued[fid] = [issued or 0, failed or 0]
    for day, fid, *values in cur.execute(f"""
            SELECT day, field_id, SUM(status = 'no_show'),
                   SUM(status = 'cancelled' AND closed_reason IS NOT '{CLOSED_AT_DAY_END}'),
                   SUM(status = 'cancelled' AND closed_reason IS '{CLOSED_AT_DAY_END}'),
                   SUM(status IN ('waiting', 'called'))
            FROM {tickets} WHERE NOT pf GROUP BY 1, 2""", span):
        if day in days:
            days[day].field_ends[fid] = [v or 0 for v in values]
    for day, counter, staff, rating, n in cur.execute(
            f"SELECT day, counter, staff, rating, COUNT(*) FROM {tickets} WHERE status = 'done' "
            "AND rating IS NOT NULL GROUP BY 1, 2, 3, 4", span):
        if day in days:
            days[day].desk_ratings[(counter, staff, rating)] += n
    for day, counter, staff, kind, ps in cur.execute("""
            SELECT day, counter, staff, kind, json_extract(data, '$.paused_seconds') FROM events
            WHERE day BETWEEN :first AND :last AND kind IN ('counter_paused', 'counter_resumed')""", span):
        if day in days:
            acc = days[day].pauses.setdefault((counter, staff), [0, 0])
            if kind == "counter_paused":
                acc[0] += 1
            elif isinstance(ps, (int, float)) and ps >= 0:
                acc[1] += _exact(float(ps))
    for day, staff, served, dossiers, calls in cur.execute("""
            SELECT day, staff, COUNT(DISTINCT CASE WHEN end_kind IN ('finished', 'transferred') THEN ticket_id END),
                   SUM(CASE WHEN end_kind = 'finished' THEN COALESCE(dossiers, 0) ELSE 0 END),
                   COUNT(CASE WHEN end_kind IN ('finished', 'transferred') THEN 1 END)
            FROM visit_calls WHERE day BETWEEN :first AND :last AND staff IS NOT NULL GROUP BY 1, 2""", span):
        if day in days:
            days[day].staff[(staff, day[:7])] = [served, dossiers or 0, calls]
    for day, i, n in cur.execute(f"""
            SELECT day, CASE {' '.join(f'WHEN x <= {b} THEN {i}' for i, b in enumerate(WAIT_BINS))}
                        ELSE {len(WAIT_BINS)} END, COUNT(*)
            FROM (SELECT day, wait_seconds / 60.0 AS x FROM visit_calls
                  WHERE day BETWEEN :first AND :last AND first_call = 1 AND wait_seconds >= 0) GROUP BY 1, 2""", span):
        if day in days:
            days[day].bins[i] = n
    for day, d in days.items():  # a day's total is its weekday's group
        w = date.fromisoformat(day).weekday()
        for groupings in (d.waits, d.services):
            if groupings:
                groupings["weekday"] = {w: groupings["total"][0]}
    return days


# Per database file (path, device, inode) and the rules the pieces depend on (time zone, number
# of rating levels): day → (the day's version in `event_days`, its pieces).
_CACHE: dict[tuple[Any, ...], dict[str, tuple[tuple[int, int], _Day]]] = {}
_CACHE_LOCK = threading.Lock()


def forget_kept() -> None:
    """Drop every kept piece (of every database): the next query builds its days again. For the
    benchmark's first-query figure; the hub never needs it (versions keep pieces right)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _cache_for(db: Any, rules: CenterRules) -> dict[str, tuple[tuple[int, int], _Day]] | None:
    path = next((row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main"), "")
    if not path:
        return None  # an in-memory database: nothing to key a cache by
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (os.path.realpath(path), st.st_dev, st.st_ino, str(rules.timezone), len(rules.rating_levels))
    with _CACHE_LOCK:
        return _CACHE.setdefault(key, {})


def _merge(parts: list[_Values]) -> _Values:
    """One group's values from its parts (each sorted): concatenated and sorted once — timsort
    merges the sorted runs — with anomalies and exact sums added up."""
    if len(parts) == 1:
        return parts[0]  # read only from here on
    out = _Values()
    if all(isinstance(p.values, array) for p in parts):
        joined = array("d")
        for p in parts:
            joined.extend(p.values)
        out.values = sorted(joined)
    else:
        out.values = []
        for p in parts:
            out.values.extend(p.values)
        out.values.sort()
    exact = 0
    for p in parts:
        out.neg += p.neg
        if exact is not None:
            exact = None if p.exact is None else exact + p.exact
    out.exact = exact
    return out


def _merged(groups: dict[Any, list[_Values]]) -> dict[Any, _Values]:
    return {g: _merge(parts) for g, parts in groups.items()}


def _add(into: dict[Any, list[int]], parts: dict[Any, list[int]]) -> None:
    for key, values in parts.items():
        acc = into.get(key)
        if acc is None:
            into[key] = list(values)
        else:
            for i, v in enumerate(values):
                acc[i] += v


def _combine(pieces: list[_Day]) -> _Day:
    """The pieces of several spans (days or months, no day twice) as one: counts added, each
    group's durations merged (sorted once). A single piece is returned as is — nothing below
    changes a piece."""
    if len(pieces) == 1:
        return pieces[0]
    out = _Day()
    for p in pieces:
        out.counts.update(p.counts)
        for h, c in p.hours.items():
            out.hours[h].update(c)
        for pr, c in p.prio.items():
            out.prio[pr].update(c)
        out.ratings.update(p.ratings)
        for col in _DESK_COLS:
            _add(out.desk_counts[col], p.desk_counts[col])
        _add(out.field_issued, p.field_issued)
        _add(out.field_ends, p.field_ends)
        out.desk_ratings.update(p.desk_ratings)
        _add(out.pauses, p.pauses)
        _add(out.staff, p.staff)
        out.bins = [a + b for a, b in zip(out.bins, p.bins)]
    for attr, kinds in (("waits", ("hour", "priority", "weekday")), ("services", ("hour", "priority", "weekday")),
                        ("desk_waits", _DESK_COLS), ("desk_services", _DESK_COLS)):
        parts: dict[str, dict[Any, list[_Values]]] = {k: defaultdict(list) for k in kinds}
        for p in pieces:
            for k, groups in getattr(p, attr).items():
                if k in parts:
                    dest = parts[k]
                    for g, v in groups.items():
                        dest[g].append(v)
        if any(parts.values()):
            setattr(out, attr, {k: _merged(g) for k, g in parts.items()})
    return out


def _month_end(start: date) -> date:
    return date(start.year + start.month // 12, start.month % 12 + 1, 1) - timedelta(days=1)


def _slim(piece: _Day) -> _Day:
    """A day's piece with only what a range reads per day (its counts, hours with visits, its
    own waits and services) — kept for a day whose month is kept combined; the rest is built
    again from SQL if a range needs the day on its own."""
    out = _Day()
    out.whole = False
    out.counts, out.hour_days = piece.counts, piece.hour_days
    out.waits = {"total": piece.waits["total"]} if piece.waits else {}
    out.services = {"total": piece.services["total"]} if piece.services else {}
    return out


def _packed(piece: _Day) -> _Day:
    """A combined piece kept for later: its merged values as array('d') (8 bytes a value)."""
    for attr in ("waits", "services", "desk_waits", "desk_services"):
        for groups in getattr(piece, attr).values():
            for g, v in groups.items():
                if not isinstance(v.values, array):
                    packed = _Values()
                    packed.values, packed.neg, packed.exact = array("d", v.values), v.neg, v.exact
                    groups[g] = packed
    return piece


def compute(db: Any, rules: CenterRules, first: date, last: date,
            target_wait_min: float = TARGET_WAIT_MINUTES) -> dict[str, Any]:
    """The statistics of `first`..`last` (local service days, inclusive) as a JSON-able dict — the
    same answer as `compute_direct` (tests/stats/test_stats_fast.py checks it), read from the
    SQLite connection `db` inside the caller's read transaction.

    Per-day pieces: every figure of a range is a sum over its days (a visit and all its calls
    belong to its service day) except the medians and percentiles, which are read from the
    days' sorted durations merged, and the averages, from exact sums. A day's pieces are built
    once and kept in memory for as long as the day's version in `event_days` (its event count
    and latest event id, kept by a trigger: storage migration "v9") stays the same — every
    change to a ticket is logged as an event of the ticket's day, so a late rating of a closed
    day rebuilds that day, and today is rebuilt at each query that finds new events. A whole
    month of the range is read from its days' pieces combined, kept while none of its days
    changes. Days with no event have no ticket. A database without `event_days` is computed
    directly; one in memory has nothing kept."""
    target = float(target_wait_min)
    cur = db.cursor()
    cur.row_factory = None
    try:
        versions = {day: (n, last_id) for day, n, last_id in cur.execute(
            "SELECT day, events, last_event FROM event_days WHERE day BETWEEN ? AND ?",
            (first.isoformat(), last.isoformat()))}
    except sqlite3.OperationalError:  # no table event_days (a schema before v9)
        return compute_direct(db, rules, first, last, target_wait_min)
    cache = _cache_for(db, rules)
    if cache is None:
        cache = {}
    # the range's whole months are read from their combined pieces, the other days from their own
    months: dict[str, list[str]] = defaultdict(list)
    for day in sorted(versions):
        months[day[:7]].append(day)
    whole_months: dict[str, tuple[Any, ...]] = {}  # month → its version (its days' versions)
    for month, month_days in months.items():
        start = date.fromisoformat(month + "-01")
        if len(month_days) > 1 and first <= start and _month_end(start) <= last:
            whole_months[month] = tuple((day, versions[day]) for day in month_days)
    newest = cur.execute("SELECT MAX(day) FROM event_days").fetchone()[0] or ""
    have: dict[str, _Day] = {}
    for day, version in versions.items():
        entry = cache.get(day)
        if entry is None or entry[0] != version:
            continue
        month_entry = cache.get(day[:7]) if day[:7] in whole_months else None
        month_kept = month_entry is not None and month_entry[0] == whole_months[day[:7]]
        if entry[1].whole or month_kept:  # a slim piece serves only inside its kept month
            have[day] = entry[1]
    # build the missing days in runs (no kept day with events between), one set of queries per run
    run: list[str] = []
    for day in [*sorted(versions), None]:
        if day is not None and day not in have:
            run.append(day)
            continue
        if run:
            built = _build_days(cur, rules, date.fromisoformat(run[0]), date.fromisoformat(run[-1]), set(run))
            for d, piece in built.items():
                have[d] = piece
                cache[d] = (versions[d], piece)
            run = []

    pieces: list[_Day] = []
    for month, month_days in months.items():
        version = whole_months.get(month)
        if version is None:
            pieces.extend(have[day] for day in month_days)
            continue
        entry = cache.get(month)
        if entry is None or entry[0] != version:
            entry = (version, _packed(_combine([have[day] for day in month_days])))
            cache[month] = entry
            if _month_end(date.fromisoformat(month + "-01")).isoformat() < newest:
                # a closed month: its days keep only what a range reads per day (memory)
                for day in month_days:
                    cache[day] = (versions[day], _slim(have[day]))
        pieces.append(entry[1])
    days = sorted(have)
    whole = _combine(pieces) if pieces else _Day()

    by_day: dict[str, Tally[str]] = {}
    by_weekday: dict[int, Tally[str]] = defaultdict(Tally)
    hour_days: dict[int, set[str]] = defaultdict(set)
    weekday_days: dict[int, set[str]] = defaultdict(set)
    day_waits: dict[str, _Values] = {}
    day_services: dict[str, _Values] = {}
    for day in days:
        d = have[day]
        if d.counts:
            w = date.fromisoformat(day).weekday()
            by_day[day] = d.counts
            by_weekday[w].update(d.counts)
            for h in d.hour_days:
                hour_days[h].add(day)
            if d.hour_days:
                weekday_days[w].add(day)
        if d.waits:
            day_waits[day] = d.waits["total"][0]
        if d.services:
            day_services[day] = d.services["total"][0]
    waits: dict[str, dict[Any, _Values]] = {"day": day_waits}
    services: dict[str, dict[Any, _Values]] = {"day": day_services}
    for src, groupings in ((waits, whole.waits), (services, whole.services)):
        for k in ("hour", "priority", "weekday"):
            src[k] = groupings.get(k, {})
        # the total: the two priority groups merged (two runs)
        src["total"] = {0: _merge(list(src["priority"].values()))} if src["priority"] else {}
    desk_waits = {k: whole.desk_waits.get(k, {}) for k in _DESK_COLS}
    desk_services = {k: whole.desk_services.get(k, {}) for k in _DESK_COLS}
    desks: dict[str, dict[Any, Tally[str]]] = {}
    for col in _DESK_COLS:
        desks[col] = defaultdict(Tally)
        for g, (visits, served, no_show, moved, dossiers) in whole.desk_counts[col].items():
            desks[col][g].update({"issued": visits, "served": served, "no_show": no_show,
                                  "transferred": moved, "dossiers": dossiers})
    fields = desks["field_id"]
    for c in fields.values():
        c["issued"] = c["no_show"] = 0
    for fid, (issued, failed) in whole.field_issued.items():
        fields[fid].update({"issued": issued, "print_failed": failed})
    for fid, (no_show, cancelled, day_end, waiting) in whole.field_ends.items():
        fields[fid].update({"no_show": no_show, "cancelled": cancelled, "closed_at_day_end": day_end,
                            "waiting": waiting})
    ratings: dict[Any, Tally[int]] = defaultdict(Tally)
    ratings["total"] = Tally(whole.ratings)
    for (counter, staff, rating), n in whole.desk_ratings.items():
        for key in _desks_of(counter, staff):
            ratings[key][rating] += n
            desks[key[0]].setdefault(key[1], Tally())
    pause_units: dict[tuple[str, Any], list[int]] = defaultdict(lambda: [0, 0])
    for (counter, staff), (paused, units) in whole.pauses.items():
        for key in _desks_of(counter, staff):
            pause_units[key][0] += paused
            pause_units[key][1] += units
            desks[key[0]].setdefault(key[1], Tally())
    pauses: dict[tuple[str, Any], list[float]] = defaultdict(lambda: [0, 0.0])
    for key, (paused, units) in pause_units.items():
        pauses[key] = [paused, units / _ULPS]
    staff_month = [(staff, month, served, dossiers)
                   for (staff, month), (served, dossiers, calls) in sorted(whole.staff.items()) if calls > 0]
    return _assemble(rules, first, last, target, total=whole.counts, by_day=by_day, by_hour=whole.hours,
                     by_weekday=by_weekday, by_priority=whole.prio, ratings=ratings,
                     hour_days=hour_days, weekday_days=weekday_days, waits=waits, services=services,
                     desks=desks, desk_waits=desk_waits, desk_services=desk_services, pauses=pauses,
                     staff_month=staff_month, wait_bins=list(whole.bins))


def from_store(store: Any, rules: CenterRules, first: date, last: date,
               target_wait_min: float = TARGET_WAIT_MINUTES) -> dict[str, Any]:
    """`compute` over `first`..`last` (local service days, inclusive), read in one consistent
    snapshot of `store` (a `storage.SqliteStore`) through a read-only connection of its own:
    a year's figures take a while, and the hub's connection (whose lock every kiosk and counter
    request takes) is never held meanwhile — WAL lets this reader and the hub's writes run
    side by side."""
    db = sqlite3.connect(f"{Path(store.path).resolve().as_uri()}?mode=ro", uri=True,
                         isolation_level=None, check_same_thread=True)
    try:
        db.execute("BEGIN")  # one snapshot for every query below
        return compute(db, rules, first, last, target_wait_min)
    finally:
        db.close()
