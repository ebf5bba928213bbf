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

Reading: `from_store` takes three SQL reads in one snapshot — the tickets of the range, their
calls (table `visit_calls`, kept by triggers on the event log: storage migration "v8") and the
counters' pauses — and one pass in Python over each. No event's JSON is decoded at read time.
"""

from __future__ import annotations

import math
from collections import Counter as Tally
from collections import defaultdict
from datetime import date, datetime, timezone
from statistics import median
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from .core.models import CLOSED_AT_DAY_END, CenterRules

TARGET_WAIT_MINUTES = 15.0
# Upper bounds (minutes) of the waiting-time distribution's bins; the last bin is open-ended.
WAIT_BINS = (5, 10, 15, 20, 30, 45, 60)
_SERVED_ENDS = ("finished", "transferred")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of `values` (non-empty): the ⌈q·n⌉-th smallest, q in (0, 1]."""
    ordered = sorted(values)
    rank = max(1, math.ceil(round(q * len(ordered), 9)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(minutes: list[float]) -> dict[str, float | None]:
    """{"avg", "median", "p90"} of durations in minutes, 2 places; all None for no values."""
    if not minutes:
        return {"avg": None, "median": None, "p90": None}
    return {"avg": round(math.fsum(minutes) / len(minutes), 2), "median": round(median(minutes), 2),
            "p90": round(percentile(minutes, 0.9), 2)}


def pct(part: int, whole: int) -> float | None:
    """Percent with 2 places (round half to even on the float); None when `whole` is 0."""
    return round(100.0 * part / whole, 2) if whole else None


def _per(total: float, count: int) -> float | None:
    return round(total / count, 2) if count else None


class Bucket:
    """What one row of a statistics table accumulates: counts, durations (minutes), ratings."""

    __slots__ = ("issued", "served", "no_show", "cancelled", "day_end", "print_failed", "waiting",
                 "dossiers", "transferred", "waits", "services", "anomalies", "ratings", "visits",
                 "pauses", "paused_s")

    def __init__(self) -> None:
        self.issued = self.served = self.no_show = self.cancelled = self.day_end = 0
        self.print_failed = self.waiting = self.dossiers = self.transferred = self.anomalies = 0
        self.pauses = 0
        self.paused_s = 0.0
        self.waits: list[float] = []
        self.services: list[float] = []
        self.ratings: Tally[int] = Tally()
        self.visits: set[str] = set()

    def wait(self, seconds: float | None) -> None:
        if seconds is None:
            return
        if seconds < 0:
            self.anomalies += 1
        else:
            self.waits.append(seconds / 60.0)

    def service(self, seconds: float) -> None:
        if seconds < 0:
            self.anomalies += 1
        else:
            self.services.append(seconds / 60.0)

    def block(self, target: float) -> dict[str, Any]:
        within = sum(1 for w in self.waits if w <= target)
        return {
            "issued": self.issued, "served": self.served, "no_show": self.no_show,
            "cancelled": self.cancelled, "closed_at_day_end": self.day_end,
            "print_failed": self.print_failed, "waiting": self.waiting, "dossiers": self.dossiers,
            "transferred": self.transferred,
            "no_show_pct": pct(self.no_show, self.issued), "cancelled_pct": pct(self.cancelled, self.issued),
            "wait_min": summary(self.waits), "service_min": summary(self.services),
            "within_target": within, "within_target_pct": pct(within, len(self.waits)),
            "clock_anomalies": self.anomalies,
        }


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


def compute(visits: Iterable[tuple], calls: Iterable[tuple], pauses: Iterable[tuple],
            rules: CenterRules, first: date, last: date,
            target_wait_min: float = TARGET_WAIT_MINUTES) -> dict[str, Any]:
    """The statistics of `first`..`last` (local service days, inclusive) as a JSON-able dict.

    `visits`: one tuple per ticket of the range — (id, day "YYYY-MM-DD", issued_at epoch s,
    origin_field, field_id, priority 0/1, status, closed_reason, counter, staff, dossiers, rating,
    print_pending 0/1, called_at, finished_at), as `read_rows` returns them. `calls`: one tuple per call in event order —
    (ticket_id, field_id, counter, staff, called_at, wait_seconds, ended_at, end_kind).
    `pauses`: (kind "counter_paused"|"counter_resumed", counter, staff, paused_seconds).
    Shapes of the answer: docs/statistics.md and the OpenAPI document (`Statistics`)."""
    tz = rules.timezone
    target = float(target_wait_min)
    total = Bucket()
    by_field: dict[str, Bucket] = defaultdict(Bucket)
    by_counter: dict[int, Bucket] = defaultdict(Bucket)
    by_staff: dict[str, Bucket] = defaultdict(Bucket)
    by_hour: dict[int, Bucket] = defaultdict(Bucket)
    by_weekday: dict[int, Bucket] = defaultdict(Bucket)
    by_day: dict[str, Bucket] = defaultdict(Bucket)
    by_priority: dict[bool, Bucket] = defaultdict(Bucket)
    hour_days: dict[int, set[str]] = defaultdict(set)
    weekday_days: dict[int, set[str]] = defaultdict(set)
    staff_month: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])  # visits, dossiers
    month_totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # visits, served, dossiers
    wait_bins = [0] * (len(WAIT_BINS) + 1)

    # One entry per real visit: (issued_at, dossiers, the buckets its visit-level figures go to).
    live: dict[str, tuple[float, int, tuple[Bucket, ...], str]] = {}
    hour_cache: dict[int, tuple[int, int]] = {}
    for (tid, day, issued_at, origin, field_id, priority, status, closed, counter, staff,
         dossiers, rating, print_pending, called_at, finished_at) in visits:
        hour_key = int(issued_at // 3600)
        local = hour_cache.get(hour_key)
        if local is None:
            moment = _local(issued_at, tz)
            local = hour_cache[hour_key] = (moment.hour, moment.weekday())
        hour, weekday = local
        if print_pending and status == "cancelled":
            for b in (total, by_field[origin], by_hour[hour], by_weekday[weekday], by_day[day]):
                b.print_failed += 1
            continue
        groups = (total, by_hour[hour], by_weekday[weekday], by_day[day], by_priority[bool(priority)])
        hour_days[hour].add(day)
        weekday_days[weekday].add(day)
        month = month_totals[day[:7]]
        month[0] += 1
        for b in groups:
            b.issued += 1
        by_field[origin].issued += 1
        final = by_field[field_id]
        if status == "done":
            month[1] += 1
            month[2] += dossiers or 0
            for b in groups:
                b.served += 1
                b.dossiers += dossiers or 0
                if called_at is not None and finished_at is not None:
                    b.service(finished_at - called_at)  # finish − its call (the last call)
            if rating is not None:
                for b in groups:
                    b.ratings[rating] += 1
                if counter is not None:
                    by_counter[counter].ratings[rating] += 1
                if staff:
                    by_staff[staff].ratings[rating] += 1
        elif status == "no_show":
            for b in (*groups, final):
                b.no_show += 1
        elif status == "cancelled":
            if closed == CLOSED_AT_DAY_END:
                for b in (*groups, final):
                    b.day_end += 1
            else:
                for b in (*groups, final):
                    b.cancelled += 1
        else:  # waiting or called: still open (today)
            for b in (*groups, final):
                b.waiting += 1
        live[tid] = (issued_at, dossiers or 0, groups, origin)

    # The calls, in event order: waits per visit and per field, services per field/counter/staff.
    first_wait_done: set[str] = set()
    field_seen: set[tuple[str, str]] = set()  # (visit, field) whose wait is counted
    served_in: set[tuple[str, str]] = set()
    served_at: set[tuple[str, int | None]] = set()
    served_by: set[tuple[str, str | None]] = set()
    entered: dict[str, float] = {}  # visit → when it entered its current field (transfer time)
    for tid, field_id, counter, staff, called_at, wait_s, ended_at, end_kind in calls:
        entry = live.get(tid)
        if entry is None:
            continue
        issued_at, dossiers, groups, origin = entry
        f_b = by_field[field_id]
        c_b = by_counter[counter] if counter is not None else None
        s_b = by_staff[staff] if staff else None
        at_call = [b for b in (c_b, s_b) if b is not None]
        if tid not in first_wait_done:
            first_wait_done.add(tid)
            w = wait_s if wait_s is not None else called_at - issued_at
            for b in groups:
                b.wait(w)
            if w >= 0:
                m = w / 60.0
                i = 0
                while i < len(WAIT_BINS) and m > WAIT_BINS[i]:
                    i += 1
                wait_bins[i] += 1
        if (tid, field_id) not in field_seen:
            field_seen.add((tid, field_id))
            since = entered.get(tid, issued_at)
            w = wait_s if since == issued_at and wait_s is not None else called_at - since
            f_b.wait(w)
            for b in at_call:
                b.wait(w)
        for b in at_call:
            b.visits.add(tid)
        if end_kind in _SERVED_ENDS and ended_at is not None:
            span = ended_at - called_at
            f_b.service(span)
            for b in at_call:
                b.service(span)
            if (tid, field_id) not in served_in:
                served_in.add((tid, field_id))
                f_b.served += 1
            if c_b is not None and (tid, counter) not in served_at:
                served_at.add((tid, counter))
                c_b.served += 1
            if s_b is not None and (tid, staff) not in served_by:
                served_by.add((tid, staff))
                s_b.served += 1
                staff_month[(staff, _local(called_at, tz).strftime("%Y-%m"))][0] += 1
            if end_kind == "finished":
                for b in (f_b, *at_call):
                    b.dossiers += dossiers
                if s_b is not None:
                    month = _local(called_at, tz).strftime("%Y-%m")
                    staff_month[(staff, month)][1] += dossiers
            else:
                f_b.transferred += 1
                for b in at_call:
                    b.transferred += 1
                entered[tid] = ended_at
        elif end_kind == "no_show":
            for b in at_call:
                b.no_show += 1
    for kind, counter, staff, paused_s in pauses:
        for b in ([by_counter[counter]] if counter is not None else []) + ([by_staff[staff]] if staff else []):
            if kind == "counter_paused":
                b.pauses += 1
            elif paused_s is not None and paused_s >= 0:
                b.paused_s += paused_s

    levels = rules.rating_levels

    def at_desk(b: Bucket) -> dict[str, Any]:
        out = b.block(target)
        out["issued"] = len(b.visits)  # visits called here
        out["pauses"] = b.pauses
        out["paused_min"] = round(b.paused_s / 60.0, 2)
        out["satisfaction"] = satisfaction(b.ratings, levels)
        return out

    days_open = len(by_day) - sum(1 for b in by_day.values() if b.issued == 0)
    totals = total.block(target)
    field_ids = [*rules.fields, *sorted(f for f in by_field if f not in rules.fields)]
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
             **by_field[fid].block(target)}
            for fid in field_ids],
        "by_counter": [{"counter": n, "name": rules.counters[n].name if n in rules.counters else str(n),
                        **at_desk(b)} for n, b in sorted(by_counter.items())],
        "by_staff": [{"staff": s, **at_desk(b)} for s, b in sorted(by_staff.items())],
        "by_hour": [{"hour": h, "days": len(hour_days[h]),
                     "issued_per_day": _per(b.issued, len(hour_days[h])), **b.block(target)}
                    for h, b in sorted(by_hour.items())],
        "by_weekday": [{"weekday": d, "days": len(weekday_days[d]),
                        "issued_per_day": _per(b.issued, len(weekday_days[d])), **b.block(target)}
                       for d, b in sorted(by_weekday.items())],
        "by_day": [{"day": d, **b.block(target)} for d, b in sorted(by_day.items())],
        "by_priority": [{"priority": p, **by_priority[p].block(target)} for p in (False, True)
                        if p in by_priority],
        "by_month": [{"month": m, "issued": v[0], "served": v[1], "dossiers": v[2]}
                     for m, v in sorted(month_totals.items())],
        "by_staff_month": [{"staff": s, "month": m, "served": v[0], "dossiers": v[1]}
                           for (s, m), v in sorted(staff_month.items())],
        "wait_histogram": [
            {"from_min": lo, "to_min": hi, "visits": n}
            for lo, hi, n in zip((0, *WAIT_BINS), (*WAIT_BINS, None), wait_bins)],
        "satisfaction": satisfaction(total.ratings, levels),
    }


VISIT_COLUMNS = ("id, day, issued_at, origin_field, field_id, priority, status, closed_reason, "
                 "counter, staff, dossiers, rating, print_pending, called_at, finished_at")


def read_rows(db: Any, first: date, last: date) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """(visits, calls, pauses) of `first`..`last` from an open SQLite connection `db` (one read
    transaction: the caller's `store.reading()`), shaped for `compute`."""
    span = (first.isoformat(), last.isoformat())
    db = db.cursor()
    db.row_factory = None  # plain tuples: the fastest rows sqlite3 makes
    visits = db.execute(
        f"SELECT {VISIT_COLUMNS} FROM tickets WHERE day BETWEEN ? AND ? ORDER BY issue_order",
        span).fetchall()
    calls = db.execute(
        "SELECT ticket_id, field_id, counter, staff, called_at, wait_seconds, ended_at, end_kind "
        "FROM visit_calls WHERE day BETWEEN ? AND ? ORDER BY call_event", span).fetchall()
    pauses = db.execute(
        "SELECT kind, counter, staff, json_extract(data, '$.paused_seconds') FROM events "
        "WHERE day BETWEEN ? AND ? AND kind IN ('counter_paused', 'counter_resumed') ORDER BY id",
        span).fetchall()
    return visits, calls, pauses


def from_store(store: Any, rules: CenterRules, first: date, last: date,
               target_wait_min: float = TARGET_WAIT_MINUTES) -> dict[str, Any]:
    """`compute` over the rows of `first`..`last` (local service days, inclusive), read in one
    consistent snapshot of `store` (a `storage.SqliteStore`)."""
    with store.reading() as tx:
        rows = read_rows(tx.db, first, last)
    return compute(*rows, rules, first, last, target_wait_min)
