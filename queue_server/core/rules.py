"""The queue rules as pure functions: service day, call order, people ahead, estimated wait."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from statistics import median
from zoneinfo import ZoneInfo

from .models import Counter, PriorityPolicy, Ticket


def service_day(now: datetime, tz: ZoneInfo) -> date:
    """The local calendar day a moment belongs to; numbering restarts when it changes."""
    return now.astimezone(tz).date()


def day_end(day: date, tz: ZoneInfo) -> datetime:
    """The moment `day` ends: the next local midnight in the center's time zone, in UTC. A visit
    still open then is closed with this time (issue: the day boundary)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(timezone.utc)


def _queue_order(t: Ticket) -> int:
    # Issue order, never the issue time: a clock that steps back (NTP correcting a Pi with no RTC)
    # must not move a later ticket ahead. A transferred or re-queued ticket keeps its `order`,
    # hence its place (SPEC §3 'Calling').
    return t.order


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


def next_choice(
    counter: Counter,
    waiting: list[Ticket],
    priority_streaks: dict[str, int],
    policy: PriorityPolicy,
) -> tuple[Ticket, bool] | None:
    """The ticket a counter calls next, and whether that call counts toward the priority guard.

    The ticket: the counter's first field with anybody waiting, then priority-with-guard within
    that field (SPEC §3 'Calling'). The guard limits priority calls made *while an ordinary ticket
    waits*, so the call counts (True) only when a priority ticket is called while an ordinary
    ticket of the same group waits; priority calls with no ordinary ticket waiting never use up
    the ordinary tickets' turn (issue: priority interleave). None when nobody waits.
    """
    for field_id, group in candidate_groups(counter, waiting):
        if group:
            chosen = pick_in_group(group, priority_streaks.get(field_id, 0), policy)
            guarded = chosen.priority and any(not t.priority for t in group)
            return chosen, guarded
    return None


def choose_next(
    counter: Counter,
    waiting: list[Ticket],
    priority_streaks: dict[str, int],
    policy: PriorityPolicy,
) -> Ticket | None:
    """The ticket a counter calls next (see `next_choice`), or None."""
    choice = next_choice(counter, waiting, priority_streaks, policy)
    return choice[0] if choice else None


def recent_service_minutes(durations: list[float], default: float) -> float:
    """Typical service time from the latest finished visits; the median resists one long case."""
    return median(durations) if durations else default


def estimated_wait_minutes(ahead: int, staffed_counters: int, service_minutes: float) -> int | None:
    """People ahead ÷ counters actually serving the field × recent service time (SPEC §3), in
    whole minutes rounded up. With no counter staffed there is no honest estimate: None (the
    ticket, kiosk and phone page then say so instead of promising a number). Which counters are
    staffed is the service's call (`QueueService._staffed`)."""
    if staffed_counters <= 0:
        return None
    if ahead <= 0:
        return 0
    return math.ceil(ahead / staffed_counters * service_minutes)
