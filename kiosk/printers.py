"""The printer seam: one interface, five backends, real-time status read with a timeout.

Status comes from DLE EOT n (Epson ESC/POS "transmit real-time status"), one byte per
query, read here through each transport with a short timeout. python-escpos's own
`paper_status()` reports "paper adequate" when the printer does not answer at all and
`_read()` blocks for the transport's full timeout, so neither is used: silence is
OFFLINE, and the kiosk never hands out a number it cannot print.

A print is *confirmed*, not assumed: every byte of the job must be accepted by the
transport (a short USB write or a serial write timeout fails it), and then, on the same
connection, the printer must answer DLE EOT after the job (within `confirm_timeout`) with a
state in which it can print. A network printer that takes the first 2 KB and hangs up, a
printer that goes silent, runs out of paper or opens its cover during the job: each raises
`PrintNotConfirmed`, and the dispenser cancels the ticket (SPEC §4: no phantom number).
"""

from __future__ import annotations

import logging
import os
import select
import socket
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from escpos.capabilities import get_profile
from escpos.constants import DLE, EOT
from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError

from kiosk.escpos_ticket import DEFAULT_PROFILE, ticket_bytes
from kiosk.ticket import TicketContent
from kiosk.ticket_image import PAPER_80MM, PAPER_WIDTHS, render_preview

log = logging.getLogger(__name__)

DEFAULT_STATUS_TIMEOUT: Final = 0.5
# How long the printer may take to answer the status query sent after a job. DLE EOT is a
# real-time command, answered as soon as the printer's input reaches it: after the whole
# job has been received (an 80 mm ticket is ~10 KB; ~1 s on a 115200-baud line).
DEFAULT_CONFIRM_TIMEOUT: Final = 5.0


class PrinterStatus(StrEnum):
    """What the kiosk needs to know, with the sentence it shows the citizen."""

    OK = "ok"
    PAPER_NEAR_END = "paper_near_end"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"
    ERROR = "error"

    @property
    def can_print(self) -> bool:
        """Near-end still prints (a roll has metres left) but staff should be warned."""
        return self in (PrinterStatus.OK, PrinterStatus.PAPER_NEAR_END)

    @property
    def message_vi(self) -> str:
        return _MESSAGES[self][0]

    @property
    def message_en(self) -> str:
        return _MESSAGES[self][1]

    def message(self, lang: str = "vi") -> str:
        """The plain sentence for the kiosk screen in "vi" (default) or "en"."""
        return self.message_en if lang == "en" else self.message_vi


_MESSAGES: Final[dict[PrinterStatus, tuple[str, str]]] = {
    PrinterStatus.OK: ("Máy in sẵn sàng.", "The printer is ready."),
    PrinterStatus.PAPER_NEAR_END: (
        "Máy in sắp hết giấy, vui lòng báo cán bộ hướng dẫn thay giấy.",
        "The printer is running low on paper; please tell a staff member.",
    ),
    PrinterStatus.PAPER_OUT: (
        "Máy in hết giấy, vui lòng báo cán bộ hướng dẫn.",
        "The printer is out of paper. Please tell a staff member.",
    ),
    PrinterStatus.COVER_OPEN: (
        "Nắp máy in đang mở, vui lòng báo cán bộ hướng dẫn.",
        "The printer cover is open. Please tell a staff member.",
    ),
    PrinterStatus.OFFLINE: (
        "Máy in không phản hồi, vui lòng báo cán bộ hướng dẫn.",
        "The printer is not responding. Please tell a staff member.",
    ),
    PrinterStatus.ERROR: (
        "Máy in đang gặp lỗi, vui lòng báo cán bộ hướng dẫn.",
        "The printer has an error. Please tell a staff member.",
    ),
}


class PrinterError(Exception):
    """Sending a ticket failed; the ticket may not have been printed."""


class PrinterNotReady(PrinterError):
    """The printer reported a state in which it cannot print; nothing was sent."""

    def __init__(self, status: PrinterStatus) -> None:
        super().__init__(f"printer not ready: {status.value}")
        self.status = status


class PrintNotConfirmed(PrinterError):
    """The job was sent (perhaps only in part) but the printer did not confirm it.

    `status` is what the printer said after the job: OFFLINE when it hung up or went silent,
    PAPER_OUT / COVER_OPEN / ERROR when it stopped during the ticket. The paper in the tray,
    if any, is not a ticket anyone may rely on.
    """

    def __init__(self, status: PrinterStatus, reason: str) -> None:
        super().__init__(f"print not confirmed ({status.value}): {reason}")
        self.status = status


# --- DLE EOT decoding (Epson ESC/POS "DLE EOT n", real-time status) -----------------
#
# Every reply byte has bit 1 and bit 4 set and bits 0 and 7 clear; anything else is
# not a status byte (noise, or a printer speaking another protocol).
STATUS_FIXED_MASK: Final = 0b1001_0011
STATUS_FIXED_BITS: Final = 0b0001_0010
# n = 1, printer status
ST1_OFFLINE: Final = 0x08
ST1_WAITING_RECOVERY: Final = 0x20
# n = 2, offline cause
ST2_COVER_OPEN: Final = 0x04
ST2_FEED_BUTTON: Final = 0x08
ST2_PAPER_END_STOP: Final = 0x20
ST2_ERROR: Final = 0x40
# n = 3, error cause
ST3_MECHANICAL: Final = 0x04  # "undefined" on some models
ST3_AUTOCUTTER: Final = 0x08
ST3_UNRECOVERABLE: Final = 0x20
ST3_AUTO_RECOVERABLE: Final = 0x40  # e.g. head overheated
# n = 4, roll paper sensor
ST4_NEAR_END: Final = 0x0C  # bits 2-3
ST4_PAPER_END: Final = 0x60  # bits 5-6


def is_status_byte(value: int) -> bool:
    """True when the byte has the fixed bits every DLE EOT reply carries."""
    return value & STATUS_FIXED_MASK == STATUS_FIXED_BITS


def query_command(n: int) -> bytes:
    """DLE EOT n for n in 1..4."""
    if n not in (1, 2, 3, 4):
        raise ValueError(f"DLE EOT n must be 1-4, got {n}")
    return bytes(DLE + EOT) + bytes((n,))


@dataclass
class StatusReading:
    """Raw replies kept for device-health logs (None = no answer)."""

    replies: dict[int, int | None]
    status: PrinterStatus


def decode_status(query: Callable[[int], int | None]) -> StatusReading:
    """Ask the printer (query(n) -> byte or None) only what is needed, and decide.

    n=1 first: silence there means offline. n=4 always, because some printers stay
    "online" with an empty roll. n=2 only when offline, n=3 only when n=2 says error.
    """
    replies: dict[int, int | None] = {}

    def ask(n: int) -> int | None:
        replies[n] = query(n)
        return replies[n]

    def done(status: PrinterStatus) -> StatusReading:
        return StatusReading(replies, status)

    st1 = ask(1)
    if st1 is None:
        return done(PrinterStatus.OFFLINE)
    if not is_status_byte(st1):
        return done(PrinterStatus.ERROR)
    st4 = ask(4)
    if st4 is None:
        return done(PrinterStatus.OFFLINE)
    if not is_status_byte(st4):
        return done(PrinterStatus.ERROR)
    paper_end = bool(st4 & ST4_PAPER_END)
    if st1 & ST1_OFFLINE:
        st2 = ask(2)
        if st2 is None:
            return done(PrinterStatus.OFFLINE)
        if not is_status_byte(st2):
            return done(PrinterStatus.ERROR)
        if st2 & ST2_COVER_OPEN:
            return done(PrinterStatus.COVER_OPEN)
        if st2 & ST2_PAPER_END_STOP or paper_end:
            return done(PrinterStatus.PAPER_OUT)
        if st2 & ST2_ERROR:
            ask(3)  # only for the log: every error cause needs a person anyway
            return done(PrinterStatus.ERROR)
        return done(PrinterStatus.OFFLINE)  # e.g. feed button held, recovering
    if paper_end:
        return done(PrinterStatus.PAPER_OUT)
    if st4 & ST4_NEAR_END:
        return done(PrinterStatus.PAPER_NEAR_END)
    return done(PrinterStatus.OK)


# --- the seam -----------------------------------------------------------------------


class ReceiptPrinter(ABC):
    """A ticket printer. Thread-safe; status and printing never block past timeouts."""

    def __init__(self, width: int = PAPER_80MM, profile: str = DEFAULT_PROFILE) -> None:
        if width not in PAPER_WIDTHS:
            raise ValueError(f"width must be one of {PAPER_WIDTHS}, got {width}")
        self.width = width
        self.profile = profile
        self.last_reading: StatusReading | None = None
        self._lock = threading.RLock()
        self._closed = False

    @abstractmethod
    def status(self) -> PrinterStatus:
        """Ask the printer now; OFFLINE when it does not answer in time."""

    @abstractmethod
    def _send(self, data: bytes, content: TicketContent) -> None:
        """Deliver one ticket's bytes; raise PrinterError on failure."""

    def render(self, content: TicketContent) -> bytes:
        """This printer's exact bytes for a ticket."""
        return ticket_bytes(content, self.width, self.profile)

    def print_ticket(self, content: TicketContent, *, check_status: bool = True) -> int:
        """Print one ticket and return the number of bytes written.

        Checks status first (raising PrinterNotReady, nothing sent) so a dead printer
        is reported before a ticket is lost, not after.
        """
        with self._lock:
            if self._closed:
                raise PrinterError("printer is closed")
            if check_status:
                status = self.status()
                if not status.can_print:
                    raise PrinterNotReady(status)
            data = self.render(content)
            self._send(data, content)
            return len(data)

    def close(self) -> None:
        """Release the transport; safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close()

    def _close(self) -> None:  # noqa: B027  (optional hook; most backends hold a transport)
        """Release the backend's transport, if it has one."""

    def __enter__(self) -> ReceiptPrinter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- simulated printer: spool folder ------------------------------------------------

_SIM_ALIASES: Final = {
    "silent": PrinterStatus.OFFLINE,
    "near_end": PrinterStatus.PAPER_NEAR_END,
}


def _coerce_status(value: PrinterStatus | str) -> PrinterStatus:
    if isinstance(value, PrinterStatus):
        return value
    if value in _SIM_ALIASES:
        return _SIM_ALIASES[value]
    try:
        return PrinterStatus(value)
    except ValueError:
        names = sorted({s.value for s in PrinterStatus} | set(_SIM_ALIASES))
        raise ValueError(f"unknown simulated state {value!r}; one of {names}") from None


@dataclass(frozen=True, slots=True)
class SpoolJob:
    """The two files one simulated ticket produced."""

    bin_path: Path
    png_path: Path


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: readers see all of it or nothing."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class SpoolPrinter(ReceiptPrinter):
    """Simulated printer: writes `<number>-<time>-<id>.png` then `.bin` to a folder.

    The .png is renamed into place before the .bin, so a reader that waits for the
    .bin always finds its preview. The state is settable (`simulated_status`) so tests
    and demos can inject paper out, cover open, near end or a silent printer.
    """

    def __init__(
        self,
        spool_dir: Path,
        width: int = PAPER_80MM,
        profile: str = DEFAULT_PROFILE,
        state: PrinterStatus | str = PrinterStatus.OK,
    ) -> None:
        super().__init__(width, profile)
        self.spool_dir = Path(spool_dir)
        self._state = _coerce_status(state)
        self.last_job: SpoolJob | None = None

    @property
    def simulated_status(self) -> PrinterStatus:
        return self._state

    @simulated_status.setter
    def simulated_status(self, value: PrinterStatus | str) -> None:
        self._state = _coerce_status(value)

    def status(self) -> PrinterStatus:
        status = self._state
        self.last_reading = StatusReading({}, status)
        return status

    def _send(self, data: bytes, content: TicketContent) -> None:
        if not self._state.can_print:  # a simulated failure also hits unchecked prints
            raise PrinterNotReady(self._state)
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%dT%H%M%S")
            stem = f"{content.number}-{stamp}-{uuid.uuid4().hex[:8]}"
            png = self.spool_dir / f"{stem}.png"
            binary = self.spool_dir / f"{stem}.bin"
            preview = render_preview(content, self.width)
            buf = BytesIO()
            preview.save(buf, format="PNG")
            _write_atomic(png, buf.getvalue())
            _write_atomic(binary, data)
            _fsync_dir(self.spool_dir)
        except OSError as e:
            raise PrinterError(f"cannot write to spool {self.spool_dir}: {e}") from e
        self.last_job = SpoolJob(binary, png)


def _fsync_dir(path: Path) -> None:
    """Make the renames themselves survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- real printers over python-escpos transports ------------------------------------


class EscposPrinter(ReceiptPrinter):
    """Shared plumbing: lazily opened python-escpos device, reconnect after failures."""

    def __init__(
        self,
        width: int = PAPER_80MM,
        profile: str = DEFAULT_PROFILE,
        status_timeout: float = DEFAULT_STATUS_TIMEOUT,
        confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT,
    ) -> None:
        super().__init__(width, profile)
        if status_timeout <= 0:
            raise ValueError("status_timeout must be > 0")
        if confirm_timeout <= 0:
            raise ValueError("confirm_timeout must be > 0")
        self.status_timeout = status_timeout
        self.confirm_timeout = confirm_timeout
        self._esc: Escpos | None = None

    @abstractmethod
    def _make(self) -> Escpos:
        """Create the python-escpos printer object (not yet opened)."""

    @abstractmethod
    def _read_byte(self, esc: Escpos, timeout: float) -> int | None:
        """Read one status byte within timeout; None on silence."""

    def _drain(self, esc: Escpos) -> None:
        """Drop bytes left from earlier replies so the next byte answers our query."""

    def _device(self) -> Escpos:
        if self._esc is None:
            esc = self._make()
            try:
                esc.open()
            except DeviceNotFoundError:
                raise
            except Exception as e:  # transports raise their own error types
                raise DeviceNotFoundError(str(e)) from e
            self._esc = esc
        return self._esc

    def _reset(self) -> None:
        esc, self._esc = self._esc, None
        if esc is not None:
            try:
                esc.close()
            except Exception:  # closing a broken transport must not mask the cause
                log.debug("error closing printer transport", exc_info=True)

    def _query(self, n: int) -> int | None:
        esc = self._device()
        self._drain(esc)
        esc._raw(query_command(n))
        return self._read_byte(esc, self.status_timeout)

    def status(self) -> PrinterStatus:
        with self._lock:
            if self._closed:
                return PrinterStatus.OFFLINE
            try:
                reading = decode_status(self._query)
            except (DeviceNotFoundError, OSError) as e:
                log.info("printer unreachable: %s", e)
                self._reset()
                reading = StatusReading({}, PrinterStatus.OFFLINE)
            except Exception as e:  # USB and serial raise their own exception types
                log.warning("printer status query failed: %s", e)
                self._reset()
                reading = StatusReading({}, PrinterStatus.OFFLINE)
            if reading.status is PrinterStatus.OFFLINE and reading.replies:
                self._reset()  # a silent peer: reconnect next time rather than reuse
            self.last_reading = reading
            return reading.status

    def _write(self, esc: Escpos, data: bytes) -> None:
        """Hand every byte of a job to the transport, or raise (a short write is a failure).

        Subclasses whose transport reports a count or buffers output override this."""
        esc._raw(data)

    def _send(self, data: bytes, content: TicketContent) -> None:
        """Write the job, then confirm it on the same connection (see the module docstring).

        Never reconnects between the two: a fresh connection's "ready" says nothing about
        the job the old one dropped."""
        try:
            esc = self._device()
        except Exception as e:
            self._reset()
            raise PrintNotConfirmed(PrinterStatus.OFFLINE, f"cannot open the printer: {e}") from e
        try:
            self._write(esc, data)
        except Exception as e:
            self._reset()
            raise PrintNotConfirmed(
                PrinterStatus.OFFLINE, f"sending ticket {content.number} failed: {e}") from e
        try:
            reading = self._confirm(esc)
        except Exception as e:
            self._reset()
            raise PrintNotConfirmed(
                PrinterStatus.OFFLINE,
                f"ticket {content.number}: no status after the job ({type(e).__name__}: {e})",
            ) from e
        self.last_reading = reading
        if not reading.status.can_print:
            if reading.status is PrinterStatus.OFFLINE:
                self._reset()
            raise PrintNotConfirmed(
                reading.status, f"ticket {content.number}: printer reports {reading.status.value} "
                "after the job")

    def _confirm(self, esc: Escpos) -> StatusReading:
        """The status after a job: the first reply may wait `confirm_timeout` (the printer
        reads the whole job before it reaches our query), later ones `status_timeout`."""
        first = True

        def query(n: int) -> int | None:
            nonlocal first
            timeout = self.confirm_timeout if first else self.status_timeout
            first = False
            self._drain(esc)
            esc._raw(query_command(n))
            return self._read_byte(esc, timeout)

        return decode_status(query)

    def _close(self) -> None:
        self._reset()


class NetworkPrinter(EscposPrinter):
    """Raw TCP (port 9100, "JetDirect"), read back on the same socket."""

    def __init__(
        self,
        host: str,
        port: int = 9100,
        width: int = PAPER_80MM,
        profile: str = DEFAULT_PROFILE,
        status_timeout: float = DEFAULT_STATUS_TIMEOUT,
        connect_timeout: float = 1.0,
        write_timeout: float = 10.0,
        confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT,
    ) -> None:
        super().__init__(width, profile, status_timeout, confirm_timeout)
        self.host, self.port = host, port
        self.connect_timeout, self.write_timeout = connect_timeout, write_timeout

    def _make(self) -> Escpos:
        from escpos.printer import Network

        return Network(self.host, self.port, timeout=self.connect_timeout, profile=self.profile)

    def _device(self) -> Escpos:
        esc = super()._device()
        sock: socket.socket = esc.device
        sock.settimeout(self.write_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return esc

    def _drain(self, esc: Escpos) -> None:
        sock: socket.socket = esc.device
        while select.select([sock], [], [], 0)[0]:
            if not sock.recv(256):
                raise ConnectionResetError("printer closed the connection")

    def _read_byte(self, esc: Escpos, timeout: float) -> int | None:
        sock: socket.socket = esc.device
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return None
        data = sock.recv(1)
        if not data:
            raise ConnectionResetError("printer closed the connection")
        return data[0]


class SerialPrinter(EscposPrinter):
    """RS-232 / USB-serial; pyserial's read timeout bounds the wait for a reply."""

    def __init__(
        self,
        device: str,
        baudrate: int = 115200,
        width: int = PAPER_80MM,
        profile: str = DEFAULT_PROFILE,
        status_timeout: float = DEFAULT_STATUS_TIMEOUT,
        dsrdtr: bool = True,
        write_timeout: float = 10.0,
        confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT,
    ) -> None:
        super().__init__(width, profile, status_timeout, confirm_timeout)
        self.device, self.baudrate, self.dsrdtr = device, baudrate, dsrdtr
        self.write_timeout = write_timeout

    def _make(self) -> Escpos:
        from escpos.printer import Serial

        return Serial(
            self.device,
            baudrate=self.baudrate,
            timeout=self.status_timeout,
            dsrdtr=self.dsrdtr,
            profile=self.profile,
        )

    def _device(self) -> Escpos:
        esc = super()._device()
        esc.device.write_timeout = self.write_timeout
        return esc

    def _drain(self, esc: Escpos) -> None:
        esc.device.reset_input_buffer()

    def _write(self, esc: Escpos, data: bytes) -> None:
        port = esc.device
        written = port.write(data)  # SerialTimeoutException after write_timeout (flow control)
        if written is not None and written != len(data):
            raise PrinterError(f"short serial write: {written} of {len(data)} bytes")
        port.flush()  # returns when the last byte has left the UART

    def _read_byte(self, esc: Escpos, timeout: float) -> int | None:
        port = esc.device
        port.timeout = timeout
        data = port.read(1)
        return data[0] if data else None


class UsbPrinter(EscposPrinter):
    """USB printer class device via pyusb; replies come on the bulk-in endpoint."""

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        width: int = PAPER_80MM,
        profile: str = DEFAULT_PROFILE,
        status_timeout: float = DEFAULT_STATUS_TIMEOUT,
        in_ep: int = 0x82,
        out_ep: int = 0x01,
        write_timeout: float = 10.0,
        confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT,
    ) -> None:
        super().__init__(width, profile, status_timeout, confirm_timeout)
        self.vendor_id, self.product_id = vendor_id, product_id
        self.in_ep, self.out_ep = in_ep, out_ep
        self.write_timeout = write_timeout

    def _make(self) -> Escpos:
        try:
            import usb.core  # noqa: F401  (pyusb; python-escpos[usb] pulls it in)
        except ImportError as e:
            raise DeviceNotFoundError(
                "USB printing needs pyusb (pip install pyusb) and libusb-1.0-0"
            ) from e
        from escpos.printer import Usb

        return Usb(
            self.vendor_id,
            self.product_id,
            timeout=int(self.write_timeout * 1000),
            in_ep=self.in_ep,
            out_ep=self.out_ep,
            profile=self.profile,
        )

    def _drain(self, esc: Escpos) -> None:
        import usb.core

        while True:
            try:
                esc.device.read(self.in_ep, 64, 1)
            except usb.core.USBTimeoutError:
                return

    def _write(self, esc: Escpos, data: bytes) -> None:
        # python-escpos ignores the count pyusb returns; a short bulk write is a lost ticket.
        written = esc.device.write(self.out_ep, data, int(self.write_timeout * 1000))
        if written != len(data):
            raise PrinterError(f"short USB write: {written} of {len(data)} bytes")

    def _read_byte(self, esc: Escpos, timeout: float) -> int | None:
        import usb.core

        try:
            data = esc.device.read(self.in_ep, 64, max(1, int(timeout * 1000)))
        except usb.core.USBTimeoutError:
            return None
        return data[0] if len(data) else None


class FilePrinter(EscposPrinter):
    """A device file such as /dev/usb/lp0.

    With status="query" (default) the file is opened read-write and the reply is read
    with select() and a timeout (the usblp driver passes the printer's answers back);
    with status="assume_ok" the state is unknown and reported as OK — only for
    printers that cannot answer, and only because the config says so. Such a printer
    cannot confirm a job either: its print counts once every byte was written and flushed.
    """

    def __init__(
        self,
        device: str,
        width: int = PAPER_80MM,
        profile: str = DEFAULT_PROFILE,
        status_timeout: float = DEFAULT_STATUS_TIMEOUT,
        status_mode: str = "query",
        confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT,
    ) -> None:
        super().__init__(width, profile, status_timeout, confirm_timeout)
        if status_mode not in ("query", "assume_ok"):
            raise ValueError("status must be 'query' or 'assume_ok'")
        self.device, self.status_mode = device, status_mode

    def _make(self) -> Escpos:
        from escpos.printer import File

        return File(self.device, profile=self.profile)

    def _device(self) -> Escpos:
        if self._esc is None and self.status_mode == "query":
            esc = self._make()
            try:
                # python-escpos opens "wb"; reading the reply needs the same descriptor.
                esc.device = open(self.device, "r+b", buffering=0)
            except OSError as e:
                raise DeviceNotFoundError(f"cannot open {self.device}: {e}") from e
            self._esc = esc
        return super()._device()

    def status(self) -> PrinterStatus:
        if self.status_mode == "assume_ok":
            self.last_reading = StatusReading({}, PrinterStatus.OK)
            return PrinterStatus.OK
        return super().status()

    def _write(self, esc: Escpos, data: bytes) -> None:
        # The query mode's descriptor is unbuffered: one write() may take only part of a job.
        f = esc.device
        view = memoryview(data)
        while view:
            written = f.write(view)
            if not written:
                raise PrinterError(f"{self.device} accepted no more bytes")
            view = view[written:]
        f.flush()

    def _confirm(self, esc: Escpos) -> StatusReading:
        if self.status_mode == "assume_ok":
            return StatusReading({}, PrinterStatus.OK)
        return super()._confirm(esc)

    def _drain(self, esc: Escpos) -> None:
        f = esc.device
        while select.select([f], [], [], 0)[0]:
            if not os.read(f.fileno(), 256):
                return  # end of file: a plain file never answers

    def _read_byte(self, esc: Escpos, timeout: float) -> int | None:
        f = esc.device
        ready, _, _ = select.select([f], [], [], timeout)
        if not ready:
            return None
        data = os.read(f.fileno(), 1)
        return data[0] if data else None


# --- configuration ------------------------------------------------------------------

_COMMON_KEYS: Final = {"kind", "width", "profile", "status_timeout"}
_KIND_KEYS: Final[dict[str, set[str]]] = {
    "simulated": {"state"},
    "network": {"host", "port", "connect_timeout", "write_timeout", "confirm_timeout"},
    "serial": {"device", "baudrate", "dsrdtr", "write_timeout", "confirm_timeout"},
    "usb": {"vendor_id", "product_id", "in_ep", "out_ep", "write_timeout", "confirm_timeout"},
    "file": {"device", "status", "confirm_timeout"},
}
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "network": ("host",),
    "serial": ("device",),
    "usb": ("vendor_id", "product_id"),
    "file": ("device",),
}


def _int(cfg: dict[str, Any], key: str, default: int | None = None) -> int:
    value = cfg.get(key, default)
    if isinstance(value, str):
        try:
            return int(value, 0)  # "0x04b8" as written on the printer's label
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"printer config key {key!r} must be an integer, got {value!r}")
    return value


def _float(cfg: dict[str, Any], key: str, default: float) -> float:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"printer config key {key!r} must be a positive number, got {value!r}")
    return float(value)


def _str(cfg: dict[str, Any], key: str) -> str:
    value = cfg.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"printer config key {key!r} must be a non-empty string, got {value!r}")
    return value


def printer_from_config(cfg: dict[str, Any], spool_dir: Path) -> ReceiptPrinter:
    """Build the configured printer; ValueError names the offending key.

    `spool_dir` is where a simulated printer writes (normally <data>/printer-spool/).
    """
    kind = cfg.get("kind", "simulated")
    if kind not in _KIND_KEYS:
        raise ValueError(
            f"printer config key 'kind' must be one of {sorted(_KIND_KEYS)}, got {kind!r}"
        )
    unknown = sorted(set(cfg) - _COMMON_KEYS - _KIND_KEYS[kind])
    if unknown:
        raise ValueError(f"printer config key {unknown[0]!r} is not valid for kind {kind!r}")
    for key in _REQUIRED.get(kind, ()):
        if key not in cfg:
            raise ValueError(f"printer config key {key!r} is required for kind {kind!r}")

    width = _int(cfg, "width", PAPER_80MM)
    if width not in PAPER_WIDTHS:
        raise ValueError(f"printer config key 'width' must be one of {PAPER_WIDTHS}, got {width}")
    profile = cfg.get("profile", DEFAULT_PROFILE)
    try:
        capabilities = get_profile(profile)
    except (KeyError, TypeError):
        raise ValueError(
            f"printer config key 'profile': unknown python-escpos profile {profile!r}"
        ) from None
    media = capabilities.profile_data.get("media", {}).get("width", {}).get("pixels")
    if isinstance(media, int) and width > media:
        raise ValueError(
            f"printer config key 'width' is {width} dots, wider than the {media} dots profile "
            f"{profile!r} prints; use width = {max(w for w in PAPER_WIDTHS if w <= media)}"
            if any(w <= media for w in PAPER_WIDTHS) else
            f"printer config key 'width' is {width} dots, wider than the {media} dots profile "
            f"{profile!r} prints")
    timeout = _float(cfg, "status_timeout", DEFAULT_STATUS_TIMEOUT)
    common: dict[str, Any] = {"width": width, "profile": profile, "status_timeout": timeout}

    if kind == "simulated":
        try:
            state = _coerce_status(cfg.get("state", "ok"))
        except ValueError as e:
            raise ValueError(f"printer config key 'state': {e}") from None
        return SpoolPrinter(Path(spool_dir), width, profile, state)
    if kind == "network":
        port = _int(cfg, "port", 9100)
        if not 0 < port < 65536:
            raise ValueError(f"printer config key 'port' must be 1-65535, got {port}")
        return NetworkPrinter(
            _str(cfg, "host"),
            port,
            connect_timeout=_float(cfg, "connect_timeout", 1.0),
            write_timeout=_float(cfg, "write_timeout", 10.0),
            confirm_timeout=_float(cfg, "confirm_timeout", DEFAULT_CONFIRM_TIMEOUT),
            **common,
        )
    if kind == "serial":
        dsrdtr = cfg.get("dsrdtr", True)
        if not isinstance(dsrdtr, bool):
            raise ValueError(f"printer config key 'dsrdtr' must be true or false, got {dsrdtr!r}")
        return SerialPrinter(
            _str(cfg, "device"),
            _int(cfg, "baudrate", 115200),
            dsrdtr=dsrdtr,
            write_timeout=_float(cfg, "write_timeout", 10.0),
            confirm_timeout=_float(cfg, "confirm_timeout", DEFAULT_CONFIRM_TIMEOUT),
            **common,
        )
    if kind == "usb":
        return UsbPrinter(
            _int(cfg, "vendor_id"),
            _int(cfg, "product_id"),
            in_ep=_int(cfg, "in_ep", 0x82),
            out_ep=_int(cfg, "out_ep", 0x01),
            write_timeout=_float(cfg, "write_timeout", 10.0),
            confirm_timeout=_float(cfg, "confirm_timeout", DEFAULT_CONFIRM_TIMEOUT),
            **common,
        )
    status_mode = cfg.get("status", "query")
    if status_mode not in ("query", "assume_ok"):
        raise ValueError(
            f"printer config key 'status' must be 'query' or 'assume_ok', got {status_mode!r}"
        )
    return FilePrinter(_str(cfg, "device"), status_mode=status_mode,
                       confirm_timeout=_float(cfg, "confirm_timeout", DEFAULT_CONFIRM_TIMEOUT),
                       **common)
