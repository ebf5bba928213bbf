"""The queue rules as pure functions: service day, call order, people ahead, estimated wait."""

from __future__ import annotations

import math
from datetime import date, datetime
from statistics import median
from zoneinfo import ZoneInfo

from .models import Counter, PriorityPolicy, Ticket


def service_day(now: datetime, tz: ZoneInfo) -> date:
    """The local calendar day a moment belongs to; numbering restarts when it changes."""
    return now.astimezone(tz).date()


def _queue_order(t: Ticket) -> tuple[datetime, int]:
    # Original issue time keeps a transferred or re-queued ticket's place; seq breaks ties.
    return (t.issued_at, t.seq)


def pick_in_group(candidates: list[Ticket], priority_streak: int, policy: PriorityPolicy) -> Ticket:
    """Oldest priority ticket first, unless `max_consecutive` priority calls in a row already
    happened in this field while an ordinary ticket waits; then the oldest ordinary ticket."""
    ordered = sorted(candidates, key=_queue_order)
    if not policy.enabled:
        return ordered[0]
    priority = [t for t in ordered if t.priority]
    ordinary = [t for t in ordered if not t.priority]
    if priority and (not ordinary or priority_streak < policy.max_consecutive):
        return priority[0]
    return ordinary[0] if ordinary else ordered[0]


def candidate_groups(counter: Counter, waiting: list[Ticket]) -> list[tuple[str, list[Ticket]]]:
    """The waiting tickets a counter may call, grouped by its fields in calling order.

    A ticket transferred to this very counter joins the counter's first group (its place still
    set by its original issue time); a ticket transferred to another counter is never offered here.
    """
    groups: list[tuple[str, list[Ticket]]] = []
    reserved = [t for t in waiting if t.target_counter == counter.number]
    for index, field_id in enumerate(counter.fields):
        group = [t for t in waiting if t.field_id == field_id and t.target_counter is None]
        if index == 0:
            group += reserved
        groups.append((field_id, group))
    if not counter.fields and reserved:
        groups.append((reserved[0].field_id, reserved))
    return groups


def choose_next(
    counter: Counter,
    waiting: list[Ticket],
    priority_streaks: dict[str, int],
    policy: PriorityPolicy,
) -> Ticket | None:
    """The ticket a counter calls next: its first field with anybody waiting, then
    priority-with-guard within that field (SPEC §3 'Calling')."""
    for field_id, group in candidate_groups(counter, waiting):
        if group:
            return pick_in_group(group, priority_streaks.get(field_id, 0), policy)
    return None


def recent_service_minutes(durations: list[float], default: float) -> float:
    """Typical service time from the latest finished visits; the median resists one long case."""
    return median(durations) if durations else default


def estimated_wait_minutes(ahead: int, open_counters: int, service_minutes: float) -> int:
    """People ahead ÷ open counters serving the field × recent service time (SPEC §3), rounded up.
    With no counter open yet, count one: someone will open."""
    if ahead <= 0:
        return 0
    return math.ceil(ahead / max(open_counters, 1) * service_minutes)
