"""A ticket counts only if the printer confirms it: every byte accepted, then a status reply
after the job that says it can print. The printer is the emulated one (TCP and pty) with the
faults real printers show mid-job: hang up after 2 KB, go silent, run out of paper."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_dispenser import MONDAY_9AM, Setup

from kiosk.dispenser import FAILURES_BEFORE_PAUSE, PrintFailed, PrinterUnavailable
from kiosk.escpos_ticket import ticket_bytes
from kiosk.fake_printer import FakePrinter, FakeState
from kiosk.printers import (
    FilePrinter,
    NetworkPrinter,
    PrinterStatus,
    PrintNotConfirmed,
    SerialPrinter,
    SpoolPrinter,
)
from kiosk.ticket import TicketContent
from queue_server.core.models import TicketStatus

TIMEOUT = 0.3
CUT = b"\x1dV"


def network(fake: FakePrinter, confirm: float = 1.0) -> NetworkPrinter:
    return NetworkPrinter(fake.host, fake.port, status_timeout=TIMEOUT, confirm_timeout=confirm)


# --- the printer seam ---------------------------------------------------------------------


def test_a_network_printer_that_hangs_up_after_2_kb_is_not_a_print(
    fake_printer: FakePrinter, ticket: TicketContent
) -> None:
    fake_printer.drop_after = 2048
    with network(fake_printer) as printer:
        assert printer.status() is PrinterStatus.OK, "it answers 'ready' before the job"
        with pytest.raises(PrintNotConfirmed) as err:
            printer.print_ticket(ticket)
    assert err.value.status is PrinterStatus.OFFLINE
    assert fake_printer.dropped == 1
    assert CUT not in fake_printer.received, "the printer really got only part of the ticket"


@pytest.mark.parametrize(("after", "expected"), [
    (FakeState.SILENT, PrinterStatus.OFFLINE),
    (FakeState.PAPER_OUT, PrinterStatus.PAPER_OUT),
    (FakeState.COVER_OPEN, PrinterStatus.COVER_OPEN),
    (FakeState.ERROR, PrinterStatus.ERROR),
], ids=lambda v: str(v))
def test_a_network_printer_that_fails_during_the_job_is_not_a_print(
    fake_printer: FakePrinter, ticket: TicketContent, after: FakeState, expected: PrinterStatus
) -> None:
    fake_printer.after_job = after
    with network(fake_printer, confirm=0.5) as printer:
        with pytest.raises(PrintNotConfirmed) as err:
            printer.print_ticket(ticket)
    assert err.value.status is expected
    assert fake_printer.wait_for(ticket_bytes(ticket), timeout=5), "the whole job did go out"


def test_near_end_after_the_job_is_a_confirmed_print(
    fake_printer: FakePrinter, ticket: TicketContent
) -> None:
    fake_printer.after_job = FakeState.NEAR_END
    with network(fake_printer) as printer:
        assert printer.print_ticket(ticket) == len(ticket_bytes(ticket))
        assert printer.last_reading is not None
        assert printer.last_reading.status is PrinterStatus.PAPER_NEAR_END
    # The status query was asked after the ticket's last byte, not only before it.
    received = fake_printer.received
    assert received.rindex(b"\x10\x04\x01") > received.rindex(CUT)


def test_the_confirmation_never_reconnects(fake_printer: FakePrinter, ticket: TicketContent) -> None:
    """A new connection's 'ready' says nothing about the job the old one dropped."""
    fake_printer.drop_after = 4096
    with network(fake_printer) as printer:
        with pytest.raises(PrintNotConfirmed):
            printer.print_ticket(ticket)
    assert fake_printer.connections == 1


@pytest.mark.parametrize("after", [FakeState.SILENT, FakeState.PAPER_OUT], ids=str)
def test_serial_and_device_file_printers_confirm_too(
    fake_printer: FakePrinter, ticket: TicketContent, after: FakeState
) -> None:
    path = fake_printer.open_serial()
    serial = SerialPrinter(path, dsrdtr=False, status_timeout=TIMEOUT, confirm_timeout=0.5)
    device_file = FilePrinter(path, status_timeout=TIMEOUT, confirm_timeout=0.5)
    for printer in (serial, device_file):
        with printer:
            fake_printer.state = FakeState.OK
            fake_printer.after_job = None
            fake_printer.clear()
            assert printer.print_ticket(ticket) == len(ticket_bytes(ticket))
            fake_printer.state = FakeState.OK
            fake_printer.after_job = after
            with pytest.raises(PrintNotConfirmed) as err:
                printer.print_ticket(ticket)
            assert err.value.status is {FakeState.SILENT: PrinterStatus.OFFLINE,
                                        FakeState.PAPER_OUT: PrinterStatus.PAPER_OUT}[after]


class ShortWriteUsb:
    """pyusb's device at the boundary: the bulk-out endpoint takes fewer bytes than sent."""

    def __init__(self, accept: int) -> None:
        self.accept = accept
        self.written = 0

    def write(self, endpoint: int, data: bytes, timeout: int) -> int:
        self.written += min(len(data), self.accept)
        return min(len(data), self.accept)


def test_a_short_usb_write_is_not_a_print(ticket: TicketContent) -> None:
    from escpos.printer import Dummy

    from kiosk.printers import UsbPrinter

    printer = UsbPrinter(0x0416, 0x5011, status_timeout=TIMEOUT)
    esc = Dummy()
    esc.device = ShortWriteUsb(accept=2048)  # type: ignore[attr-defined]
    printer._esc = esc  # the transport as pyusb would have opened it
    with pytest.raises(PrintNotConfirmed) as err:
        printer.print_ticket(ticket, check_status=False)
    assert "short USB write: 2048" in str(err.value)


# --- the dispenser on the real queue service ---------------------------------------------


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    yield s
    s.store.close()


def test_a_dropped_job_cancels_the_ticket_and_leaves_nothing_to_call(
    setup: Setup, fake_printer: FakePrinter
) -> None:
    fake_printer.drop_after = 2048
    dispenser = setup.dispenser(network(fake_printer))
    with pytest.raises(PrintFailed) as err:
        dispenser.dispense("ho-tich")
    assert err.value.cancelled and err.value.number == "1001"
    (ticket,) = setup.tickets()
    assert ticket.status is TicketStatus.CANCELLED
    assert ticket.print_pending, "marked as never printed: not a visit, not in the daily cap"
    kinds = [(e["kind"], e["data"].get("reason")) for e in setup.events(ticket.id)]
    assert kinds == [("issued", None), ("cancelled", "print_failed")]
    assert setup.service.call_next(1, "staff1") is None, "a phantom is never called"
    health = dispenser.health()
    assert health.print_failures == 1 and health.tickets_printed == 0
    assert health.last_error is not None and health.last_error["code"] == "printer_offline"


def test_after_k_failures_in_a_row_the_printer_stops_burning_numbers(
    setup: Setup, fake_printer: FakePrinter
) -> None:
    fake_printer.drop_after = 2048  # says "ready" every time, loses every ticket
    dispenser = setup.dispenser(network(fake_printer))
    for _ in range(FAILURES_BEFORE_PAUSE):
        with pytest.raises(PrintFailed):
            dispenser.dispense("ho-tich")
    health = dispenser.health()
    assert health.paused and not health.can_print and health.status is PrinterStatus.ERROR
    assert health.consecutive_failures == FAILURES_BEFORE_PAUSE
    pushed = setup.publisher.named("device_health")[-1]
    assert pushed["can_print"] is False and pushed["paused"] is True

    burned = len(setup.tickets())
    with pytest.raises(PrinterUnavailable) as err:
        dispenser.dispense("ho-tich")  # the printer still answers "ready" before the job
    assert err.value.code == "printer_error"
    assert len(setup.tickets()) == burned == FAILURES_BEFORE_PAUSE, "no number issued while paused"

    # Staff fix it; a status probe that finds it ready lifts the pause.
    fake_printer.drop_after = None
    assert dispenser.check_printer().can_print
    done = dispenser.dispense("ho-tich")
    assert done.ticket.number == f"{1001 + FAILURES_BEFORE_PAUSE}"
    health = dispenser.health()
    assert not health.paused and health.consecutive_failures == 0 and health.tickets_printed == 1


def test_a_lifted_pause_returns_at_the_next_failure(setup: Setup, fake_printer: FakePrinter) -> None:
    fake_printer.drop_after = 2048
    dispenser = setup.dispenser(network(fake_printer))
    for _ in range(FAILURES_BEFORE_PAUSE):
        with pytest.raises(PrintFailed):
            dispenser.dispense("ho-tich")
    assert dispenser.check_printer().can_print, "the probe sees 'ready'"
    with pytest.raises(PrintFailed):
        dispenser.dispense("ho-tich")
    assert dispenser.health().paused, "one more lost ticket, not K more"


class HeldPrinter(SpoolPrinter):
    """A slow printer: the job waits until the test lets it through."""

    def __init__(self, spool: Path) -> None:
        super().__init__(spool)
        self.started = threading.Event()
        self.go = threading.Event()

    def _send(self, data: bytes, content: TicketContent) -> None:
        self.started.set()
        assert self.go.wait(10)
        super()._send(data, content)


def test_a_ticket_is_not_called_before_its_print_is_confirmed(setup: Setup) -> None:
    printer = HeldPrinter(setup.spool)
    dispenser = setup.dispenser(printer)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(dispenser.dispense("ho-tich")))
    worker.start()
    try:
        assert printer.started.wait(10)
        (ticket,) = setup.tickets()
        assert ticket.status is TicketStatus.WAITING and ticket.print_pending
        assert setup.service.call_next(1, "staff1") is None, "still on the paper path"
        assert setup.service.snapshot()["waiting"]["ho-tich"] == 1, "it holds its place"
    finally:
        printer.go.set()
        worker.join(10)
    assert result and result[0].ticket.number == "1001"
    called = setup.service.call_next(1, "staff1")
    assert called is not None and called.number == "1001"
    kinds = [e["kind"] for e in setup.events(called.id)]
    assert kinds == ["issued", "printed", "called"]
    printed = setup.events(called.id)[1]["data"]
    assert printed == {"number": "1001", "printer": "default", "bytes": result[0].bytes_written}


def test_unconfirmed_prints_are_cancelled_with_their_reason(setup: Setup) -> None:
    """What start-up does for a ticket whose print outcome was never recorded."""
    held = setup.service.issue("ho-tich", print_pending=True).ticket
    printed = setup.service.issue("ho-tich", print_pending=True).ticket
    setup.service.confirm_print(printed.id, "default", 1234)
    plain = setup.service.issue("ho-tich").ticket  # staff's own API: no print involved
    cancelled = setup.service.cancel_unconfirmed_prints()
    assert [t.id for t in cancelled] == [held.id]
    assert setup.service.get_ticket(held.id).status is TicketStatus.CANCELLED
    reasons = [e["data"].get("reason") for e in setup.events(held.id)]
    assert reasons == [None, "print_not_confirmed"]
    assert setup.service.cancel_unconfirmed_prints() == [], "once"
    numbers = [setup.service.call_next(1, "staff1"), setup.service.call_next(1, "staff1")]
    assert [t.id for t in numbers if t] == [printed.id, plain.id]
    assert MONDAY_9AM.date() == held.day


# --- a real hub stopped in the middle of a print --------------------------------------------


def test_a_hub_killed_mid_print_never_calls_that_ticket(
    hub_factory: Any, tmp_path: Path, fake_printer: FakePrinter
) -> None:
    import requests
    from kiosk_hub_helpers import network_printer, ticket_events, ticket_id_by_number, write_center

    from tests.conftest import DEVICE, login

    # A slow printer: it takes the whole ticket and then says nothing for a long time.
    fake_printer.after_job = FakeState.SILENT
    config = write_center(tmp_path, network_printer(fake_printer, confirm_timeout=60.0))
    hub = hub_factory("--demo", "--config", str(config))
    answers: list[Any] = []

    def tap() -> None:
        try:
            answers.append(requests.post(f"{hub.url}/api/v1/kiosk/tickets", json={"service": "ho-tich"},
                                         headers=DEVICE, timeout=90))
        except requests.RequestException as exc:
            answers.append(exc)

    worker = threading.Thread(target=tap, daemon=True)
    worker.start()
    assert fake_printer.wait_for(CUT, timeout=30), "the hub is printing"
    number = "1001"
    ticket_id = ticket_id_by_number(hub.data, number)
    staff = login(hub.url, "staff1")
    r = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff, timeout=10)
    assert r.status_code == 204, "not callable while its print is unconfirmed"

    hub.kill9()  # the print's outcome is never recorded
    worker.join(10)
    assert answers and not (hasattr(answers[0], "status_code") and answers[0].status_code == 201)

    fake_printer.after_job = None
    fake_printer.state = FakeState.OK
    hub.start()
    assert requests.get(f"{hub.url}/api/v1/tickets/{ticket_id}", timeout=5).json()["status"] == "cancelled"
    kinds = [(kind, data.get("reason")) for kind, data in ticket_events(hub.data, ticket_id)]
    assert kinds == [("issued", None), ("cancelled", "print_not_confirmed")]
    staff = login(hub.url, "staff1")
    r = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff, timeout=10)
    assert r.status_code == 204, "never called"
    assert requests.get(f"{hub.url}/api/v1/state", timeout=5).json()["waiting"]["ho-tich"] == 0

    # The kiosk goes on with the next number, and that one is confirmed and callable.
    r = requests.post(f"{hub.url}/api/v1/kiosk/tickets", json={"service": "ho-tich"}, headers=DEVICE,
                      timeout=30)
    assert r.status_code == 201, r.text
    assert r.json()["number"] == "1002"
    r = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff, timeout=10)
    assert r.status_code == 200 and r.json()["number"] == "1002"


def test_a_lost_print_does_not_use_up_the_daily_cap(tmp_path: Path, fake_printer: FakePrinter) -> None:
    from test_dispenser import CONFIG

    from kiosk.dispenser import TicketDispenser
    from queue_server.config import parse_config
    from queue_server.core.errors import IssuingClosed
    from queue_server.core.ports import ManualClock
    from queue_server.core.service import QueueService
    from queue_server.storage import SqliteStore
    from tests.conftest import RecordingPublisher

    config = parse_config(CONFIG.replace("start = 1001\n", "start = 1001\ndaily_cap = 2\n"))
    store = SqliteStore(tmp_path / "queue.sqlite3")
    try:
        service = QueueService(config.rules, store, ManualClock(MONDAY_9AM), RecordingPublisher())
        dispenser = TicketDispenser(service, network(fake_printer), lock_timeout=5)
        fake_printer.drop_after = 2048
        with pytest.raises(PrintFailed):
            dispenser.dispense("ho-tich")  # 1001 burned
        fake_printer.drop_after = None
        assert [dispenser.dispense("ho-tich").ticket.number for _ in range(2)] == ["1002", "1003"]
        assert service.services_view()[0]["closed_reason"] == "sold_out"
        with pytest.raises(IssuingClosed) as err:
            dispenser.dispense("ho-tich")
        assert err.value.code == "sold_out"
    finally:
        store.close()


def test_a_ticket_still_on_the_paper_path_cannot_be_reprinted(setup: Setup) -> None:
    """Another printer must not put a copy in someone's hand while the first print may still
    fail and cancel the number."""
    from queue_server.core.errors import Conflict

    held = setup.service.issue("ho-tich", print_pending=True).ticket
    dispenser = setup.dispenser(SpoolPrinter(setup.spool))
    with pytest.raises(Conflict) as err:
        dispenser.reprint(held.id, by="staff1")
    assert err.value.code == "print_pending"
    assert not setup.spool.exists(), "nothing printed"
    setup.service.confirm_print(held.id, "default", 1)
    assert dispenser.reprint(held.id, by="staff1").ticket.id == held.id
