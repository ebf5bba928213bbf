"""Plain data of the queue: fields, counters, tickets, events.

Times are aware `datetime`s in UTC inside the core; the local day (`service_day`) is derived with
the center's time zone. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from .hours import WorkingHours


class TicketStatus(str, enum.Enum):
    WAITING = "waiting"
    CALLED = "called"
    NO_SHOW = "no_show"
    DONE = "done"
    CANCELLED = "cancelled"


class Outcome(str, enum.Enum):
    """What a finished visit produced (SPEC §3 'Finish')."""

    RECEIVED = "received"  # dossiers received (hồ sơ tiếp nhận trực tiếp)
    RETURNED = "returned"  # result returned (trả kết quả)
    GUIDANCE = "guidance"  # guidance only (hướng dẫn)
    SUPPLEMENT = "supplement"  # supplement requested (yêu cầu bổ sung)


OUTCOME_LABELS_VI = {
    Outcome.RECEIVED: "Tiếp nhận hồ sơ",
    Outcome.RETURNED: "Trả kết quả",
    Outcome.GUIDANCE: "Hướng dẫn",
    Outcome.SUPPLEMENT: "Yêu cầu bổ sung",
}


class CounterStatus(str, enum.Enum):
    OPEN = "open"
    PAUSED = "paused"


PAUSE_REASONS = {
    "break": "Nghỉ giải lao",
    "meeting": "Họp đột xuất",
    "helping": "Hỗ trợ đồng nghiệp",
    "other": "Khác",
}


class EventKind(str, enum.Enum):
    """Every event of a ticket's life (SPEC §3 'History'); past tense, stored as is."""

    ISSUED = "issued"
    CALLED = "called"
    RECALLED = "recalled"
    NO_SHOW = "no_show"
    REQUEUED = "requeued"
    TRANSFERRED = "transferred"
    FINISHED = "finished"
    RATED = "rated"
    CANCELLED = "cancelled"
    REPRINTED = "reprinted"
    PRINTED = "printed"  # the kiosk's printer confirmed the ticket (kiosk/dispenser.py)
    COUNTER_PAUSED = "counter_paused"
    COUNTER_RESUMED = "counter_resumed"
    # A visit still open when its day ended (staff went home, the citizen left): closed with the
    # day's end as its time; the ticket's status becomes `cancelled` and its `closed_reason`
    # `day_end`, so statistics report it apart from real cancellations (issue: day boundary).
    CLOSED_AT_DAY_END = "closed_at_day_end"


# `Ticket.closed_reason` of a visit closed by the day's end (see `EventKind.CLOSED_AT_DAY_END`).
CLOSED_AT_DAY_END = "day_end"


@dataclass(frozen=True)
class Field:
    """A service (lĩnh vực) with its own number block."""

    id: str
    name: str
    start: int = 1
    prefix: str = ""
    digits: int = 0  # zero-padding width of the number part (0 = none)
    daily_cap: int | None = None
    default_service_minutes: float | None = None
    name_en: str = ""

    def format_number(self, seq: int) -> str:
        """The string people see for the seq-th ticket of the day (seq starts at 1)."""
        value = self.start + seq - 1
        body = str(value).zfill(self.digits) if self.digits else str(value)
        return f"{self.prefix}{body}"


@dataclass(frozen=True)
class Counter:
    """A counter (quầy): the fields it serves, in calling order."""

    number: int
    name: str
    fields: tuple[str, ...]
    zone: str = "main"


@dataclass(frozen=True)
class PriorityPolicy:
    """Priority tickets go first in their field, but never more than `max_consecutive` in a row
    while an ordinary ticket waits (the guard against starving ordinary tickets)."""

    enabled: bool = True
    max_consecutive: int = 3
    groups: tuple[tuple[str, str], ...] = ()  # (id, Vietnamese label)


@dataclass(frozen=True)
class Ticket:
    id: str
    day: date
    origin_field: str
    seq: int
    number: str
    field_id: str
    priority: bool
    priority_group: str | None
    status: TicketStatus
    issued_at: datetime
    source: str = "api"
    called_at: datetime | None = None
    finished_at: datetime | None = None
    counter: int | None = None
    staff: str | None = None
    target_counter: int | None = None
    outcome: Outcome | None = None
    dossiers: int | None = None
    recalls: int = 0
    rating: int | None = None
    # Position in issue order across the whole hub (1, 2, 3, … never reused): the queue follows it,
    # never a wall-clock time, because a Pi's clock may step back when NTP corrects it (SPEC §3:
    # a transferred or re-queued ticket keeps its place = keeps its `order`).
    order: int = 0
    # Why a ticket was closed other than by staff: None, or CLOSED_AT_DAY_END.
    closed_reason: str | None = None
    # Issued by a kiosk whose printer has not confirmed the paper yet: never called, and
    # cancelled at start-up if the hub stopped before the print's outcome was recorded. Stays
    # set on a ticket cancelled because it was never printed (not a visit, not in the cap).
    print_pending: bool = False

    def with_(self, **changes: object) -> "Ticket":
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Event:
    """One line of the append-only history."""

    kind: EventKind
    at: datetime
    day: date
    ticket_id: str | None = None
    field_id: str | None = None
    counter: int | None = None
    staff: str | None = None
    data: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class CounterState:
    number: int
    status: CounterStatus = CounterStatus.OPEN
    reason: str | None = None
    note: str | None = None
    since: datetime | None = None
    until: datetime | None = None


DEFAULT_RATING_LEVELS = ("Rất hài lòng", "Hài lòng", "Chưa hài lòng")


@dataclass(frozen=True)
class CenterRules:
    """Everything the rules need to know about one center, read from its config file."""

    center_name: str
    timezone: ZoneInfo
    fields: dict[str, Field]
    counters: dict[int, Counter]
    priority: PriorityPolicy = PriorityPolicy()
    hours: WorkingHours = WorkingHours()
    field_hours: dict[str, WorkingHours] = field(default_factory=dict)
    default_service_minutes: float = 5.0
    service_time_window: int = 10  # finished visits averaged for the estimate
    rating_levels: tuple[str, ...] = DEFAULT_RATING_LEVELS
    rating_window_minutes: int = 24 * 60  # how long after service a rating is accepted
    counter_rating_seconds: int = 120  # how long a counter-side screen offers the last visit
    center_name_en: str = ""

    def hours_for(self, field_id: str) -> WorkingHours:
        return self.field_hours.get(field_id, self.hours)
