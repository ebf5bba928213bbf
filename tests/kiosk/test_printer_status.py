"""Real backends against the emulated printer: status bytes, silence, printing."""

from __future__ import annotations

import socket
import time

import pytest

from kiosk.escpos_ticket import ticket_bytes
from kiosk.fake_printer import FakePrinter, FakeState
from kiosk.printers import (
    NetworkPrinter,
    PrinterNotReady,
    PrinterStatus,
    SerialPrinter,
    decode_status,
    is_status_byte,
)
from kiosk.ticket import TicketContent

EXPECTED = {
    FakeState.OK: PrinterStatus.OK,
    FakeState.NEAR_END: PrinterStatus.PAPER_NEAR_END,
    FakeState.PAPER_OUT: PrinterStatus.PAPER_OUT,
    FakeState.COVER_OPEN: PrinterStatus.COVER_OPEN,
    FakeState.ERROR: PrinterStatus.ERROR,
    FakeState.SILENT: PrinterStatus.OFFLINE,
}
TIMEOUT = 0.3


@pytest.mark.parametrize("state", list(FakeState), ids=lambda s: s.value)
def test_network_status_each_state(fake_printer: FakePrinter, state: FakeState) -> None:
    fake_printer.state = state
    with NetworkPrinter(fake_printer.host, fake_printer.port, status_timeout=TIMEOUT) as printer:
        started = time.monotonic()
        status = printer.status()
        elapsed = time.monotonic() - started
    assert status is EXPECTED[state]
    assert status.can_print == (state in (FakeState.OK, FakeState.NEAR_END))
    assert elapsed < TIMEOUT + 0.5, "never waits much past one status timeout"
    assert fake_printer.queries and fake_printer.queries[0] == 1


def test_silent_printer_is_offline_within_the_timeout(fake_printer: FakePrinter) -> None:
    fake_printer.state = FakeState.SILENT
    with NetworkPrinter(fake_printer.host, fake_printer.port, status_timeout=0.2) as printer:
        started = time.monotonic()
        assert printer.status() is PrinterStatus.OFFLINE
        assert time.monotonic() - started < 0.6
        # It recovers by itself once the printer answers again.
        fake_printer.state = FakeState.OK
        assert printer.status() is PrinterStatus.OK


def test_nothing_listening_is_offline() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before use: connection refused
    with NetworkPrinter("127.0.0.1", port, status_timeout=TIMEOUT) as printer:
        assert printer.status() is PrinterStatus.OFFLINE


def test_network_prints_exact_bytes(fake_printer: FakePrinter, ticket: TicketContent) -> None:
    with NetworkPrinter(fake_printer.host, fake_printer.port, status_timeout=TIMEOUT) as printer:
        written = printer.print_ticket(ticket)
        assert printer.status() is PrinterStatus.OK  # stale replies never confuse it
    expected = ticket_bytes(ticket)
    assert written == len(expected)
    assert fake_printer.wait_for(expected, timeout=5)


@pytest.mark.parametrize("state", [FakeState.PAPER_OUT, FakeState.COVER_OPEN, FakeState.SILENT])
def test_no_ticket_is_sent_to_a_printer_that_cannot_print(
    fake_printer: FakePrinter, ticket: TicketContent, state: FakeState
) -> None:
    fake_printer.state = state
    with NetworkPrinter(fake_printer.host, fake_printer.port, status_timeout=TIMEOUT) as printer:
        with pytest.raises(PrinterNotReady) as err:
            printer.print_ticket(ticket)
    assert err.value.status is EXPECTED[state]
    time.sleep(0.1)
    assert b"\x1d\x76\x30" not in fake_printer.received  # no image data went out


def test_near_end_still_prints(fake_printer: FakePrinter, ticket: TicketContent) -> None:
    fake_printer.state = FakeState.NEAR_END
    with NetworkPrinter(fake_printer.host, fake_printer.port, status_timeout=TIMEOUT) as printer:
        printer.print_ticket(ticket)
    assert fake_printer.wait_for(ticket_bytes(ticket))


def test_serial_backend_over_a_pty(fake_printer: FakePrinter, ticket: TicketContent) -> None:
    path = fake_printer.open_serial()
    with SerialPrinter(path, dsrdtr=False, status_timeout=TIMEOUT) as printer:
        for state, expected in EXPECTED.items():
            fake_printer.state = state
            assert printer.status() is expected, state
        fake_printer.state = FakeState.OK
        printer.print_ticket(ticket)
    assert fake_printer.wait_for(ticket_bytes(ticket))


def test_close_is_idempotent(fake_printer: FakePrinter) -> None:
    printer = NetworkPrinter(fake_printer.host, fake_printer.port, status_timeout=TIMEOUT)
    assert printer.status() is PrinterStatus.OK
    printer.close()
    printer.close()
    assert printer.status() is PrinterStatus.OFFLINE


# Decoding, byte by byte, from the Epson DLE EOT tables.


def replies(**by_n: int | None):  # type: ignore[no-untyped-def]
    table = {int(k[1:]): v for k, v in by_n.items()}
    return lambda n: table.get(n)


@pytest.mark.parametrize(
    ("st1", "st2", "st3", "st4", "expected"),
    [
        (0x12, None, None, 0x12, PrinterStatus.OK),
        (0x16, None, None, 0x12, PrinterStatus.OK),  # drawer pin high is irrelevant
        (0x12, None, None, 0x16, PrinterStatus.PAPER_NEAR_END),  # one near-end bit
        (0x12, None, None, 0x1E, PrinterStatus.PAPER_NEAR_END),
        (0x12, None, None, 0x72, PrinterStatus.PAPER_OUT),  # online yet roll empty
        (0x1A, 0x32, None, 0x7E, PrinterStatus.PAPER_OUT),
        (0x1A, 0x16, None, 0x12, PrinterStatus.COVER_OPEN),
        (0x1A, 0x36, None, 0x7E, PrinterStatus.COVER_OPEN),  # cover wins: fix it first
        (0x1A, 0x52, 0x1A, 0x12, PrinterStatus.ERROR),
        (0x1A, 0x1A, None, 0x12, PrinterStatus.OFFLINE),  # feed button held
        (None, None, None, None, PrinterStatus.OFFLINE),
        (0x1A, None, None, 0x12, PrinterStatus.OFFLINE),
        (0xFF, None, None, 0x12, PrinterStatus.ERROR),  # not a status byte
    ],
)
def test_decode_status(
    st1: int | None, st2: int | None, st3: int | None, st4: int | None, expected: PrinterStatus
) -> None:
    assert decode_status(replies(n1=st1, n2=st2, n3=st3, n4=st4)).status is expected


def test_status_byte_fixed_bits() -> None:
    assert is_status_byte(0x12) and is_status_byte(0x7E)
    assert not is_status_byte(0x00) and not is_status_byte(0x13) and not is_status_byte(0x92)


def test_messages_are_plain_and_bilingual() -> None:
    for status in PrinterStatus:
        assert status.message("vi") and status.message("en")
        assert status.message() == status.message_vi
    assert PrinterStatus.PAPER_OUT.message_vi == "Máy in hết giấy, vui lòng báo cán bộ hướng dẫn."
    assert PrinterStatus.PAPER_NEAR_END.can_print and not PrinterStatus.COVER_OPEN.can_print
