"""What the core needs from the outside world, as small interfaces.

The SQLite store and the Socket.IO publisher implement these; tests may pass fakes. `ManualClock`
lives here because a clock you set by hand is part of how the rules are tested (day boundary
without sleeping).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol

from .models import CounterState, Event, Ticket


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware datetime (UTC)."""


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment.astimezone(timezone.utc)

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._now += timedelta(**delta)


class UnitOfWork(Protocol):
    """One atomic, durable transaction on the store: all of it is kept, or none of it."""

    def next_seq(self, day: date, origin_field: str) -> int: ...
    def next_issue_order(self) -> int:
        """The next position in issue order across the hub (1, 2, …): what the queue follows."""
    def issued_count(self, day: date, origin_field: str) -> int: ...
    def insert_ticket(self, ticket: Ticket) -> None: ...
    def save_ticket(self, ticket: Ticket) -> None: ...
    def get_ticket(self, ticket_id: str) -> Ticket | None: ...
    def queue_heads(self, day: date, fields: tuple[str, ...], counter: int) -> list[Ticket]:
        """The heads of the queues a counter may call: for each of its fields (unreserved tickets)
        and for the tickets reserved for it, the oldest priority and the oldest ordinary ticket.
        That is all the call rule ever looks at, so "next" costs O(fields), not O(queue)."""
    def waiting_counts(self, day: date) -> dict[str, int]: ...
    def count_waiting_before(self, ticket: Ticket, priority_only: bool) -> int:
        """Waiting tickets in the same queue as `ticket` (same field and same reserved counter)
        issued before it; with priority_only, only priority ones."""
    def serving(self, day: date) -> dict[int, Ticket]: ...
    def open_tickets_before(self, day: date) -> list[Ticket]: ...
    def append(self, event: Event) -> int: ...
    def priority_streak(self, day: date, field_id: str, limit: int) -> int: ...
    def service_durations(self, day: date, field_id: str, limit: int) -> list[float]: ...
    def counter_states(self) -> dict[int, CounterState]: ...
    def save_counter_state(self, state: CounterState) -> None: ...
    def recent_calls(self, day: date, limit: int) -> list[dict[str, Any]]: ...
    def last_event_id(self) -> int: ...
    def served_counts(self, day: date) -> dict[int, int]: ...
    def last_finished(self, day: date, counter: int) -> Ticket | None:
        """The visit `counter` finished last (commit order) if it is still `done`, else None."""
    def latest_service_day(self) -> date | None:
        """The latest day the hub has turned to (None on a fresh store)."""
    def add_service_day(self, day: date, opened_at: datetime) -> None:
        """Remember that the hub turned to `day` (idempotent)."""
    def staffed_counters(self, day: date) -> set[int]:
        """Counters that called at least one ticket on `day`."""
    def unconfirmed_prints(self) -> list[Ticket]:
        """Open tickets (waiting or called) still marked `print_pending`, oldest first."""
    def tickets_numbered(self, day: date, number: str) -> list[Ticket]:
        """Tickets of `day` whose printed number is `number`, in issue order."""
    def waiting_by_target(self, day: date) -> list[tuple[str, int | None, int]]:
        """Waiting tickets of `day` counted per (field, reserved counter or None)."""
    def no_shows(self, day: date) -> list[Ticket]:
        """The no-show tickets of `day`, most recently marked first."""


class TicketStore(Protocol):
    def transaction(self) -> AbstractContextManager[UnitOfWork]: ...
    def reading(self) -> AbstractContextManager[UnitOfWork]: ...


class Publisher(Protocol):
    """Hands domain events to whoever shows them. Must only enqueue: it is called in commit
    order while the service holds its lock, so it must never block on a network peer."""

    def publish(self, name: str, payload: dict[str, Any]) -> None: ...
