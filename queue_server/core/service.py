"""QueueService: every change to the queue, as one atomic transaction plus its announcements.

Each method runs under one lock and one store transaction: it reads the state, applies the rules
(`rules.py`), writes the ticket and its event-log line, commits durably, and only then hands the
resulting public events to the publisher, in commit order. A refusal raises a `QueueError` before
anything is committed, so a refused request changes nothing.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from . import rules
from .errors import Conflict, Forbidden, InvalidRequest, IssuingClosed, NotFound
from .models import (
    CLOSED_AT_DAY_END,
    PAUSE_REASONS,
    CenterRules,
    Counter,
    CounterState,
    CounterStatus,
    Event,
    EventKind,
    Outcome,
    Ticket,
    TicketStatus,
)
from .ports import Clock, Publisher, TicketStore, UnitOfWork

MAX_DOSSIERS = 999
MAX_PAUSE_MINUTES = 8 * 60
MAX_REASON_LENGTH = 500


@dataclass(frozen=True)
class IssuedTicket:
    ticket: Ticket
    waiting_ahead: int
    est_wait_min: int | None  # None: no counter is staffed, so no honest estimate


class _Pending:
    """Public events produced inside a transaction, published only after it commits."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def add(self, name: str, payload: dict[str, Any]) -> None:
        self.items.append((name, payload))


class QueueService:
    def __init__(
        self, rules_: CenterRules, store: TicketStore, clock: Clock, publisher: Publisher
    ) -> None:
        self.rules = rules_
        self.store = store
        self.clock = clock
        self.publisher = publisher
        self._lock = threading.RLock()
        self._day: date | None = None  # the day the hub has turned to (loaded from the store)
        self._day_loaded = False

    # ----------------------------------------------------------------- plumbing
    def today(self) -> date:
        """The service day now (see `_day_at`); turns the day first if the clock has moved on."""
        with self._lock:
            return self._turn(self.clock.now())

    def _day_at(self, now: datetime) -> date:
        """The service day at `now`: the center's local calendar day (SPEC §3 'Numbering'), but
        never earlier than a day the hub already turned to. A clock that steps back across
        midnight (NTP correcting a Pi with no RTC) must not issue into a day already closed."""
        if not self._day_loaded:
            with self.store.reading() as tx:
                self._day = tx.latest_service_day()
            self._day_loaded = True
        day = rules.service_day(now, self.rules.timezone)
        return day if self._day is None or day > self._day else self._day

    def turn_day(self) -> date:
        """Turn the hub to the clock's day if that is later than the day it is on; returns the
        service day. Idempotent: cheap and without effect until the day changes.

        Turning closes every visit still open from earlier days with its own day's end as its
        time (`rules.day_end`: local midnight) and the event `closed_at_day_end`: the ticket
        becomes `cancelled` with `closed_reason = "day_end"`, which statistics report apart from
        cancellations and never as service or waiting time. Once committed, it publishes
        `ticket_changed` for each closed ticket and then `day_changed` {"day": "YYYY-MM-DD"} (the
        Socket.IO publisher answers that with a fresh `state` to every client). Called by every
        change (lazily), by the daybreak thread at midnight, and at hub start.
        """
        with self._lock:
            return self._turn(self.clock.now())

    def _turn(self, now: datetime) -> date:
        day = self._day_at(now)
        if day == self._day:
            return day
        previous = self._day
        pending = _Pending()
        with self.store.transaction() as tx:
            for t in tx.open_tickets_before(day):
                end = rules.day_end(t.day, self.rules.timezone)
                closed = t.with_(status=TicketStatus.CANCELLED, finished_at=end,
                                 closed_reason=CLOSED_AT_DAY_END)
                tx.save_ticket(closed)
                tx.append(self._event(EventKind.CLOSED_AT_DAY_END, t, end, counter=t.counter,
                                      data={"number": t.number, "was": t.status.value}))
                self._ticket_changed(pending, closed)
            tx.add_service_day(day, now)
        self._day = day
        for name, payload in pending.items:
            self.publisher.publish(name, payload)
        if previous is not None:
            self.publisher.publish("day_changed", {"day": day.isoformat()})
        return day

    @contextmanager
    def _change(self) -> Iterator[tuple[UnitOfWork, _Pending, datetime, date]]:
        with self._lock:
            now = self.clock.now()
            day = self._turn(now)
            pending = _Pending()
            with self.store.transaction() as tx:
                yield tx, pending, now, day
            for name, payload in pending.items:
                self.publisher.publish(name, payload)

    @staticmethod
    def _event(
        kind: EventKind,
        ticket: Ticket,
        now: datetime,
        counter: int | None = None,
        staff: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        return Event(kind, now, ticket.day, ticket.id, ticket.field_id, counter, staff, data or {})

    def replace_rules(self, rules_: CenterRules) -> None:
        """Use `rules_` from the next operation on (the configuration edited in the browser,
        `settings.py`, checked by the config file's rules before it gets here). Taken under the
        service's lock, so no operation sees half of the old rules and half of the new."""
        with self._lock:
            self.rules = rules_

    def counter(self, number: int) -> Counter:
        counter = self.rules.counters.get(number)
        if counter is None:
            raise NotFound("unknown_counter", f"Không có quầy số {number}.",
                           f"There is no counter {number}.")
        return counter

    def _field(self, field_id: str) -> None:
        if field_id not in self.rules.fields:
            raise InvalidRequest("unknown_service", f"Không có lĩnh vực '{field_id}'.",
                                 f"Unknown service '{field_id}'.")

    def _staffed(self, tx: UnitOfWork, day: date, ticket: Ticket) -> int:
        """How many counters are actually serving `ticket`'s queue today. A counter counts as
        staffed when it has called at least one ticket today and is not paused now: the hub has
        no other sign that someone sits there (a login is not bound to a desk: admins and
        devices may act on any counter, and nobody logs out at night). A ticket transferred to
        one counter has only that counter. Issue: estimated wait."""
        states = tx.counter_states()
        called_today = tx.staffed_counters(day)
        if ticket.target_counter is not None:
            numbers = [ticket.target_counter]
        else:
            numbers = [c.number for c in self.rules.counters.values() if ticket.field_id in c.fields]
        return sum(
            1 for n in numbers
            if n in called_today
            and states.get(n, CounterState(n)).status is CounterStatus.OPEN
        )

    def _estimate(self, tx: UnitOfWork, day: date, ticket: Ticket) -> tuple[int, int | None]:
        # Who is ahead (SPEC §3): earlier tickets of the same queue (same field, or reserved for the
        # same counter); a priority ticket only has earlier priority tickets ahead of it.
        ahead = tx.count_waiting_before(ticket, priority_only=self.rules.priority.enabled and ticket.priority)
        field = self.rules.fields[ticket.field_id]
        default = field.default_service_minutes or self.rules.default_service_minutes
        minutes = rules.recent_service_minutes(
            tx.service_durations(day, ticket.field_id, self.rules.service_time_window), default
        )
        return ahead, rules.estimated_wait_minutes(ahead, self._staffed(tx, day, ticket), minutes)

    def _waiting_counts(self, tx: UnitOfWork, day: date) -> dict[str, int]:
        return {**{fid: 0 for fid in self.rules.fields}, **tx.waiting_counts(day)}

    def _queue_changed(self, tx: UnitOfWork, pending: _Pending, day: date) -> None:
        pending.add("queue_changed", {"waiting": self._waiting_counts(tx, day),
                                      "seq": tx.last_event_id()})

    def _counter_changed(self, tx: UnitOfWork, pending: _Pending, number: int,
                         current: Ticket | None) -> None:
        state = tx.counter_states().get(number, CounterState(number))
        assert self._day is not None  # inside a change, the day has been turned
        served = tx.served_counts(self._day).get(number, 0)
        pending.add("counter_changed", {**self._counter_view(number, state, current, served),
                                        "seq": tx.last_event_id()})

    def _called(self, tx: UnitOfWork, pending: _Pending, ticket: Ticket, recall: bool) -> None:
        assert ticket.counter is not None and ticket.called_at is not None
        pending.add("ticket_called", {
            "number": ticket.number,
            "counter": ticket.counter,
            "counter_name": self.rules.counters[ticket.counter].name,
            "zone": self.rules.counters[ticket.counter].zone,
            "service": ticket.field_id,
            "service_name": self.rules.fields[ticket.field_id].name,
            "called_at": ticket.called_at.isoformat(),
            "recall": recall,
            "seq": tx.last_event_id(),
        })
        self._ticket_changed(pending, ticket)

    @staticmethod
    def _ticket_changed(pending: _Pending, ticket: Ticket) -> None:
        # Goes only to the ticket's private room (its id is the capability), for the phone page.
        pending.add("ticket_changed", {"id": ticket.id, "status": ticket.status.value,
                                       "counter": ticket.counter})

    def _serving(self, tx: UnitOfWork, day: date, counter: int) -> Ticket:
        current = tx.serving(day).get(counter)
        if current is None:
            raise Conflict("no_current_ticket", f"Quầy {counter} chưa gọi số nào.",
                           f"Counter {counter} is not serving any ticket.")
        return current

    def _ticket(self, tx: UnitOfWork, ticket_id: str) -> Ticket:
        ticket = tx.get_ticket(ticket_id)
        if ticket is None:
            raise NotFound("unknown_ticket", "Không tìm thấy số thứ tự này.", "No such ticket.")
        return ticket

    def _require_open(self, tx: UnitOfWork, counter: int) -> None:
        state = tx.counter_states().get(counter, CounterState(counter))
        if state.status is CounterStatus.PAUSED:
            raise Conflict("counter_paused",
                           f"Quầy {counter} đang tạm ngưng ({PAUSE_REASONS.get(state.reason or '', state.reason)}). Hãy mở lại quầy trước.",
                           f"Counter {counter} is paused. Resume it first.")

    # ------------------------------------------------------------------- issuing
    def issue(
        self,
        field_id: str,
        priority: bool | None = None,
        priority_group: str | None = None,
        source: str = "api",
        print_pending: bool = False,
    ) -> IssuedTicket:
        """Issue a ticket (SPEC §3). With `print_pending`, the ticket waits in the queue but is
        not called until `confirm_print` (a kiosk printing it); see `cancel_unconfirmed_prints`."""
        self._field(field_id)
        policy = self.rules.priority
        if priority_group is not None:
            if priority_group not in dict(policy.groups):
                raise InvalidRequest("unknown_priority_group",
                                     f"Không có nhóm ưu tiên '{priority_group}'.",
                                     f"Unknown priority group '{priority_group}'.")
            if priority is False:
                raise InvalidRequest("priority_group_without_priority",
                                     "Nhóm ưu tiên chỉ dùng cho số ưu tiên.",
                                     "priority_group needs priority = true.")
            priority = True
        priority = bool(priority)
        if priority and not policy.enabled:
            raise InvalidRequest("priority_disabled", "Trung tâm không cấp số ưu tiên.",
                                 "This center does not issue priority tickets.")
        field = self.rules.fields[field_id]
        with self._change() as (tx, pending, now, day):
            window = self.rules.hours_for(field_id).issuing_window(now.astimezone(self.rules.timezone))
            if not window.open:
                raise IssuingClosed(window.reason or "closed", window.message_vi, window.message_en)
            if field.daily_cap is not None and tx.issued_count(day, field_id) >= field.daily_cap:
                raise IssuingClosed("sold_out",
                                    f"Lĩnh vực {field.name} đã hết số hôm nay. Xin mời quay lại vào ngày làm việc tiếp theo.",
                                    f"No more tickets today for {field.name_en or field.name}.")
            seq = tx.next_seq(day, field_id)
            ticket = Ticket(
                id=str(uuid.uuid4()), day=day, origin_field=field_id, seq=seq,
                number=field.format_number(seq), field_id=field_id, priority=priority,
                priority_group=priority_group, status=TicketStatus.WAITING, issued_at=now,
                source=source, order=tx.next_issue_order(), print_pending=print_pending,
            )
            tx.insert_ticket(ticket)
            ahead, est = self._estimate(tx, day, ticket)
            tx.append(self._event(EventKind.ISSUED, ticket, now, data={
                "number": ticket.number, "priority": priority, "priority_group": priority_group,
                "source": source, "waiting_ahead": ahead, "est_wait_min": est,
                **({"print": "pending"} if print_pending else {})}))
            self._queue_changed(tx, pending, day)
        return IssuedTicket(ticket, ahead, est)

    def cancel(self, ticket_id: str, staff: str | None, reason: str,
               authorize: Callable[[Ticket], None] | None = None) -> Ticket:
        """Cancel a ticket that is still open (e.g. its print failed): logged, never deleted.
        `authorize(ticket)` (the HTTP layer's counter check) runs inside the transaction, on the
        ticket as it is now, and refuses by raising."""
        with self._change() as (tx, pending, now, day):
            ticket = self._ticket(tx, ticket_id)
            if authorize is not None:
                authorize(ticket)
            if ticket.status not in (TicketStatus.WAITING, TicketStatus.CALLED):
                raise Conflict("not_cancellable", "Số này đã kết thúc, không thể hủy.",
                               f"A ticket that is {ticket.status.value} cannot be cancelled.")
            # print_pending stays set on a ticket that was never printed: stats, the daily cap
            # and reports can tell a lost print from a citizen who left.
            cancelled = ticket.with_(status=TicketStatus.CANCELLED, finished_at=now)
            tx.save_ticket(cancelled)
            tx.append(self._event(EventKind.CANCELLED, ticket, now, ticket.counter, staff,
                                  {"reason": reason[:MAX_REASON_LENGTH]}))
            self._queue_changed(tx, pending, day)
            if ticket.status is TicketStatus.CALLED and ticket.counter is not None:
                self._counter_changed(tx, pending, ticket.counter, None)
            self._ticket_changed(pending, cancelled)
        return cancelled

    def confirm_print(self, ticket_id: str, printer: str, printed_bytes: int) -> Ticket:
        """The printer confirmed the ticket's paper: from now on it may be called. Logged as a
        `printed` event with the printer's id and the job's size in bytes."""
        with self._change() as (tx, _pending, now, _day):
            ticket = self._ticket(tx, ticket_id)
            if ticket.print_pending:
                ticket = ticket.with_(print_pending=False)
                tx.save_ticket(ticket)
            tx.append(self._event(EventKind.PRINTED, ticket, now, data={
                "number": ticket.number, "printer": printer, "bytes": printed_bytes}))
        return ticket

    def cancel_unconfirmed_prints(self, reason: str = "print_not_confirmed") -> list[Ticket]:
        """Cancel every open ticket whose print was never confirmed (the hub stopped while it
        was printing): nobody can be sure the citizen holds it, so it must never be called.
        Called once at start-up, before any kiosk prints. Returns the cancelled tickets."""
        cancelled: list[Ticket] = []
        with self._change() as (tx, pending, now, day):
            for ticket in tx.unconfirmed_prints():
                done = ticket.with_(status=TicketStatus.CANCELLED, finished_at=now)
                tx.save_ticket(done)
                tx.append(self._event(EventKind.CANCELLED, ticket, now, ticket.counter, None,
                                      {"reason": reason[:MAX_REASON_LENGTH]}))
                self._ticket_changed(pending, done)
                cancelled.append(done)
            if cancelled:
                self._queue_changed(tx, pending, day)
        return cancelled

    def record_reprint(self, ticket_id: str, by: str, printed_bytes: int) -> None:
        """A ticket's paper was printed again (the citizen lost it): one line in its history."""
        with self._change() as (tx, _pending, now, _day):
            ticket = self._ticket(tx, ticket_id)
            tx.append(self._event(EventKind.REPRINTED, ticket, now, None, by,
                                  {"number": ticket.number, "bytes": printed_bytes}))

    # ------------------------------------------------------------------- calling
    def _finish_in(self, tx: UnitOfWork, pending: _Pending, now: datetime, ticket: Ticket,
                   staff: str | None, outcome: Outcome | None, dossiers: int | None) -> Ticket:
        done = ticket.with_(status=TicketStatus.DONE, finished_at=now, outcome=outcome,
                            dossiers=dossiers)
        tx.save_ticket(done)
        assert ticket.called_at is not None
        tx.append(self._event(EventKind.FINISHED, done, now, ticket.counter, staff, {
            "outcome": outcome.value if outcome else None, "dossiers": dossiers,
            "service_seconds": round((now - ticket.called_at).total_seconds(), 3)}))
        self._ticket_changed(pending, done)
        return done

    def call_next(self, counter_no: int, staff: str | None) -> Ticket | None:
        """'Next': finish what is being served (outcome left unrecorded), then call the next
        ticket by the counter's field order and the priority rule. None when nobody waits."""
        counter = self.counter(counter_no)
        with self._change() as (tx, pending, now, day):
            self._require_open(tx, counter_no)
            current = tx.serving(day).get(counter_no)
            if current is not None:
                self._finish_in(tx, pending, now, current, staff, None, None)
            waiting = tx.queue_heads(day, counter.fields, counter_no)
            fields = {t.field_id for t in waiting} | set(counter.fields)
            streaks = {f: tx.priority_streak(day, f, self.rules.priority.max_consecutive)
                       for f in fields}
            choice = rules.next_choice(counter, waiting, streaks, self.rules.priority)
            if choice is None:
                if current is not None:
                    self._counter_changed(tx, pending, counter_no, None)
                return None
            chosen, guarded = choice
            return self._call_in(tx, pending, now, day, chosen, counter_no, staff, {"guarded": guarded})

    def _call_in(self, tx: UnitOfWork, pending: _Pending, now: datetime, day: date, ticket: Ticket,
                 counter_no: int, staff: str | None, detail: dict[str, Any]) -> Ticket:
        """Call `ticket` at `counter_no`: save it as called, log the `called` event (number,
        priority, wait in seconds, plus `detail`) and queue the call, the waiting counts and the
        counter's tile. Shared by "next" and calling a number."""
        called = ticket.with_(status=TicketStatus.CALLED, called_at=now, counter=counter_no,
                              staff=staff, target_counter=None, recalls=0)
        tx.save_ticket(called)
        tx.append(self._event(EventKind.CALLED, called, now, counter_no, staff, {
            "number": called.number, "priority": called.priority, **detail,
            "wait_seconds": round((now - called.issued_at).total_seconds(), 3)}))
        self._called(tx, pending, called, recall=False)
        self._queue_changed(tx, pending, day)
        self._counter_changed(tx, pending, counter_no, called)
        return called

    def recall(self, counter_no: int, staff: str | None) -> Ticket:
        self.counter(counter_no)
        with self._change() as (tx, pending, now, day):
            current = self._serving(tx, day, counter_no)
            recalled = current.with_(recalls=current.recalls + 1)
            tx.save_ticket(recalled)
            tx.append(self._event(EventKind.RECALLED, recalled, now, counter_no, staff,
                                  {"number": recalled.number, "recalls": recalled.recalls}))
            self._called(tx, pending, recalled, recall=True)
        return recalled

    def no_show(self, counter_no: int, staff: str | None, ticket_id: str | None = None) -> Ticket:
        """Mark the citizen absent: the ticket being served, or (any time after its call) a
        ticket this counter called that was closed by 'next' without an outcome."""
        self.counter(counter_no)
        with self._change() as (tx, pending, now, day):
            if ticket_id is None:
                ticket = self._serving(tx, day, counter_no)
            else:
                ticket = self._ticket(tx, ticket_id)
                auto_closed = ticket.status is TicketStatus.DONE and ticket.outcome is None
                if ticket.counter != counter_no or not (
                    ticket.status is TicketStatus.CALLED or auto_closed
                ) or ticket.rating is not None:
                    raise Conflict("not_no_show", "Không thể đánh dấu vắng mặt cho số này.",
                                   "This ticket cannot be marked as a no-show from this counter.")
            absent = ticket.with_(status=TicketStatus.NO_SHOW, finished_at=now)
            tx.save_ticket(absent)
            tx.append(self._event(EventKind.NO_SHOW, absent, now, counter_no, staff,
                                  {"number": absent.number}))
            if ticket.status is TicketStatus.CALLED:
                self._counter_changed(tx, pending, counter_no, None)
            self._ticket_changed(pending, absent)
        return absent

    def requeue(self, ticket_id: str, staff: str | None, counter_no: int | None = None,
                authorize: Callable[[Ticket], None] | None = None) -> Ticket:
        """Put a no-show ticket back in its queue, at its original place. `authorize` as for
        `cancel`."""
        with self._change() as (tx, pending, now, day):
            ticket = self._ticket(tx, ticket_id)
            if authorize is not None:
                authorize(ticket)
            if ticket.status is not TicketStatus.NO_SHOW or ticket.day != day:
                raise Conflict("not_requeueable", "Chỉ số vắng mặt trong ngày mới được xếp lại hàng chờ.",
                               "Only today's no-show tickets can be re-queued.")
            back = ticket.with_(status=TicketStatus.WAITING, counter=None, staff=None,
                                finished_at=None, called_at=None, recalls=0)
            tx.save_ticket(back)
            tx.append(self._event(EventKind.REQUEUED, back, now, counter_no, staff,
                                  {"number": back.number}))
            self._queue_changed(tx, pending, day)
            self._ticket_changed(pending, back)
        return back

    def transfer(self, counter_no: int, staff: str | None, to_field: str | None = None,
                 to_counter: int | None = None) -> Ticket:
        """Move the ticket being served to another field or counter, same number, same place."""
        self.counter(counter_no)
        if (to_field is None) == (to_counter is None):
            raise InvalidRequest("transfer_target", "Chọn đúng một nơi chuyển đến: lĩnh vực hoặc quầy.",
                                 "Give exactly one of service or counter.")
        if to_field is not None:
            self._field(to_field)
        if to_counter is not None:
            self.counter(to_counter)
            if to_counter == counter_no:
                raise InvalidRequest("transfer_same_counter", "Không thể chuyển đến chính quầy này.",
                                     "Cannot transfer a ticket to its own counter.")
        with self._change() as (tx, pending, now, day):
            ticket = self._serving(tx, day, counter_no)
            moved = ticket.with_(status=TicketStatus.WAITING, counter=None, staff=None,
                                 field_id=to_field or ticket.field_id, target_counter=to_counter,
                                 recalls=0)
            tx.save_ticket(moved)
            tx.append(self._event(EventKind.TRANSFERRED, moved, now, counter_no, staff, {
                "number": ticket.number, "from_field": ticket.field_id, "to_field": moved.field_id,
                "to_counter": to_counter}))
            self._queue_changed(tx, pending, day)
            self._counter_changed(tx, pending, counter_no, None)
            self._ticket_changed(pending, moved)
        return moved

    def finish(self, counter_no: int, staff: str | None, outcome: Outcome,
               dossiers: int | None = None) -> Ticket:
        self.counter(counter_no)
        if dossiers is None:
            dossiers = 1 if outcome is Outcome.RECEIVED else 0
        if not 0 <= dossiers <= MAX_DOSSIERS:
            raise InvalidRequest("dossiers_range", f"Số hồ sơ phải từ 0 đến {MAX_DOSSIERS}.",
                                 f"dossiers must be between 0 and {MAX_DOSSIERS}.")
        with self._change() as (tx, pending, now, day):
            current = self._serving(tx, day, counter_no)
            done = self._finish_in(tx, pending, now, current, staff, outcome, dossiers)
            self._counter_changed(tx, pending, counter_no, None)
            pending.add("ticket_finished", {"counter": counter_no, "number": done.number,
                                            "service": done.field_id, "seq": tx.last_event_id()})
        return done

    # ------------------------------------------------------------------ counters
    def pause(self, counter_no: int, staff: str | None, reason: str,
              minutes: int | None = None, note: str | None = None) -> CounterState:
        self.counter(counter_no)
        if reason not in PAUSE_REASONS:
            raise InvalidRequest("pause_reason", "Lý do tạm ngưng không hợp lệ.",
                                 f"reason must be one of {', '.join(PAUSE_REASONS)}.")
        if minutes is not None and not 1 <= minutes <= MAX_PAUSE_MINUTES:
            raise InvalidRequest("pause_minutes", f"Thời gian tạm ngưng phải từ 1 đến {MAX_PAUSE_MINUTES} phút.",
                                 f"minutes must be between 1 and {MAX_PAUSE_MINUTES}.")
        with self._change() as (tx, pending, now, day):
            if tx.serving(day).get(counter_no) is not None:
                raise Conflict("serving", "Hãy hoàn thành số đang phục vụ trước khi tạm ngưng.",
                               "Finish the ticket being served before pausing.")
            state = CounterState(counter_no, CounterStatus.PAUSED, reason,
                                 (note or "")[:MAX_REASON_LENGTH] or None, now,
                                 now + timedelta(minutes=minutes) if minutes else None)
            tx.save_counter_state(state)
            tx.append(Event(EventKind.COUNTER_PAUSED, now, day, None, None, counter_no, staff,
                            {"reason": reason, "minutes": minutes, "note": state.note}))
            self._counter_changed(tx, pending, counter_no, None)
        return state

    def resume(self, counter_no: int, staff: str | None) -> CounterState:
        self.counter(counter_no)
        with self._change() as (tx, pending, now, day):
            before = tx.counter_states().get(counter_no, CounterState(counter_no))
            state = CounterState(counter_no, CounterStatus.OPEN, since=now)
            tx.save_counter_state(state)
            if before.status is CounterStatus.PAUSED:
                tx.append(Event(EventKind.COUNTER_RESUMED, now, day, None, None, counter_no, staff,
                                {"paused_seconds": round((now - before.since).total_seconds(), 3)
                                 if before.since else None}))
            self._counter_changed(tx, pending, counter_no, tx.serving(day).get(counter_no))
        return state

    # ------------------------------------------------------------------- ratings
    def rate(self, ticket_id: str, level: int, reason: str | None = None,
             source: str = "api") -> Ticket:
        """One rating per served ticket, tied to its counter and staff; never a default."""
        levels = self.rules.rating_levels
        if not 1 <= level <= len(levels):
            raise InvalidRequest("rating_level", f"Mức đánh giá phải từ 1 đến {len(levels)}.",
                                 f"level must be between 1 and {len(levels)}.")
        with self._change() as (tx, pending, now, day):
            ticket = self._ticket(tx, ticket_id)
            if ticket.status is not TicketStatus.DONE:
                raise Conflict("not_served", "Chỉ đánh giá được sau khi đã được phục vụ.",
                               "Only a served ticket can be rated.")
            if ticket.rating is not None:
                raise Conflict("already_rated", "Số này đã được đánh giá. Mỗi lượt chỉ đánh giá một lần.",
                               "This ticket has already been rated; one rating per ticket.")
            assert ticket.finished_at is not None
            if now - ticket.finished_at > timedelta(minutes=self.rules.rating_window_minutes):
                raise Conflict("rating_expired", "Đã hết thời gian đánh giá cho lượt này.",
                               "The time to rate this visit has passed.")
            rated = ticket.with_(rating=level)
            tx.save_ticket(rated)
            tx.append(self._event(EventKind.RATED, rated, now, ticket.counter, ticket.staff, {
                "level": level, "label": levels[level - 1],
                "reason": (reason or "")[:MAX_REASON_LENGTH] or None, "source": source}))
            pending.add("ticket_rated", {"counter": ticket.counter, "number": ticket.number,
                                         "seq": tx.last_event_id()})
            self._ticket_changed(pending, rated)
        return rated

    def rate_at_counter(self, counter_no: int, level: int, reason: str | None = None,
                        source: str = "counter") -> Ticket:
        """Rate the ticket this counter finished last, if it was finished within the counter
        rating window and is unrated: a counter-side screen or rating box never sees ticket ids."""
        self.counter(counter_no)
        with self._lock:
            day = self.today()
            with self.store.reading() as tx:
                last = tx.last_finished(day, counter_no)
        window = timedelta(seconds=self.rules.counter_rating_seconds)
        if last is None or last.finished_at is None or self.clock.now() - last.finished_at > window:
            raise Conflict("nothing_to_rate", "Hiện không có lượt phục vụ nào để đánh giá tại quầy này.",
                           f"Counter {counter_no} has no recently finished visit to rate.")
        return self.rate(last.id, level, reason, source)

    def rating_target(self, counter_no: int) -> dict[str, Any] | None:
        """What a counter-side rating screen offers now: the number just served, or None."""
        self.counter(counter_no)
        with self._lock:
            day = self.today()
            with self.store.reading() as tx:
                last = tx.last_finished(day, counter_no)
        if last is None or last.finished_at is None or last.rating is not None:
            return None
        window = self.rules.counter_rating_seconds
        # min(): a clock stepped back since the finish must not stretch the offer beyond its window
        left = min(window - (self.clock.now() - last.finished_at).total_seconds(), window)
        if left <= 0:
            return None
        return {"counter": counter_no, "number": last.number, "service": last.field_id,
                "seconds_left": round(left), "levels": list(self.rules.rating_levels)}

    # --------------------------------------------------------------------- views
    def _counter_view(self, number: int, state: CounterState, current: Ticket | None,
                      served_today: int | None = None) -> dict[str, Any]:
        counter = self.rules.counters[number]
        return {
            "counter": number,
            "name": counter.name,
            "zone": counter.zone,
            "fields": list(counter.fields),
            "status": state.status.value,
            "pause_reason": state.reason,
            "pause_label": PAUSE_REASONS.get(state.reason or "") if state.reason else None,
            "paused_until": state.until.isoformat() if state.until else None,
            **({"served_today": served_today} if served_today is not None else {}),
            "current": None if current is None else {
                "number": current.number,
                "service": current.field_id,
                "called_at": current.called_at.isoformat() if current.called_at else None,
            },
        }

    def counter_view(self, number: int) -> dict[str, Any]:
        """One counter as `state` shows it (what pause and resume answer)."""
        self.counter(number)
        with self._lock:
            day = self.today()
            with self.store.reading() as tx:
                state = tx.counter_states().get(number, CounterState(number))
                return self._counter_view(number, state, tx.serving(day).get(number),
                                          tx.served_counts(day).get(number, 0))

    def get_ticket(self, ticket_id: str) -> Ticket:
        with self._lock, self.store.reading() as tx:
            return self._ticket(tx, ticket_id)

    def ticket_view(self, ticket_id: str) -> dict[str, Any]:
        """What the phone page and GET /tickets/<id> show: no personal data, ever."""
        with self._lock:
            day = self.today()
        with self._lock, self.store.reading() as tx:
            ticket = self._ticket(tx, ticket_id)
            ahead: int | None = None
            est: int | None = None
            if ticket.status is TicketStatus.WAITING and ticket.day == day:
                ahead, est = self._estimate(tx, day, ticket)
        return {
            **ticket_json(ticket, self.rules),
            "waiting_ahead": ahead,
            "est_wait_min": est,
        }

    def snapshot(self, zone: str | None = None) -> dict[str, Any]:
        """The full public state a display needs on (re)connect."""
        with self._lock:
            now = self.clock.now()
            day = self._turn(now)
        with self._lock, self.store.reading() as tx:
            states = tx.counter_states()
            serving = tx.serving(day)
            waiting = self._waiting_counts(tx, day)
            calls = tx.recent_calls(day, 20)
            served = tx.served_counts(day)
            seq = tx.last_event_id()
        counters = [
            self._counter_view(n, states.get(n, CounterState(n)), serving.get(n), served.get(n, 0))
            for n, c in self.rules.counters.items()
            if zone is None or c.zone == zone
        ]
        numbers = {c["counter"] for c in counters}
        return {
            "seq": seq,
            "center": {"name": self.rules.center_name, "timezone": str(self.rules.timezone)},
            "now": now.isoformat(),
            "day": day.isoformat(),
            "zone": zone,
            "counters": counters,
            "services": [
                {"id": f.id, "name": f.name, "waiting": waiting.get(f.id, 0)}
                for f in self.rules.fields.values()
            ],
            "waiting": waiting,
            "recent_calls": [c for c in calls if c["counter"] in numbers][:10],
        }

    def services_view(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        local = now.astimezone(self.rules.timezone)
        with self._lock:
            day = self._turn(now)
        with self._lock, self.store.reading() as tx:
            waiting = self._waiting_counts(tx, day)
            out = []
            for f in self.rules.fields.values():
                window = self.rules.hours_for(f.id).issuing_window(local)
                sold_out = f.daily_cap is not None and tx.issued_count(day, f.id) >= f.daily_cap
                out.append({
                    "id": f.id, "name": f.name, "name_en": f.name_en or f.name,
                    "prefix": f.prefix, "waiting": waiting.get(f.id, 0),
                    "issuing": window.open and not sold_out,
                    "closed_reason": "sold_out" if window.open and sold_out else window.reason,
                    "closed_message": window.message_vi if not window.open else (
                        f"Lĩnh vực {f.name} đã hết số hôm nay." if sold_out else None),
                })
        return out

    def authorize_counter(self, counter_no: int, allowed: set[int] | None) -> None:
        """`allowed` None means any counter (admin, manager, trusted device)."""
        self.counter(counter_no)
        if allowed is not None and counter_no not in allowed:
            raise Forbidden("foreign_counter", f"Bạn không được thao tác trên quầy {counter_no}.",
                            f"You may not act on counter {counter_no}.")

    # ------------------------------------------------------------ counter panel
    # What the staff panel needs beyond the plain buttons (SPEC §3): what this counter can call,
    # today's no-shows of its fields with a re-queue, and calling one number on request.

    def _panel_may_touch(self, counter: Counter, ticket: Ticket) -> bool:
        """A counter may act on a ticket of one of its fields, one reserved for it, or one it
        called itself (a no-show it marked, even after a transfer brought it from elsewhere)."""
        return (ticket.field_id in counter.fields or ticket.target_counter == counter.number
                or ticket.counter == counter.number)

    def counter_queue(self, counter_no: int) -> dict[str, Any]:
        """What counter `counter_no` can call now, per field, and today's no-shows it may re-queue.

        Shape: {"counter", "seq", "callable": int, "fields": [{"service", "own", "callable",
        "waiting", "reserved_here", "reserved_elsewhere"}] (the counter's fields in calling order,
        then the others), "no_shows": [ticket_json…]}. `waiting` counts the field's unreserved
        tickets (any counter serving the field may call them); `callable` is what this counter
        may call from the field: its unreserved tickets if the counter serves it, plus those
        transferred to this counter; tickets transferred to other counters are only counted apart,
        in `reserved_elsewhere` (SPEC §3 Calling, Transfer). Raises NotFound for an unknown counter.
        """
        counter = self.counter(counter_no)
        with self._lock, self.store.reading() as tx:
            day = self.today()
            counts = tx.waiting_by_target(day)
            absent = tx.no_shows(day)
            seq = tx.last_event_id()
        order = list(counter.fields) + [f for f in self.rules.fields if f not in counter.fields]

        def blank(field_id: str) -> dict[str, Any]:
            return {"service": field_id, "own": field_id in counter.fields, "callable": 0,
                    "waiting": 0, "reserved_here": 0, "reserved_elsewhere": 0}

        rows = {f: blank(f) for f in order}
        for field_id, target, count in counts:
            row = rows.get(field_id)
            if row is None:
                # A field removed from the config since the ticket was issued: only a ticket
                # transferred to this counter can still be called here ("next" takes it).
                if target != counter_no:
                    continue
                row = rows[field_id] = blank(field_id)
            if target is None:
                row["waiting"] += count
            elif target == counter_no:
                row["reserved_here"] += count
            else:
                row["reserved_elsewhere"] += count
        for row in rows.values():
            row["callable"] = (row["waiting"] if row["own"] else 0) + row["reserved_here"]
        return {
            "counter": counter_no,
            "seq": seq,
            "callable": sum(int(r["callable"]) for r in rows.values()),
            "fields": list(rows.values()),
            "no_shows": [ticket_json(t, self.rules) for t in absent if self._panel_may_touch(counter, t)],
        }

    def requeue_at_counter(self, counter_no: int, ticket_id: str, staff: str | None) -> Ticket:
        """Re-queue today's no-show `ticket_id` from counter `counter_no`'s panel: allowed for a
        ticket of one of the counter's fields, or one this counter marked (SPEC §3: "a no-show
        ticket can be re-queued by staff"). It goes back to its queue at its original place.
        Raises NotFound (unknown counter or ticket), Conflict (not a no-show of today, or of a
        field this counter does not serve)."""
        counter = self.counter(counter_no)
        with self._lock:
            ticket = self.get_ticket(ticket_id)
            if not self._panel_may_touch(counter, ticket):
                field = self.rules.fields.get(ticket.field_id)
                name = field.name if field else ticket.field_id
                raise Conflict("foreign_field",
                               f"Số {ticket.number} thuộc lĩnh vực {name}, {counter.name} không phục vụ lĩnh vực này.",
                               f"Number {ticket.number} belongs to a service counter {counter_no} does not serve.")
            return self.requeue(ticket_id, staff, counter_no)

    @staticmethod
    def normalize_number(text: str) -> str:
        """The printed number as staff type it ("1023", " a023 ") → as stored ("1023", "A023").
        Raises InvalidRequest unless it is a field's prefix (0–2 letters A–Z, docs/configuration.md)
        followed by 1–9 digits (start ≤ 999999 plus the day's tickets)."""
        value = "".join(text.split()).upper()
        letters = value.rstrip("0123456789")
        digits = value[len(letters):]
        if not (1 <= len(digits) <= 9 and len(letters) <= 2 and letters.isascii()
                and (letters.isalpha() or not letters)):
            raise InvalidRequest("bad_number",
                                 f"'{text.strip()[:20]}' không phải số thứ tự. Hãy nhập đúng số in trên phiếu, ví dụ 1023 hoặc A023.",
                                 f"'{text.strip()[:20]}' is not a ticket number; type the number printed on the ticket, e.g. 1023 or A023.")
        return value

    def call_number(self, counter_no: int, number: str, staff: str | None) -> Ticket:
        """Call one given ticket at `counter_no`, by the number printed on it.

        The ticket must be today's, in one of the counter's fields (or transferred to this
        counter), and either waiting (not reserved for another counter) or a no-show, which is
        re-queued and called in the same transaction (events `requeued`, then `called`). As with
        "next" (SPEC §3 Calling), a ticket still being served here is finished first with no
        outcome recorded. Raises InvalidRequest (not a number), NotFound (no such number today),
        Conflict (paused counter, another field, reserved elsewhere, being served, finished).
        """
        counter = self.counter(counter_no)
        wanted = self.normalize_number(number)
        with self._change() as (tx, pending, now, day):
            self._require_open(tx, counter_no)
            found = tx.tickets_numbered(day, wanted)
            mine = [t for t in found if self._panel_may_touch(counter, t)]
            if not found:
                raise NotFound("unknown_number", f"Hôm nay chưa cấp số {wanted}.",
                               f"No ticket numbered {wanted} was issued today.")
            if not mine:
                other = found[0]
                field = self.rules.fields.get(other.field_id)
                name = field.name if field else other.field_id
                raise Conflict("foreign_field",
                               f"Số {wanted} thuộc lĩnh vực {name}, {counter.name} không phục vụ lĩnh vực này.",
                               f"Number {wanted} belongs to {(field.name_en or field.name) if field else name}, "
                               f"which counter {counter_no} does not serve.")
            callable_ = [t for t in mine if t.status is TicketStatus.NO_SHOW or (
                t.status is TicketStatus.WAITING and not t.print_pending
                and t.target_counter in (None, counter_no))]
            if not callable_:
                raise self._why_not_callable(counter, mine[0])
            ticket = callable_[0]
            current = tx.serving(day).get(counter_no)
            if current is not None:
                self._finish_in(tx, pending, now, current, staff, None, None)
            if ticket.status is TicketStatus.NO_SHOW:
                back = ticket.with_(status=TicketStatus.WAITING, counter=None, staff=None,
                                    finished_at=None, called_at=None, recalls=0)
                tx.save_ticket(back)
                tx.append(self._event(EventKind.REQUEUED, back, now, counter_no, staff,
                                      {"number": back.number, "by_number": True}))
                ticket = back
            return self._call_in(tx, pending, now, day, ticket, counter_no, staff, {"by_number": True})

    def _why_not_callable(self, counter: Counter, ticket: Ticket) -> Conflict:
        """Why `ticket` (of this counter's fields) cannot be called by number at `counter`."""
        number = ticket.number
        if ticket.status is TicketStatus.WAITING and ticket.print_pending:
            return Conflict("print_pending", f"Số {number} đang được in, chưa gọi được.",
                            f"Number {number} is still being printed and cannot be called yet.")
        if ticket.status is TicketStatus.WAITING and ticket.target_counter is not None:
            other = self.rules.counters.get(ticket.target_counter)
            return Conflict("reserved_elsewhere",
                            f"Số {number} đã được chuyển riêng cho {other.name if other else ticket.target_counter}.",
                            f"Number {number} was transferred to counter {ticket.target_counter}.")
        if ticket.status is TicketStatus.CALLED:
            if ticket.counter == counter.number:
                return Conflict("already_serving",
                                f"Số {number} đang được phục vụ tại quầy này. Dùng \"Gọi lại\" để gọi lại.",
                                f"Number {number} is being served here already; use Recall.")
            other = self.rules.counters.get(ticket.counter or 0)
            return Conflict("served_elsewhere",
                            f"Số {number} đang được phục vụ tại {other.name if other else ticket.counter}.",
                            f"Number {number} is being served at counter {ticket.counter}.")
        if ticket.status is TicketStatus.DONE:
            return Conflict("already_done", f"Số {number} đã được phục vụ xong.",
                            f"Number {number} has been served already.")
        return Conflict("not_callable", f"Số {number} đã bị hủy, không gọi được.",
                       f"Number {number} was cancelled and cannot be called.")


def ticket_json(ticket: Ticket, rules_: CenterRules) -> dict[str, Any]:
    """A ticket as the API shows it (public fields only)."""
    field = rules_.fields.get(ticket.field_id)
    return {
        "id": ticket.id,
        "number": ticket.number,
        "service": ticket.field_id,
        "service_name": field.name if field else ticket.field_id,
        "status": ticket.status.value,
        "priority": ticket.priority,
        "priority_group": ticket.priority_group,
        "issued_at": ticket.issued_at.astimezone(rules_.timezone).isoformat(),
        "called_at": ticket.called_at.astimezone(rules_.timezone).isoformat() if ticket.called_at else None,
        "finished_at": ticket.finished_at.astimezone(rules_.timezone).isoformat() if ticket.finished_at else None,
        "counter": ticket.counter,
        "target_counter": ticket.target_counter,
        "outcome": ticket.outcome.value if ticket.outcome else None,
        "dossiers": ticket.dossiers,
        "rated": ticket.rating is not None,
        # "day_end" when the visit was still open as its day ended (status is then `cancelled`)
        "closed_reason": ticket.closed_reason,
    }
