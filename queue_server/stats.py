"""Statistics for a date range, derived from tickets and the event log (SPEC §7).

`compute` is a pure function over `Ticket`s; `from_store` reads the rows it needs.
Waiting time = first call − issue; service time = finish − last call (visits closed by a
no-show or cancel have no service time). Percent figures use the reports' own rounding (2 places).

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
"""

from __future__ import annotations

from collections import Counter as Tally
from collections import defaultdict
from datetime import date
from statistics import mean, median
from typing import Any
from zoneinfo import ZoneInfo

from .core.models import CLOSED_AT_DAY_END, CenterRules, Ticket, TicketStatus

TARGET_WAIT_MINUTES = 15.0


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (what a spreadsheet user can check by hand)."""
    ordered = sorted(values)
    rank = max(1, -(-int(q * len(ordered) * 1000) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def _summary(minutes: list[float]) -> dict[str, float | None]:
    if not minutes:
        return {"avg": None, "median": None, "p90": None}
    return {"avg": round(mean(minutes), 2), "median": round(median(minutes), 2),
            "p90": round(_percentile(minutes, 0.9), 2)}


def _pct(part: int, whole: int) -> float | None:
    """Percent with 2 places; None when there is nothing to divide by."""
    return round(100.0 * part / whole, 2) if whole else None


def _per(total: float, count: int) -> float | None:
    return round(total / count, 2) if count else None


def _never_printed(t: Ticket) -> bool:
    return t.print_pending and t.status is TicketStatus.CANCELLED


def _block(all_tickets: list[Ticket], first_calls: dict[str, float]) -> dict[str, Any]:
    tickets = [t for t in all_tickets if not _never_printed(t)]
    measured = [first_calls[t.id] for t in tickets if t.id in first_calls]
    waits = [w for w in measured if w >= 0]
    durations = [
        (t.finished_at - t.called_at).total_seconds() / 60.0
        for t in tickets
        if t.status is TicketStatus.DONE and t.called_at and t.finished_at
    ]
    services = [d for d in durations if d >= 0]
    status = Tally(t.status for t in tickets)
    day_end = sum(1 for t in tickets if t.closed_reason == CLOSED_AT_DAY_END)
    within = sum(1 for w in waits if w <= TARGET_WAIT_MINUTES)
    return {
        "issued": len(tickets),
        "served": status[TicketStatus.DONE],
        "no_show": status[TicketStatus.NO_SHOW],
        "cancelled": status[TicketStatus.CANCELLED] - day_end,
        "closed_at_day_end": day_end,
        "print_failed": len(all_tickets) - len(tickets),
        "waiting": status[TicketStatus.WAITING] + status[TicketStatus.CALLED],
        "dossiers": sum(t.dossiers or 0 for t in tickets),
        "wait_min": _summary(waits),
        "service_min": _summary(services),
        "within_target_pct": _pct(within, len(waits)),
        "clock_anomalies": (len(measured) - len(waits)) + (len(durations) - len(services)),
    }


def satisfaction_table(tickets: list[Ticket], levels: tuple[str, ...]) -> dict[str, Any]:
    """Total, then each level with count and percent — exactly as the reports print it."""
    rated = [t.rating for t in tickets if t.rating is not None]
    counts = Tally(rated)
    return {
        "total": len(rated),
        "levels": [
            {"level": i, "label": label, "count": counts[i], "percent": _pct(counts[i], len(rated))}
            for i, label in enumerate(levels, start=1)
        ],
    }


def compute(
    tickets: list[Ticket],
    first_call_minutes: dict[str, float],
    rules: CenterRules,
    first: date,
    last: date,
) -> dict[str, Any]:
    tz: ZoneInfo = rules.timezone
    by_field: dict[str, list[Ticket]] = defaultdict(list)
    by_counter: dict[int, list[Ticket]] = defaultdict(list)
    by_staff: dict[str, list[Ticket]] = defaultdict(list)
    by_hour: dict[int, list[Ticket]] = defaultdict(list)
    by_day: dict[str, list[Ticket]] = defaultdict(list)
    for t in tickets:
        by_field[t.field_id].append(t)
        if t.counter is not None:
            by_counter[t.counter].append(t)
        if t.staff:
            by_staff[t.staff].append(t)
        by_hour[t.issued_at.astimezone(tz).hour].append(t)
        by_day[t.day.isoformat()].append(t)
    days_open = len(by_day)
    total = _block(tickets, first_call_minutes)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "target_wait_min": TARGET_WAIT_MINUTES,
        "totals": total,
        "days_with_visits": days_open,
        "visits_per_day": _per(len(tickets), days_open),
        "dossiers_per_day": _per(total["dossiers"], days_open),
        "by_service": [
            {"service": fid, "name": rules.fields[fid].name if fid in rules.fields else fid,
             **_block(by_field[fid], first_call_minutes)}
            for fid in [*rules.fields, *(f for f in by_field if f not in rules.fields)]
            if fid in by_field or fid in rules.fields
        ],
        "by_counter": [{"counter": n, **_block(ts, first_call_minutes),
                        "satisfaction": satisfaction_table(ts, rules.rating_levels)}
                       for n, ts in sorted(by_counter.items())],
        "by_staff": [{"staff": s, **_block(ts, first_call_minutes),
                      "satisfaction": satisfaction_table(ts, rules.rating_levels)}
                     for s, ts in sorted(by_staff.items())],
        "by_hour": [{"hour": h, "issued": len(ts)} for h, ts in sorted(by_hour.items())],
        "by_day": [{"day": d, **_block(ts, first_call_minutes)} for d, ts in sorted(by_day.items())],
        "satisfaction": satisfaction_table(tickets, rules.rating_levels),
    }


def first_call_minutes(calls: list[dict[str, Any]]) -> dict[str, float]:
    """Waiting time in minutes per ticket id, from its first `called` event (in commit order)."""
    first: dict[str, float] = {}
    for e in calls:
        if e["ticket_id"] not in first and "wait_seconds" in e["data"]:
            first[e["ticket_id"]] = float(e["data"]["wait_seconds"]) / 60.0
    return first


def from_store(store: Any, rules: CenterRules, first: date, last: date) -> dict[str, Any]:
    """`compute` over the tickets of `first`..`last` (local service days, inclusive), read in one
    consistent snapshot of `store` (a `storage.SqliteStore`)."""
    with store.reading() as tx:
        tickets = tx.tickets_between(first, last)
        calls = tx.events_between(first, last, ("called",))
    return compute(tickets, first_call_minutes(calls), rules, first, last)
