"""TicketDispenser on the real queue service and SQLite store: ask the printer first, issue, print,
and cancel what could not be printed. Printers are the simulated spool printer or small fakes at
the `_send` seam; the clock is set by hand."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kiosk.dispenser import (
    REPRINT_FOOTER,
    PrintFailed,
    PrinterUnavailable,
    TicketDispenser,
)
from kiosk.printers import PrinterError, PrinterStatus, SpoolPrinter
from kiosk.ticket import TicketContent
from queue_server.config import parse_config
from queue_server.core.errors import Conflict, NotFound
from queue_server.core.models import Outcome, TicketStatus
from queue_server.core.ports import ManualClock
from queue_server.core.service import QueueService
from queue_server.storage import SqliteStore
from tests.conftest import RecordingPublisher

MONDAY_9AM = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # 09:00 in Hà Nội
CONFIG = """
[center]
name = "Trung tâm Phục vụ hành chính công xã Kim Thành"
public_url = "http://192.168.1.10:8080"

[[fields]]
id = "ho-tich"
name = "Hộ tịch"
start = 1001

[[fields]]
id = "dang-ky-kinh-doanh"
name = "Đăng ký kinh doanh"
start = 4001

[[counters]]
number = 1
fields = ["ho-tich", "dang-ky-kinh-doanh"]
"""


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        config = parse_config(CONFIG)
        self.store = SqliteStore(tmp_path / "queue.sqlite3")
        self.clock = ManualClock(MONDAY_9AM)
        self.publisher = RecordingPublisher()
        self.service = QueueService(config.rules, self.store, self.clock, self.publisher)
        self.spool = tmp_path / "printer-spool"
        self.public_url = config.public_url

    def dispenser(self, printer: Any) -> TicketDispenser:
        return TicketDispenser(self.service, printer, self.service.rules, self.public_url,
                               publish=self.publisher.publish, lock_timeout=5)

    def tickets(self) -> list[Any]:
        with self.store.reading() as tx:
            return tx.tickets_between(MONDAY_9AM.date(), MONDAY_9AM.date())

    def events(self, ticket_id: str) -> list[dict[str, Any]]:
        with self.store.reading() as tx:
            return tx.events_for(ticket_id)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    yield s
    s.store.close()


def test_dispense_issues_then_prints_the_ticket(setup: Setup) -> None:
    printer = SpoolPrinter(setup.spool)
    dispenser = setup.dispenser(printer)
    setup.service.issue("ho-tich")  # someone is already waiting
    done = dispenser.dispense("ho-tich", source="kiosk-1")

    assert done.ticket.number == "1002" and done.ticket.source == "kiosk-1"
    content = done.content
    assert content.center_name == "Trung tâm Phục vụ hành chính công xã Kim Thành"
    assert content.field_name == "Hộ tịch" and content.number == "1002"
    assert content.waiting_ahead == 1 == done.waiting_ahead
    assert content.issued_at.utcoffset().total_seconds() == 7 * 3600  # type: ignore[union-attr]
    assert content.issued_line() == "Ngày giờ lấy số: 23/11/2026 09:00"
    assert content.status_url == f"http://192.168.1.10:8080/t/{done.ticket.id}"
    assert printer.last_job is not None and printer.last_job.bin_path.name.startswith("1002-")
    assert done.bytes_written == printer.last_job.bin_path.stat().st_size
    health = dispenser.health()
    assert health.tickets_printed == 1 and health.status is PrinterStatus.OK


@pytest.mark.parametrize("state", ["paper_out", "cover_open", "offline", "error"])
def test_a_printer_that_cannot_print_gets_no_ticket_issued(setup: Setup, state: str) -> None:
    printer = SpoolPrinter(setup.spool, state=state)
    dispenser = setup.dispenser(printer)
    with pytest.raises(PrinterUnavailable) as err:
        dispenser.dispense("ho-tich")
    status = PrinterStatus(state)
    assert err.value.code == f"printer_{state}"
    assert err.value.message_vi == status.message_vi
    assert setup.tickets() == [], "nothing issued, nothing to cancel"
    assert not setup.spool.exists()
    (event,) = setup.publisher.named("device_health")
    assert event["status"] == state and event["can_print"] is False
    assert dispenser.health().refusals == 1


class BrokenPrinter(SpoolPrinter):
    """Answers status like a healthy printer, then the transfer fails (cable pulled mid-ticket)."""

    def _send(self, data: bytes, content: TicketContent) -> None:
        raise PrinterError("connection reset by peer")


def test_a_print_that_fails_after_issue_cancels_the_ticket(setup: Setup) -> None:
    dispenser = setup.dispenser(BrokenPrinter(setup.spool))
    with pytest.raises(PrintFailed) as err:
        dispenser.dispense("ho-tich")
    assert err.value.code == "print_failed" and err.value.cancelled
    assert "1001" in err.value.message_vi and "đã được hủy" in err.value.message_vi
    (ticket,) = setup.tickets()
    assert ticket.number == "1001" and ticket.status is TicketStatus.CANCELLED
    kinds = [(e["kind"], e["data"].get("reason"), e["staff"]) for e in setup.events(ticket.id)]
    assert kinds == [("issued", None, None), ("cancelled", "print_failed", None)]
    assert setup.service.snapshot()["waiting"]["ho-tich"] == 0
    assert setup.publisher.named("queue_changed")[-1]["waiting"]["ho-tich"] == 0
    health = dispenser.health()
    assert health.print_failures == 1 and health.tickets_printed == 0
    assert health.last_error is not None and health.last_error["code"] == "print_failed"
    assert "connection reset" in (health.detail or "")
    # The next ticket takes the next number: numbers are never reused within a day.
    ok = setup.dispenser(SpoolPrinter(setup.spool)).dispense("ho-tich")
    assert ok.ticket.number == "1002"


def test_paper_near_end_prints_and_warns(setup: Setup) -> None:
    dispenser = setup.dispenser(SpoolPrinter(setup.spool, state="near_end"))
    done = dispenser.dispense("ho-tich")
    assert done.printer_status is PrinterStatus.PAPER_NEAR_END
    assert done.warnings == (PrinterStatus.PAPER_NEAR_END.message_vi,)
    (event,) = setup.publisher.named("device_health")
    assert event["status"] == "paper_near_end" and event["can_print"] is True
    dispenser.dispense("ho-tich")
    assert len(setup.publisher.named("device_health")) == 1, "told once, not per ticket"


def test_a_paper_low_sensor_counts_as_near_end(setup: Setup) -> None:
    dispenser = setup.dispenser(SpoolPrinter(setup.spool))
    dispenser.check_printer()
    dispenser.set_paper_low(True)
    assert dispenser.health().status is PrinterStatus.PAPER_NEAR_END
    assert dispenser.dispense("ho-tich").printer_status is PrinterStatus.PAPER_NEAR_END
    dispenser.set_paper_low(False)
    assert dispenser.health().status is PrinterStatus.OK
    statuses = [e["status"] for e in setup.publisher.named("device_health")]
    assert statuses == ["ok", "paper_near_end", "ok"]


class SlowPrinter(SpoolPrinter):
    """Records how many tickets are on the paper path at once."""

    def __init__(self, spool: Path) -> None:
        super().__init__(spool)
        self.active = 0
        self.most = 0
        self.guard = threading.Lock()

    def _send(self, data: bytes, content: TicketContent) -> None:
        with self.guard:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.01)
        super()._send(data, content)
        with self.guard:
            self.active -= 1


def test_one_ticket_at_a_time_on_the_paper_path(setup: Setup) -> None:
    printer = SlowPrinter(setup.spool)
    dispenser = setup.dispenser(printer)
    numbers: list[str] = []

    def tap() -> None:
        numbers.append(dispenser.dispense("ho-tich").ticket.number)

    threads = [threading.Thread(target=tap) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert printer.most == 1
    assert sorted(numbers) == [str(n) for n in range(1001, 1009)]
    assert len(list(setup.spool.glob("*.bin"))) == 8


def test_reprint_a_waiting_ticket_but_not_a_finished_one(setup: Setup) -> None:
    printer = SpoolPrinter(setup.spool)
    dispenser = setup.dispenser(printer)
    first = dispenser.dispense("ho-tich")
    again = dispenser.reprint(first.ticket.id, by="staff1")
    assert again.ticket.id == first.ticket.id and again.content.footer == REPRINT_FOOTER
    assert again.content.issued_at == first.content.issued_at, "the original issue time"
    assert len(list(setup.spool.glob("1001-*.bin"))) == 2
    assert dispenser.health().reprints == 1
    assert len(setup.tickets()) == 1, "a reprint issues nothing"
    with setup.store.reading() as tx:
        history = [(e["kind"], e["staff"]) for e in tx.events_for(first.ticket.id)]
        assert history == [("issued", None), ("printed", None), ("reprinted", "staff1")]

    setup.service.call_next(1, "staff1")
    setup.service.finish(1, "staff1", Outcome.RECEIVED)
    with pytest.raises(Conflict):
        dispenser.reprint(first.ticket.id, by="staff1")
    with pytest.raises(NotFound):
        dispenser.reprint("no-such-ticket", by="staff1")


def test_reprint_refused_when_the_printer_cannot_print(setup: Setup) -> None:
    printer = SpoolPrinter(setup.spool)
    dispenser = setup.dispenser(printer)
    first = dispenser.dispense("ho-tich")
    dispenser.simulate("cover_open")
    with pytest.raises(PrinterUnavailable) as err:
        dispenser.reprint(first.ticket.id, by="staff1")
    assert err.value.code == "printer_cover_open"
    assert setup.tickets()[0].status is TicketStatus.WAITING, "a failed reprint cancels nothing"


def test_only_a_simulated_printer_takes_a_state(setup: Setup, fake_printer: Any) -> None:
    from kiosk.printers import NetworkPrinter

    with NetworkPrinter(fake_printer.host, fake_printer.port, status_timeout=0.3) as real:
        with pytest.raises(ValueError):
            setup.dispenser(real).simulate("paper_out")
