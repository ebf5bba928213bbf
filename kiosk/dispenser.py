"""Ticket dispensing: ask the printer, issue the number, print it, and never leave a phantom.

One `TicketDispenser` owns the printer. The kiosk page, the GPIO buttons and the reprint API all
go through it, and it serialises them with one lock, so one ticket is on the paper path at a time:

1. read the printer's real-time status (DLE EOT with a timeout; silence is offline). Paper out,
   cover open, offline or error: nothing is issued, `PrinterUnavailable` carries the plain
   Vietnamese reason;
2. issue through the queue service (hours, daily cap and numbering are its business), marked
   `print_pending`: it holds its place in the queue but no counter can call it yet;
3. print, and have the printer confirm the job (every byte accepted, then a status reply after
   it that says it can print; `printers.PrintNotConfirmed` otherwise). Confirmed: the ticket is
   released for calling (`service.confirm_print`, a `printed` event). Not confirmed: the ticket
   is cancelled at once (`reason="print_failed"`, logged in the event log) and `PrintFailed` is
   raised: no number waits in the queue that nobody holds.

If the hub stops between 2 and 3 (power cut, kill -9), the ticket's outcome was never recorded:
`runtime.build_runtime` cancels every such ticket at the next start (`reason="print_not_confirmed"`)
before any kiosk prints, so it is never called.

After `FAILURES_BEFORE_PAUSE` consecutive failed prints the dispenser stops issuing on that printer
(health `status = "error"`, `can_print = false`, `paused = true`) even if the printer keeps
answering "ready" — a printer that says so and then loses the job would otherwise burn a number
per tap. A status probe that finds it ready (the idle monitor, `GET /api/v1/printer?refresh=1`)
lifts the pause; one more failure before a ticket is confirmed pauses it again.

Paper near its end still prints, but is logged and shows up in the printer's health, which is
pushed to listeners (`device_health` on Socket.IO, the status LED) whenever it changes.

This module knows nothing of Flask or Socket.IO: it gets a `publish(name, payload)` callable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from kiosk.printers import (
    PrinterError,
    PrinterNotReady,
    PrinterStatus,
    PrintNotConfirmed,
    ReceiptPrinter,
    SpoolPrinter,
)
from kiosk.ticket import DEFAULT_FOOTER, TicketContent
from queue_server.core.errors import Conflict, Unavailable
from queue_server.core.models import CenterRules, Ticket, TicketStatus
from queue_server.core.service import IssuedTicket

log = logging.getLogger(__name__)

REPRINT_FOOTER = "Bản in lại – " + DEFAULT_FOOTER
DEFAULT_LOCK_TIMEOUT = 20.0  # a queue of taps waiting for one printer; then "busy"
# K = 2: one failure can be a passing blip (a network hiccup, paper pulled while printing) and the
# next tap deserves a chance; a second failure in a row, with the printer still claiming to be
# ready, means its "ready" cannot be trusted and every further tap would burn a number and send a
# citizen away empty-handed. Two lost numbers at most, then staff are called.
FAILURES_BEFORE_PAUSE = 2
DEFAULT_PRINTER_ID = "default"

Publish = Callable[[str, dict[str, Any]], None]
HealthListener = Callable[["PrinterHealth"], None]


class Clock(Protocol):
    def now(self) -> datetime: ...


class QueueServiceLike(Protocol):
    """What the dispenser needs from `queue_server.core.service.QueueService`."""

    rules: CenterRules
    clock: Clock

    def issue(self, field_id: str, priority: bool | None = None, priority_group: str | None = None,
              source: str = "api", print_pending: bool = False) -> IssuedTicket: ...

    def cancel(self, ticket_id: str, staff: str | None, reason: str) -> Ticket: ...

    def confirm_print(self, ticket_id: str, printer: str, printed_bytes: int) -> Ticket: ...

    def record_reprint(self, ticket_id: str, by: str, printed_bytes: int) -> None: ...

    def get_ticket(self, ticket_id: str) -> Ticket: ...

    def ticket_view(self, ticket_id: str) -> dict[str, Any]: ...


class PrinterUnavailable(Unavailable):
    """The printer cannot print now; nothing was issued (or, for a reprint, nothing printed)."""

    def __init__(self, status: PrinterStatus) -> None:
        super().__init__(f"printer_{status.value}", status.message_vi, status.message_en)
        self.status = status


class PrintFailed(Unavailable):
    """The ticket was issued but could not be printed; it has been cancelled."""

    def __init__(self, number: str, cancelled: bool) -> None:
        vi = "Máy in gặp sự cố nên chưa in được số thứ tự. Vui lòng báo cán bộ hướng dẫn."
        en = "The ticket could not be printed. Please tell a staff member."
        if cancelled:
            vi += f" Số {number} đã được hủy, Ông/Bà không cần giữ số này."
            en += f" Number {number} has been cancelled."
        super().__init__("print_failed", vi, en)
        self.number = number
        self.cancelled = cancelled

    def as_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return {**super().as_dict(), "details": {"number": self.number, "cancelled": self.cancelled}}


class PrinterBusy(Unavailable):
    def __init__(self) -> None:
        super().__init__("printer_busy", "Máy in đang bận, vui lòng thử lại sau giây lát.",
                         "The printer is busy; try again in a moment.")


@dataclass(frozen=True)
class PrinterHealth:
    """What device health shows about the ticket printer."""

    kind: str
    status: PrinterStatus
    printer: str = DEFAULT_PRINTER_ID
    checked_at: datetime | None = None
    paper_low_input: bool = False
    tickets_printed: int = 0
    reprints: int = 0
    print_failures: int = 0
    refusals: int = 0
    last_error: dict[str, Any] | None = None
    detail: str | None = None  # technical text of the last error, for staff only
    consecutive_failures: int = 0
    paused: bool = False  # FAILURES_BEFORE_PAUSE failures in a row; lifted by a ready probe

    @property
    def can_print(self) -> bool:
        return self.status.can_print

    def signature(self) -> tuple[Any, ...]:
        """What must change for listeners to hear about it (not every printed ticket)."""
        return (self.status, self.paper_low_input, self.paused,
                self.last_error["at"] if self.last_error else None)

    def as_dict(self, detail: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "device": "printer",
            "printer": self.printer,
            "kind": self.kind,
            "status": self.status.value,
            "can_print": self.can_print,
            "message": self.status.message_vi,
            "message_en": self.status.message_en,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "paper_low_input": self.paper_low_input,
            "tickets_printed": self.tickets_printed,
            "reprints": self.reprints,
            "print_failures": self.print_failures,
            "refusals": self.refusals,
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "paused": self.paused,
        }
        if detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Dispensed:
    """A ticket that is in the queue and on paper."""

    ticket: Ticket
    waiting_ahead: int
    est_wait_min: int | None
    content: TicketContent
    printer_status: PrinterStatus
    bytes_written: int
    warnings: tuple[str, ...] = field(default=())


class TicketDispenser:
    """Issues and prints tickets on one printer, one at a time.

    `public_url` is the address phones reach the hub on (`[center] public_url`); the QR code
    points to `<public_url>/t/<id>`. Without it, the caller's `base_url` is used, or the last one
    seen (a GPIO button has no request of its own).
    """

    def __init__(self, service: QueueServiceLike, printer: ReceiptPrinter,
                 rules: CenterRules | None = None, public_url: str = "", *,
                 kind: str = "", publish: Publish | None = None,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 printer_id: str = DEFAULT_PRINTER_ID) -> None:
        self.service = service
        self.printer = printer
        self._rules = rules  # None: the service's rules at each print (renamed in the browser)
        self.public_url = public_url.rstrip("/")
        self.default_base_url = "http://localhost"
        self.lock_timeout = lock_timeout
        self._publish = publish
        self._listeners: list[HealthListener] = []
        self._lock = threading.Lock()  # the paper path: status, issue, print
        self._state_lock = threading.Lock()  # the health record
        self.printer_id = printer_id
        self._health = PrinterHealth(kind or type(printer).__name__, PrinterStatus.OK, printer_id)
        self._announced: tuple[Any, ...] | None = None
        self._printer_status = PrinterStatus.OK

    # ----------------------------------------------------------------- health
    def add_listener(self, listener: HealthListener) -> None:
        """Called with the new health whenever status, paper sensor or last error change."""
        self._listeners.append(listener)

    def health(self) -> PrinterHealth:
        with self._state_lock:
            return self._health

    def _update(self, **changes: Any) -> PrinterHealth:
        with self._state_lock:
            health = self._health = replace(self._health, **changes)
            signature = health.signature()
            changed = signature != self._announced
            if changed:
                self._announced = signature
        if changed:
            self._announce(health)
        return health

    def _announce(self, health: PrinterHealth) -> None:
        if health.status is PrinterStatus.PAPER_NEAR_END:
            log.warning("ticket printer: paper near its end (%s)",
                        "paper-low sensor" if health.paper_low_input else "printer status")
        elif not health.can_print:
            log.warning("ticket printer: %s", health.status.value)
        else:
            log.info("ticket printer: %s", health.status.value)
        if self._publish is not None:
            try:
                self._publish("device_health", health.as_dict())
            except Exception:  # a listener's failure is logged, never spread
                log.exception("could not publish device_health")
        for listener in list(self._listeners):
            try:
                listener(health)
            except Exception:
                log.exception("printer health listener failed")

    def _effective(self, status: PrinterStatus, paper_low: bool, paused: bool) -> PrinterStatus:
        if paused and status.can_print:
            return PrinterStatus.ERROR  # it says ready, but its last jobs were lost
        if status is PrinterStatus.OK and paper_low:
            return PrinterStatus.PAPER_NEAR_END
        return status

    def _read_status(self, probe: bool = False) -> PrinterStatus:
        """Ask the printer now (caller holds the paper-path lock) and record the answer.

        A `probe` (the idle monitor, a refresh request) that finds the printer ready lifts a
        pause; the reading taken before each ticket never does."""
        raw = self.printer.status()
        self._printer_status = raw
        health = self.health()
        paused = health.paused
        if paused and probe and raw.can_print:
            log.warning("ticket printer %s: ready again after %d failed prints; issuing resumes",
                        self.printer_id, health.consecutive_failures)
            paused = False
        status = self._effective(raw, health.paper_low_input, paused)
        self._update(status=status, checked_at=self._now(), paused=paused)
        return status

    def set_paper_low(self, low: bool) -> None:
        """From a paper-low sensor input (GPIO): near end while it is active."""
        with self._state_lock:
            raw = self._printer_status
            paused = self._health.paused
        self._update(paper_low_input=low, status=self._effective(raw, low, paused))

    def check_printer(self, blocking: bool = True) -> PrinterHealth:
        """Probe the printer's status (this may lift a pause, see the module docstring); when
        `blocking` is false and the printer is busy printing, the last known health is
        returned instead of waiting."""
        if not self._lock.acquire(timeout=self.lock_timeout if blocking else 0):
            return self.health()
        try:
            self._read_status(probe=True)
        finally:
            self._lock.release()
        return self.health()

    def simulate(self, state: str) -> PrinterHealth:
        """Put a simulated printer in a state (demos, tests); ValueError for a real printer."""
        if not isinstance(self.printer, SpoolPrinter):
            raise ValueError("only a simulated printer can be put in a state")
        with self._lock:
            self.printer.simulated_status = state
            self._read_status(probe=True)
        return self.health()

    # --------------------------------------------------------------- printing
    def base_url(self, base_url: str | None = None) -> str:
        if self.public_url:
            return self.public_url
        if base_url:
            self.default_base_url = base_url.rstrip("/")
        return self.default_base_url

    @property
    def rules(self) -> CenterRules:
        """The rules a ticket is printed with: those given, else the service's current ones."""
        return self._rules if self._rules is not None else self.service.rules

    def _content(self, ticket: Ticket, ahead: int, est: int | None, base: str,
                 footer: str = DEFAULT_FOOTER) -> TicketContent:
        field_ = self.rules.fields.get(ticket.field_id)
        return TicketContent(
            center_name=self.rules.center_name,
            field_name=field_.name if field_ else ticket.field_id,
            number=ticket.number,
            waiting_ahead=max(0, ahead),
            est_wait_min=est,
            issued_at=ticket.issued_at.astimezone(self.rules.timezone),
            status_url=f"{base}/t/{ticket.id}",
            priority=ticket.priority,
            footer=footer,
        )

    def _now(self) -> datetime:
        try:
            return self.service.clock.now()
        except AttributeError:
            return datetime.now(timezone.utc)

    def _refuse(self, status: PrinterStatus) -> PrinterUnavailable:
        health = self.health()
        self._update(refusals=health.refusals + 1)
        return PrinterUnavailable(status)

    def _failed(self, code: str, vi: str, en: str, detail: str) -> None:
        health = self.health()
        failures = health.consecutive_failures + 1
        paused = health.paused or failures >= FAILURES_BEFORE_PAUSE
        if paused and not health.paused:
            log.error("ticket printer %s: %d failed prints in a row; no more tickets on it until "
                      "a status check finds it ready", self.printer_id, failures)
        with self._state_lock:
            raw = self._printer_status
        self._update(print_failures=health.print_failures + 1, detail=detail,
                     consecutive_failures=failures, paused=paused,
                     status=self._effective(raw, health.paper_low_input, paused),
                     last_error={"at": self._now().isoformat(), "code": code, "message": vi,
                                 "message_en": en})

    def _succeeded(self, **counts: int) -> None:
        self._update(consecutive_failures=0, **counts)

    def _print(self, content: TicketContent) -> int:
        """Send one ticket; PrinterError (incl. PrinterNotReady) on failure, counted."""
        try:
            return self.printer.print_ticket(content, check_status=False)
        except (PrinterNotReady, PrintNotConfirmed) as exc:
            self._read_status_quietly()
            self._failed(f"printer_{exc.status.value}", exc.status.message_vi,
                         exc.status.message_en, str(exc))
            raise
        except PrinterError as exc:
            self._read_status_quietly()
            self._failed("print_failed", "Không in được phiếu.", "Printing a ticket failed.", str(exc))
            raise
        except Exception as exc:  # rendering or a transport's own error: still a failed print
            log.exception("printing ticket %s failed", content.number)
            self._failed("print_failed", "Không in được phiếu.", "Printing a ticket failed.",
                         f"{type(exc).__name__}: {exc}")
            raise PrinterError(str(exc)) from exc

    def _read_status_quietly(self) -> None:
        try:
            self._read_status()
        except Exception:
            log.exception("printer status after a failed print")

    def _acquire(self) -> None:
        if not self._lock.acquire(timeout=self.lock_timeout):
            raise PrinterBusy()

    def dispense(self, field_id: str, priority: bool | None = None,
                 priority_group: str | None = None, source: str = "kiosk",
                 base_url: str | None = None) -> Dispensed:
        """Issue one ticket and print it. Raises `PrinterUnavailable` (nothing issued),
        `PrintFailed` (issued, then cancelled), or the service's own `QueueError`s."""
        base = self.base_url(base_url)
        self._acquire()
        try:
            status = self._read_status()
            if not status.can_print:
                raise self._refuse(status)
            issued = self.service.issue(field_id, priority, priority_group, source=source,
                                        print_pending=True)
            ticket = issued.ticket
            try:
                content = self._content(ticket, issued.waiting_ahead, issued.est_wait_min, base)
                written = self._print(content)
            except Exception as exc:
                if not isinstance(exc, PrinterError):  # the ticket could not even be laid out
                    log.exception("ticket %s could not be rendered", ticket.number)
                    self._failed("print_failed", "Không in được phiếu.", "Printing a ticket failed.",
                                 f"{type(exc).__name__}: {exc}")
                cancelled = self._cancel_unprinted(ticket)
                raise PrintFailed(ticket.number, cancelled) from exc
            health = self.health()
            self._succeeded(tickets_printed=health.tickets_printed + 1)
            ticket = self._release(ticket, written)
        finally:
            self._lock.release()
        warnings = (status.message_vi,) if status is PrinterStatus.PAPER_NEAR_END else ()
        return Dispensed(ticket, issued.waiting_ahead, issued.est_wait_min, content, status,
                         written, warnings)

    def _release(self, ticket: Ticket, written: int) -> Ticket:
        """The paper is in the citizen's hand: let counters call the ticket."""
        try:
            return self.service.confirm_print(ticket.id, self.printer_id, written)
        except Exception:
            # The store refused (disk full?): the ticket stays held and the next start-up
            # cancels it; staff can see it in the log. The citizen has the paper meanwhile.
            log.exception("ticket %s (%s) printed, but its print could not be recorded",
                          ticket.number, ticket.id)
            return ticket

    def _cancel_unprinted(self, ticket: Ticket) -> bool:
        try:
            self.service.cancel(ticket.id, staff=None, reason="print_failed")
        except Exception:
            # The store refused too (disk full?): the ticket stays in the log as issued and
            # staff see it; say so loudly, the citizen still gets the print failure.
            log.exception("ticket %s (%s) was issued but neither printed nor cancelled",
                          ticket.number, ticket.id)
            return False
        log.warning("ticket %s cancelled: it could not be printed", ticket.number)
        return True

    def reprint(self, ticket_id: str, by: str, base_url: str | None = None) -> Dispensed:
        """Print a waiting or called ticket again (the citizen lost the paper). Logged."""
        base = self.base_url(base_url)
        view = self.service.ticket_view(ticket_id)  # NotFound for an unknown id
        ticket = self.service.get_ticket(ticket_id)
        if ticket.status not in (TicketStatus.WAITING, TicketStatus.CALLED):
            raise Conflict("not_reprintable", "Chỉ in lại được số đang chờ hoặc đang được gọi.",
                           f"A ticket that is {ticket.status.value} cannot be reprinted.")
        if ticket.print_pending:  # its first print has no outcome yet (or was never confirmed)
            raise Conflict("print_pending", "Số này đang được in, chưa thể in lại.",
                           "This ticket's first print is not confirmed yet; it cannot be "
                           "reprinted.")
        ahead = view.get("waiting_ahead") or 0
        est = view.get("est_wait_min")
        content = self._content(ticket, ahead, est, base, footer=REPRINT_FOOTER)
        self._acquire()
        try:
            status = self._read_status()
            if not status.can_print:
                raise self._refuse(status)
            try:
                written = self._print(content)
            except PrinterNotReady as exc:
                raise PrinterUnavailable(exc.status) from exc
            except PrinterError as exc:
                raise Unavailable("print_failed",
                                  "Máy in gặp sự cố nên chưa in lại được. Vui lòng kiểm tra máy in.",
                                  "The ticket could not be reprinted; check the printer.") from exc
            health = self.health()
            self._succeeded(reprints=health.reprints + 1)
        finally:
            self._lock.release()
        self.service.record_reprint(ticket.id, by, written)
        log.info("ticket %s (%s) reprinted by %s", ticket.number, ticket.id, by)
        warnings = (status.message_vi,) if status is PrinterStatus.PAPER_NEAR_END else ()
        return Dispensed(ticket, ahead, est, content, status, written, warnings)

    def close(self) -> None:
        """Close the printer; waits for a ticket being printed (up to the lock timeout)."""
        acquired = self._lock.acquire(timeout=self.lock_timeout)
        try:
            self.printer.close()
        finally:
            if acquired:
                self._lock.release()
