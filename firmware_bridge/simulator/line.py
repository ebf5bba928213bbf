"""The line simulator: a relay between two serial ports that paces bytes as an RS485 line would.

A pseudo-terminal ignores the baud rate: a 33-byte display write crosses a pty in microseconds,
where a real bus at 9600 baud takes 38 ms. The benchmark and the timing tests therefore put this
relay between the bridge's pty pair and the devices' pty pair:

    firmware-bridge ── pty pair ── LineSimulator ── pty pair ── device-simulator

Each byte read from one side is delivered to the other no sooner than a real line would have
carried it: 11 bits a character (start + 8 data + parity or second stop + stop, the Modbus
serial-line reference that PROTOCOL.md §2 budgets with) at the configured baud rate. The line is
half duplex and shared, like RS485: bytes going either way queue for the same wire, and a reply
after a request costs the configured turnaround on top (the time a device takes to switch its
driver on after the request's last byte); the master keeps its own t3.5 before its next request.
Noise can be put on the wire too (`inject`).

Every byte's *due* time (when its last bit would leave the wire) and the time it was actually
written are recorded in `schedule()`, so tests assert on the schedule (spacing ≥ one character,
order kept) rather than on the wall clock, and the benchmark reads the busy time of the line from it.
"""

from __future__ import annotations

import os
import select
import termios
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

TO_DEVICES = "to_devices"   # master → devices (requests)
TO_MASTER = "to_master"     # devices → master (replies)
BITS_PER_CHARACTER = 11     # PROTOCOL.md §2; Modbus over Serial Line V1.02 §2.5.1


@dataclass(frozen=True)
class LineTiming:
    """How long things take on the wire.

    `baud` in bits per second; `turnaround_ms` is added before the first byte after a change of
    direction (PROTOCOL.md §2 allows a device 20 ms; 5 ms is the document's typical figure)."""

    baud: int = 9600
    turnaround_ms: float = 5.0
    bits_per_character: int = BITS_PER_CHARACTER
    paced: bool = True   # False: a plain relay (bytes pass at once; noise and unplugging still work)

    def __post_init__(self) -> None:
        if self.baud <= 0:
            raise ValueError(f"baud must be positive, not {self.baud}")
        if self.turnaround_ms < 0:
            raise ValueError(f"turnaround_ms must be ≥ 0, not {self.turnaround_ms}")

    @property
    def character_s(self) -> float:
        """One character on the wire, in seconds (11 bits / baud)."""
        return self.bits_per_character / self.baud

    @property
    def wire_character_s(self) -> float:
        """What the relay spaces bytes by: `character_s`, or 0 when not paced."""
        return self.character_s if self.paced else 0.0

    @property
    def inter_frame_s(self) -> float:
        """t3.5, the silence that ends a frame, in seconds (fixed 1.75 ms above 19200 baud)."""
        return 3.5 * self.character_s if self.baud <= 19200 else 0.00175

    def frame_s(self, n_bytes: int) -> float:
        """Time a frame of `n_bytes` occupies the wire, in seconds."""
        return n_bytes * self.character_s


@dataclass(frozen=True)
class Delivery:
    """One byte that crossed the line: `due` is when its last bit left the wire, `written` when
    the relay handed it to the far side (just before its write; both `time.monotonic()` seconds;
    written ≥ due)."""

    direction: str
    byte: int
    due: float
    written: float
    noise: bool = False


@dataclass
class _Pending:
    direction: str
    data: deque[tuple[int, float, bool]] = field(default_factory=deque)


class LineSimulator:
    """Relay between `master_port` (the far end of the bridge's pty pair) and `devices_port` (the
    far end of the devices' pty pair), pacing bytes by `timing`.

    `start()` runs the relay on a thread of its own; `close()` stops it (idempotent; also a
    context manager). A side whose pty goes away (the pair was restarted) is reopened by path
    every 50 ms until it is back. `record=False` keeps no schedule (long benchmark runs keep only
    the busy-time totals)."""

    def __init__(self, master_port: str, devices_port: str, timing: LineTiming, *,
                 record: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.paths = {"master": master_port, "devices": devices_port}
        self.timing = timing
        self.record = record
        self._clock = clock
        self._fds: dict[str, int | None] = {"master": None, "devices": None}
        self._pending = {TO_DEVICES: _Pending(TO_DEVICES), TO_MASTER: _Pending(TO_MASTER)}
        self._schedule: list[Delivery] = []
        self._lock = threading.Lock()
        self._line_free_at = 0.0
        self._last_direction: str | None = None
        self._busy_s = {TO_DEVICES: 0.0, TO_MASTER: 0.0}
        self._bytes = {TO_DEVICES: 0, TO_MASTER: 0}
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None

    # ---- life cycle -------------------------------------------------------------------------
    def start(self) -> "LineSimulator":
        for side in self.paths:
            self._open(side)
        self._thread = threading.Thread(target=self._run, name="line-simulator", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        for side in self.paths:
            self._close_fd(side)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> "LineSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- what tests and the benchmark read -------------------------------------------------
    def schedule(self) -> list[Delivery]:
        """Every byte delivered so far, in the order it was written (empty if record=False)."""
        with self._lock:
            return list(self._schedule)

    def busy_s(self, direction: str | None = None) -> float:
        """Seconds of line time the bytes delivered so far occupied (one direction or both)."""
        with self._lock:
            return self._busy_s[direction] if direction else sum(self._busy_s.values())

    def byte_count(self, direction: str | None = None) -> int:
        """Bytes delivered so far (one direction or both)."""
        with self._lock:
            return self._bytes[direction] if direction else sum(self._bytes.values())

    def reset_counters(self) -> None:
        """Forget the schedule and the busy totals (the benchmark measures one window)."""
        with self._lock:
            self._schedule.clear()
            self._busy_s = {TO_DEVICES: 0.0, TO_MASTER: 0.0}
            self._bytes = {TO_DEVICES: 0, TO_MASTER: 0}

    def inject(self, direction: str, data: bytes) -> None:
        """Put `data` on the wire as noise going `direction` (TO_DEVICES or TO_MASTER), paced like
        any other bytes. Recorded with noise=True."""
        if direction not in self._pending:
            raise ValueError(f"direction must be {TO_DEVICES!r} or {TO_MASTER!r}")
        with self._lock:
            self._enqueue(direction, data, self._clock(), noise=True)
        os.write(self._wake_w, b"x")

    # ---- the relay ----------------------------------------------------------------------------
    def _open(self, side: str) -> None:
        try:
            fd = os.open(self.paths[side], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            self._fds[side] = None
            return
        try:
            tty.setraw(fd, termios.TCSANOW)
        except termios.error:
            pass  # not a terminal (a FIFO in a test): nothing to set
        self._fds[side] = fd

    def _close_fd(self, side: str) -> None:
        fd = self._fds[side]
        self._fds[side] = None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _enqueue(self, direction: str, data: bytes, now: float, noise: bool = False) -> None:
        """Give each byte of `data` its due time on the shared wire (caller holds the lock)."""
        start = max(now, self._line_free_at)
        if self.timing.paced and self._last_direction == TO_DEVICES and direction == TO_MASTER:
            # a device's turnaround: its reply starts this long after the request's last byte.
            # The master's own silence before its next request (t3.5) is the master's to keep
            # (PROTOCOL.md §2); charging it a device's turnaround too made every transaction
            # one turnaround longer than the bus budget (§9) counts.
            start = max(start, self._line_free_at + self.timing.turnaround_ms / 1000)
        character = self.timing.wire_character_s
        pending = self._pending[direction].data
        for i, byte in enumerate(data):
            pending.append((byte, start + (i + 1) * character, noise))
        self._line_free_at = start + len(data) * character
        self._last_direction = direction

    def _run(self) -> None:
        last_reopen = 0.0
        while not self._stop.is_set():
            now = self._clock()
            if any(fd is None for fd in self._fds.values()) and now - last_reopen >= 0.05:
                last_reopen = now
                for side, fd in self._fds.items():
                    if fd is None:
                        self._open(side)
            timeout = 0.05
            with self._lock:
                dues = [p.data[0][1] for p in self._pending.values() if p.data]
            if dues:
                timeout = max(0.0, min(min(dues) - now, timeout))
            readers = [fd for fd in self._fds.values() if fd is not None] + [self._wake_r]
            try:
                readable, _, _ = select.select(readers, [], [], timeout)
            except (OSError, ValueError):
                readable = []
            if self._stop.is_set():
                return
            if self._wake_r in readable:
                os.read(self._wake_r, 4096)
            for side, direction in (("master", TO_DEVICES), ("devices", TO_MASTER)):
                fd = self._fds[side]
                if fd is None or fd not in readable:
                    continue
                try:
                    data = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                except OSError:
                    self._close_fd(side)  # the pty went away (EIO): reopen it later
                    continue
                if not data:
                    self._close_fd(side)  # hang-up: the pair's other end is gone
                    continue
                if data:
                    with self._lock:
                        self._enqueue(direction, data, self._clock())
            self._write_due()

    def _write_due(self) -> None:
        now = self._clock()
        for direction, pending in self._pending.items():
            out = bytearray()
            due_items: list[tuple[int, float, bool]] = []
            with self._lock:
                while pending.data and pending.data[0][1] <= now:
                    item = pending.data.popleft()
                    due_items.append(item)
                    out.append(item[0])
            if not out:
                continue
            target = "devices" if direction == TO_DEVICES else "master"
            # recorded before the write, so whoever reads the bytes finds them in the schedule
            written = self._clock()
            with self._lock:
                self._bytes[direction] += len(out)
                self._busy_s[direction] += len(out) * self.timing.character_s
                if self.record:
                    self._schedule.extend(Delivery(direction, b, due, written, noise)
                                          for b, due, noise in due_items)
            fd = self._fds[target]
            if fd is not None:
                try:
                    os.write(fd, bytes(out))
                except OSError:
                    self._close_fd(target)  # lost with the pty, as on a cut cable
