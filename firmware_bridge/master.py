"""The Modbus RTU master of one RS485 bus: one thread owns the serial port (PROTOCOL.md §2, §9).

Framing, CRC, the t3.5 silence before each request (max(3.5 t_char, 1.750 ms), PROTOCOL.md §2)
and the reading of replies are minimalmodbus's (its exceptions tell a silent device —
NoResponseError — from a garbled or foreign reply — InvalidResponseError — from a device that said
no — SlaveReportedException); the schedule, the retries, the back-off, the event queue handshake
(§5) and device health are this module's.

Schedule, in priority order on each turn of the loop (PROTOCOL.md §9):
1. fast lane: display writes whose wanted registers changed in anything but the slow registers
   (profile.SLOW_REGISTERS: the waiting count) — a call, recall, blink, mode must reach its LED at once;
2. identification of a device not identified yet (project kinds only);
3. polls of keypads and rating boxes, the least recently polled first (each once before any
   twice), each at most every `poll_ms` (default 50 ms:
   at 9600 baud one poll takes ≈ 44 ms, so with several keyed devices the bus, not the timer, sets
   the pace — a press waits at most one poll cycle, §9);
4. slow lane, at most ONE write per completed poll cycle (or whenever no poll is due): a display
   whose only change is its waiting count, no sooner than `WAITING_MIN_S` after its last write
   (changes in between coalesce into one write of the latest value), else the oldest display due
   for its refresh (every `refresh_s`, so a display that reset shows the truth again).
Displays are never polled.

Response timeout per transaction (PROTOCOL.md §2): (request + expected reply bytes) × t_char +
the device's turnaround budget (20 ms) + the bus's `timeout_margin_ms`, set through the
instrument's public `serial.timeout` before each transaction. A device that fails 3 transactions in a row is offline and is tried
again after 1 s, 2 s, 4 s … up to the bus's `backoff_max_s`. A device that answers with a Modbus
exception is online but is not asked anything again for `EXCEPTION_WAIT_S` (1 s), so a device that
refuses every request costs the bus one transaction a second, never a tight loop. When the port itself fails (a USB
adapter unplugged), every device goes offline with the port's error and the port is reopened
every second until it is back — no restart needed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import minimalmodbus
import serial

from . import profile
from .config import BusConfig, DeviceConfig

log = logging.getLogger("firmware_bridge.master")

OFFLINE_AFTER = 3          # failed transactions in a row (PROTOCOL.md §2)
BACKOFF_START_S = 1.0
REOPEN_S = 1.0             # how often a vanished port is tried again
WAITING_MIN_S = 5.0        # slow lane: a display's waiting count is rewritten at most this often
TURNAROUND_BUDGET_S = 0.020  # a device starts its reply within 20 ms (PROTOCOL.md §2)
EXCEPTION_WAIT_S = 1.0     # a device that answered with an exception is not asked again sooner
_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}


class EventSink(Protocol):
    """Where key events go before they are acknowledged (the bridge's on-disk queue)."""

    def take(self, device: DeviceConfig, ident: profile.Identity, event: profile.Event) -> bool:
        """Store the event durably (idempotent for an event already taken). True: acknowledge
        it now; False: the queue is full — leave the event in the device, ask again later."""


@dataclass
class Health:
    """Counters of one device, as GET /api/v1/devices shows them (rtt_ms: the last good
    transaction's round trip, request start → reply end, in ms)."""

    online: bool = False
    last_seen: str | None = None
    frames_ok: int = 0
    frames_bad: int = 0
    timeouts: int = 0
    exceptions: int = 0
    rtt_ms: float | None = None
    error: str | None = None
    firmware: str | None = None
    serial: str | None = None
    pending_events: int | None = None
    overflows: int | None = None
    line_noise: int = 0  # bytes found waiting before a request: noise or late answers
    backoff_s: float | None = None  # while offline: the wait before the next try (1, 2, 4 … cap)

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "error": error_text(self.error)}


ERROR_TEXT_MAX = 200  # characters of an error in a health report (the hub takes at most 300)


def error_text(text: str | None) -> str | None:
    """An error as a health report carries it: one line, at most `ERROR_TEXT_MAX` characters
    (minimalmodbus's messages quote whole frames; a longer one made the hub refuse the whole
    report, so health went stale exactly while devices failed — found by a new user)."""
    if text is None:
        return None
    line = " ".join(text.split())
    return line if len(line) <= ERROR_TEXT_MAX else line[:ERROR_TEXT_MAX - 1] + "…"


@dataclass
class DeviceState:
    cfg: DeviceConfig
    instrument: minimalmodbus.Instrument | None = None
    health: Health = field(default_factory=Health)
    ident: profile.Identity | None = None
    failures: int = 0
    next_try: float = 0.0           # monotonic; backed-off devices wait until then
    next_poll: float = 0.0
    polled_at: float = 0.0          # monotonic start of the last poll: the least recent goes next
    wanted: list[int] | None = None  # display registers the bridge wants shown
    written: list[int] | None = None
    written_at: float = 0.0
    unusable: str | None = None     # identified as something else: not written, re-identified later

    @property
    def keyed(self) -> bool:
        return self.cfg.kind in profile.KINDS_WITH_KEYS

    @property
    def identified_kind(self) -> bool:
        return profile.KIND_CODES[self.cfg.kind] is not None


class BusMaster(threading.Thread):
    """Owns one serial port and every device on it. Thread-safe entry points: `show`, `health`,
    `stop`. `sink` receives key events (see EventSink)."""

    def __init__(self, bus: BusConfig, devices: list[DeviceConfig], sink: EventSink, *,
                 poll_ms: int = 50, refresh_s: int = 20,
                 serial_factory: Callable[[BusConfig], serial.Serial] | None = None) -> None:
        super().__init__(name=f"bus-{bus.name}", daemon=True)
        self.bus = bus
        self.sink = sink
        self.poll_s = poll_ms / 1000
        self.refresh_s = refresh_s
        self.devices = {d.unit: DeviceState(d) for d in devices}
        self._serial_factory = serial_factory or _open_serial
        self._port: serial.Serial | None = None
        self._port_error: str | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._polls_since_slow = 0  # slow lane: one write per completed poll cycle
        self.turns = 0              # loop turns completed (the systemd watchdog checks it moves)
        self.last_turn = time.monotonic()
        self._last_asked: DeviceState | None = None

    # ----------------------------------------------------------------- thread-safe API
    def show(self, unit: int, registers: list[int]) -> None:
        """Make the display at `unit` show these registers (written once, then refreshed)."""
        with self._lock:
            self.devices[unit].wanted = list(registers)
        self._wake.set()

    def health(self) -> list[tuple[DeviceConfig, dict[str, Any]]]:
        with self._lock:
            return [(d.cfg, d.health.as_json()) for d in self.devices.values()]

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()

    # ----------------------------------------------------------------- the loop
    def run(self) -> None:
        while not self._halt.is_set():
            try:
                if self._port is None and not self._open():
                    self._halt.wait(REOPEN_S)
                    self.last_turn = time.monotonic()  # alive: waiting for the adapter is a turn
                    continue
                job = self._next_job()
                if job is None:
                    self.last_turn = time.monotonic()
                    self._wake.wait(self._idle_wait())
                    self._wake.clear()
                    self.last_turn = time.monotonic()
                    continue
                job()
                self.turns += 1
                self.last_turn = time.monotonic()
            except (serial.SerialException, OSError) as exc:
                self._port_lost(exc)
            except Exception:  # never let one bad reply or bug stop the bus
                log.exception("bus %s: unexpected error", self.bus.name)
                self._halt.wait(0.1)
        self._close()

    def _open(self) -> bool:
        try:
            port = self._serial_factory(self.bus)
        except (serial.SerialException, OSError, ValueError) as exc:
            message = f"port {self.bus.port}: {exc}"
            if message != self._port_error:
                log.warning("bus %s: cannot open %s: %s", self.bus.name, self.bus.port, exc)
            self._port_error = message
            with self._lock:
                for d in self.devices.values():
                    d.health.online = False
                    d.health.error = message
            return False
        self._port = port
        self._port_error = None
        log.info("bus %s: %s open at %d baud", self.bus.name, self.bus.port, self.bus.baud)
        with self._lock:
            for d in self.devices.values():
                inst = minimalmodbus.Instrument(port, d.cfg.unit)
                inst.clear_buffers_before_each_transaction = False  # we drain and count it ourselves
                d.instrument = inst
                d.failures, d.next_try, d.next_poll = 0, 0.0, 0.0
                d.written = None  # after a reconnect, write everything again
                d.ident = None
                d.health.error = None
        return True

    def _port_lost(self, exc: BaseException) -> None:
        log.warning("bus %s: port %s lost: %s", self.bus.name, self.bus.port, exc)
        self._close()
        with self._lock:
            for d in self.devices.values():
                d.health.online = False
                d.health.error = f"port {self.bus.port}: {exc}"

    def _close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except (serial.SerialException, OSError):
                pass
        self._port = None

    def _idle_wait(self) -> float:
        now = time.monotonic()
        dues = [REOPEN_S]
        for d in self.devices.values():
            start = max(d.next_try, now)
            if d.keyed:
                dues.append(max(d.next_poll, start) - now)
            if d.wanted is not None:
                dues.append(max(d.written_at + self.refresh_s, start) - now)
                if d.written is not None and d.wanted != d.written:  # a slow-lane change
                    dues.append(max(d.written_at + WAITING_MIN_S, start) - now)
            if d.identified_kind and d.ident is None:
                dues.append(start - now)
        return max(0.0, min(dues))

    def _next_job(self) -> Callable[[], None] | None:
        now = time.monotonic()
        ready = [d for d in self.devices.values() if d.next_try <= now]
        with self._lock:
            drivable = [d for d in ready if d.wanted is not None
                        and (d.ident is not None or not d.identified_kind)]
            wanted = {id(d): list(d.wanted) for d in drivable if d.wanted is not None}
        fast = [d for d in drivable if wanted[id(d)] != d.written
                and not profile.only_slow_change(d.cfg.kind, d.written, wanted[id(d)])]
        if fast:
            d = fast[0]
            return lambda: self._write(d, wanted[id(d)])
        for d in ready:
            if d.identified_kind and d.ident is None:
                return lambda: self._identify(d)
        keyed = [d for d in ready if d.keyed and d.next_poll <= now and d.ident is not None]
        n_keyed = sum(1 for d in self.devices.values() if d.keyed and d.ident is not None)
        if keyed and self._polls_since_slow < n_keyed:
            d = min(keyed, key=_least_recently_polled)
            self._polls_since_slow += 1
            return lambda: self._poll(d)
        # The slow lane: one write, then a whole poll cycle before the next one.
        slow = [d for d in drivable if wanted[id(d)] != d.written and now - d.written_at >= WAITING_MIN_S]
        stale = [d for d in drivable if now - d.written_at >= self.refresh_s]
        due = sorted(slow, key=lambda d: d.written_at) or sorted(stale, key=lambda d: d.written_at)
        if due:
            d = due[0]
            self._polls_since_slow = 0
            return lambda: self._write(d, wanted[id(d)])
        if keyed:  # nothing for the slow lane: go on polling
            self._polls_since_slow = 1
            d = min(keyed, key=_least_recently_polled)
            return lambda: self._poll(d)
        return None

    # ----------------------------------------------------------------- transactions
    def response_timeout(self, request_bytes: int, reply_bytes: int) -> float:
        """Seconds to wait for a reply, counted from the start of the request (PROTOCOL.md §2):
        (request + expected reply bytes) × t_char (11 bits / baud) + the device's 20 ms
        turnaround budget + the bus's `timeout_margin_ms`."""
        t_char = 11 / self.bus.baud
        return ((request_bytes + reply_bytes) * t_char + TURNAROUND_BUDGET_S
                + self.bus.timeout_margin_ms / 1000)

    def _transact(self, d: DeviceState, what: str, call: Callable[[minimalmodbus.Instrument], Any],
                  request_bytes: int, reply_bytes: int) -> Any:
        """Run one Modbus transaction with the bus's retries; count the outcome in health.
        `request_bytes`/`reply_bytes`: the frame sizes (address to CRC) that set its response
        timeout. Returns the result, or raises _Failed after the last attempt. A slave exception
        is not retried (the device answered; it said no)."""
        assert d.instrument is not None and self._port is not None
        d.instrument.serial.timeout = self.response_timeout(request_bytes, reply_bytes)
        last: Exception | None = None
        for _attempt in range(1 + self.bus.retries):
            self._drain()
            self._last_asked = d
            started = time.monotonic()
            try:
                result = call(d.instrument)
            except minimalmodbus.SlaveReportedException as exc:
                self._count(d, "exceptions", f"{what}: {exc}", alive=True)
                with self._lock:
                    # it answered, so it is online; but asking again at once gets the same "no":
                    # a device refusing every write or identification kept the fast lane (or the
                    # identification step) busy with it and starved every keypad on the bus
                    d.next_try = time.monotonic() + EXCEPTION_WAIT_S
                raise _Failed(str(exc), exception=True) from exc
            except minimalmodbus.NoResponseError as exc:
                self._count(d, "timeouts", f"{what}: no answer")
                last = exc
                continue
            except (minimalmodbus.InvalidResponseError, minimalmodbus.LocalEchoError, ValueError) as exc:
                self._count(d, "frames_bad", f"{what}: {exc}")
                last = exc
                continue
            rtt = (time.monotonic() - started) * 1000
            with self._lock:
                h = d.health
                h.frames_ok += 1
                h.rtt_ms = round(rtt, 1)
                h.last_seen = _now()
                if not h.online:
                    log.info("device %s online", d.cfg.id)
                h.online = True
                h.backoff_s = None
                if h.error and not d.unusable:
                    h.error = None
                d.failures = 0
            return result
        self._failed(d)
        raise _Failed(str(last))

    def _drain(self) -> None:
        """Bytes waiting before we speak are noise or a late answer: discard and count them."""
        assert self._port is not None
        waiting = self._port.in_waiting
        if waiting:
            junk = self._port.read(waiting)
            log.debug("bus %s: %d stray bytes discarded", self.bus.name, len(junk))
            with self._lock:
                # Stray bytes: a late answer of the device asked last, or noise on the line
                # (PROTOCOL.md §2). One bad frame on that device; the bytes in its line_noise.
                dev = self._last_asked
                if dev is not None:
                    dev.health.frames_bad += 1
                    dev.health.line_noise += len(junk)

    def _count(self, d: DeviceState, counter: str, message: str, alive: bool = False) -> None:
        with self._lock:
            setattr(d.health, counter, getattr(d.health, counter) + 1)
            if alive:
                d.health.last_seen = _now()
                d.health.online = True
                d.failures = 0
            d.health.error = message
        log.debug("device %s: %s", d.cfg.id, message)

    def _failed(self, d: DeviceState) -> None:
        with self._lock:
            d.failures += 1
            if d.failures >= OFFLINE_AFTER:
                backoff = min(BACKOFF_START_S * 2 ** (d.failures - OFFLINE_AFTER), self.bus.backoff_max_s)
                d.next_try = time.monotonic() + backoff
                d.health.backoff_s = backoff
                if d.health.online:
                    log.warning("device %s offline (%s); next try in %.0f s", d.cfg.id,
                                d.health.error, backoff)
                d.health.online = False
                d.ident = None  # identify again when it comes back (it may have been replaced)

    def _identify(self, d: DeviceState) -> None:
        try:
            regs = self._transact(d, "identify", lambda i: i.read_registers(
                profile.IDENT_ADDRESS, profile.IDENT_COUNT, functioncode=4),
                *read_sizes(profile.IDENT_COUNT))
        except _Failed:
            return
        ident = profile.Identity.from_registers(regs)
        problem = ident.problem(d.cfg.kind, d.cfg.unit)
        with self._lock:
            if problem:
                # Not what the config says (a DIP switch, a wrong kind): never written to, and
                # identified again every backoff_max_s in case the technician fixes it.
                if d.unusable != problem:
                    log.error("device %s: %s; not driven", d.cfg.id, problem)
                d.unusable = problem
                d.health.error = problem
                d.next_try = time.monotonic() + self.bus.backoff_max_s
                return
            d.unusable = None
            d.ident = ident
            d.health.firmware = ident.firmware_text
            d.health.serial = f"{ident.serial:08x}"
            d.written = None

    def _write(self, d: DeviceState, registers: list[int]) -> None:
        opts = d.cfg.options
        if d.cfg.kind == "numeric-led":
            address = opts["register"]
            if opts["function"] == 6 and len(registers) == 1:
                call = lambda i: i.write_register(address, registers[0], functioncode=6)  # noqa: E731
                sizes = WRITE_SINGLE_SIZES
            else:
                call = lambda i: i.write_registers(address, registers)  # noqa: E731
                sizes = write_sizes(len(registers))
        else:
            block = registers
            if d.cfg.kind == "lobby-board" and d.ident is not None:
                rows = min(d.ident.size, profile.LOBBY_MAX_ROWS)
                block = list(registers[:profile.LOBBY_ROWS_ADDRESS + 5 * rows])
                block[4] = min(block[4], rows)  # ROWS_USED never above what the board has
            call = lambda i: i.write_registers(0, block)  # noqa: E731
            sizes = write_sizes(len(block))
        try:
            self._transact(d, "write", call, *sizes)
        except _Failed:
            return
        with self._lock:
            d.written = registers
            d.written_at = time.monotonic()

    def _poll(self, d: DeviceState) -> None:
        d.polled_at = time.monotonic()
        d.next_poll = d.polled_at + self.poll_s
        try:
            regs = self._transact(d, "poll", lambda i: i.read_registers(
                profile.EVENTS_ADDRESS, profile.EVENTS_COUNT, functioncode=4),
                *read_sizes(profile.EVENTS_COUNT))
        except _Failed:
            return
        event = profile.Event.from_registers(regs)
        with self._lock:
            d.health.pending_events = event.pending
            d.health.overflows = event.overflows
        if event.pending == 0 or event.seq == 0 or d.ident is None:
            return
        if event.epoch != d.ident.queue_epoch:
            # The device's event store was initialised since we identified it: identify again.
            d.ident = None
            return
        if not self.sink.take(d.cfg, d.ident, event):
            return  # our queue is full: the event stays in the device, safe, until there is room
        try:
            self._transact(d, "ack", lambda i: i.write_register(
                profile.EVENT_ACK_REGISTER, event.seq, functioncode=6), *WRITE_SINGLE_SIZES)
        except _Failed:
            pass  # the next poll shows the same head again (taken already) or the next one
        d.next_poll = time.monotonic()  # more events may wait: due again at once, in its turn


WRITE_SINGLE_SIZES = (8, 8)  # 0x06: request and echo, 8 bytes each


def read_sizes(count: int) -> tuple[int, int]:
    """(request, reply) bytes of a 0x03/0x04 read of `count` registers: 8 and 5 + 2·count."""
    return 8, 5 + 2 * count


def write_sizes(count: int) -> tuple[int, int]:
    """(request, reply) bytes of a 0x10 write of `count` registers: 9 + 2·count and 8."""
    return 9 + 2 * count, 8


def _least_recently_polled(d: DeviceState) -> tuple[float, int]:
    """Poll order: the keyed device whose last poll started longest ago (then the lower unit).
    Every ready device is polled once before any is polled twice, whatever joins or leaves the
    ready set in between (a device backed off, one just identified) — an index kept into the
    changing list skipped some devices for whole cycles: presses waited 2.4 s at 9600 baud where
    one cycle is 0.94 s (bench/bridge_benchmark.py)."""
    return d.polled_at, d.cfg.unit


class _Failed(Exception):
    def __init__(self, message: str, exception: bool = False):
        super().__init__(message)
        self.exception = exception


def _open_serial(bus: BusConfig) -> serial.Serial:
    """Open the bus's port with its line settings (pyserial raises SerialException if absent)."""
    return serial.Serial(port=bus.port, baudrate=bus.baud, bytesize=8, parity=_PARITY[bus.parity],
                         stopbits=bus.stopbits, timeout=0.1, write_timeout=1.0,
                         exclusive=True)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
