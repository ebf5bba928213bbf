"""The simulated spool printer, the device-file backend and printer_from_config."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kiosk.escpos_ticket import ticket_bytes
from kiosk.printers import (
    FilePrinter,
    NetworkPrinter,
    PrinterNotReady,
    PrinterStatus,
    SerialPrinter,
    SpoolPrinter,
    UsbPrinter,
    printer_from_config,
)
from kiosk.ticket import TicketContent


def test_spool_writes_bin_and_png_atomically(tmp_path: Path, ticket: TicketContent) -> None:
    spool = tmp_path / "printer-spool"
    with SpoolPrinter(spool) as printer:
        assert printer.print_ticket(ticket) == len(ticket_bytes(ticket))
        printer.print_ticket(ticket)
    names = sorted(p.name for p in spool.iterdir())
    assert len(names) == 4, "two tickets, two files each, no temp files left"
    stems = {Path(n).stem for n in names}
    assert len(stems) == 2 and all(s.startswith("1023-") for s in stems)
    for stem in stems:
        assert (spool / f"{stem}.bin").read_bytes() == ticket_bytes(ticket)
        assert (spool / f"{stem}.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("ok", PrinterStatus.OK),
        ("near_end", PrinterStatus.PAPER_NEAR_END),
        ("paper_out", PrinterStatus.PAPER_OUT),
        ("cover_open", PrinterStatus.COVER_OPEN),
        ("silent", PrinterStatus.OFFLINE),
        ("error", PrinterStatus.ERROR),
        (PrinterStatus.COVER_OPEN, PrinterStatus.COVER_OPEN),
    ],
)
def test_spool_simulated_states(
    tmp_path: Path, ticket: TicketContent, state: Any, expected: PrinterStatus
) -> None:
    printer = SpoolPrinter(tmp_path)
    printer.simulated_status = state
    assert printer.status() is expected
    if expected.can_print:
        printer.print_ticket(ticket)
        assert printer.last_job is not None and printer.last_job.bin_path.exists()
    else:
        with pytest.raises(PrinterNotReady):
            printer.print_ticket(ticket)
        with pytest.raises(PrinterNotReady):
            printer.print_ticket(ticket, check_status=False)
        assert list(tmp_path.iterdir()) == []


def test_spool_rejects_unknown_state(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jammed"):
        SpoolPrinter(tmp_path, state="jammed")


def test_file_printer_assume_ok_writes_the_bytes(tmp_path: Path, ticket: TicketContent) -> None:
    device = tmp_path / "lp0"
    printer = printer_from_config(
        {"kind": "file", "device": str(device), "status": "assume_ok"}, tmp_path
    )
    with printer:
        assert printer.status() is PrinterStatus.OK
        printer.print_ticket(ticket)
    assert device.read_bytes() == ticket_bytes(ticket)


def test_file_printer_query_on_a_file_that_never_answers_is_offline(tmp_path: Path) -> None:
    device = tmp_path / "lp0"
    device.write_bytes(b"")
    with FilePrinter(str(device), status_timeout=0.2) as printer:
        assert printer.status() is PrinterStatus.OFFLINE


@pytest.mark.parametrize(
    ("cfg", "cls"),
    [
        ({"kind": "simulated"}, SpoolPrinter),
        ({}, SpoolPrinter),
        ({"kind": "network", "host": "10.0.0.9"}, NetworkPrinter),
        ({"kind": "serial", "device": "/dev/ttyUSB0", "baudrate": 38400}, SerialPrinter),
        ({"kind": "usb", "vendor_id": "0x04b8", "product_id": 0x0E15}, UsbPrinter),
        ({"kind": "file", "device": "/dev/usb/lp0"}, FilePrinter),
    ],
)
def test_config_builds_each_kind(tmp_path: Path, cfg: dict[str, Any], cls: type) -> None:
    printer = printer_from_config({"width": 384, "status_timeout": 0.25, **cfg}, tmp_path)
    assert isinstance(printer, cls)
    assert printer.width == 384
    if isinstance(printer, UsbPrinter):
        assert printer.vendor_id == 0x04B8
    printer.close()


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"kind": "laser"}, "kind"),
        ({"kind": "network"}, "host"),
        ({"kind": "network", "host": "h", "port": "nine"}, "port"),
        ({"kind": "network", "host": "h", "port": 70000}, "port"),
        ({"kind": "network", "host": "h", "baudrate": 9600}, "baudrate"),
        ({"kind": "serial"}, "device"),
        ({"kind": "usb", "vendor_id": 1}, "product_id"),
        ({"kind": "simulated", "width": 500}, "width"),
        ({"kind": "simulated", "status_timeout": 0}, "status_timeout"),
        ({"kind": "simulated", "profile": "NoSuchPrinter"}, "profile"),
        ({"kind": "simulated", "state": "jammed"}, "state"),
        ({"kind": "file", "device": "/dev/x", "status": "maybe"}, "status"),
        ({"kind": "serial", "device": "/dev/x", "dsrdtr": "yes"}, "dsrdtr"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, cfg: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=f"'{key}'"):
        printer_from_config(cfg, tmp_path)


def test_ticket_content_normalises_and_validates(make_ticket: Callable[..., TicketContent]) -> None:
    t = make_ticket(center_name="  UBND xa\u0303 Kim Tha\u0300nh ")
    assert t.center_name == "UBND xã Kim Thành"
    assert t.issued_line() == "Ngày giờ lấy số: 24/11/2025 14:05"
    assert t.waiting_line() == "Số người đang chờ trước bạn: 12"
    assert t.wait_line() == "Thời gian chờ dự kiến: khoảng 25 phút"
    assert make_ticket(est_wait_min=None).wait_line() is None
    with pytest.raises(ValueError, match="issued_at"):
        make_ticket(issued_at=datetime(2025, 1, 1, 8, 0))
    with pytest.raises(ValueError, match="number"):
        make_ticket(number="Số 1")
    with pytest.raises(ValueError, match="waiting_ahead"):
        make_ticket(waiting_ahead=-1)
    with pytest.raises(AttributeError):
        t.number = "2"  # type: ignore[misc]
