"""Simulated RS485 devices: what each kind of PROTOCOL.md does with its registers.

Each class is one device at one unit id, independent of any Modbus library: the Modbus server
(`modbus.py`) turns requests into `read_input` / `read_holding` / `write_holding` calls, and the
technician's page calls `view()` and `press()`. A request the device refuses raises `Refused` with
the Modbus exception code of PROTOCOL.md §3, and a refused write changes nothing.

Kinds: `CounterDisplay` (§6.1), `CounterTerminal` (§6.2), `RatingBox` (§6.3), `LobbyBoard` (§6.4)
and `NumericLed`, the off-the-shelf display of §7 (a value in one holding register, nothing else).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import registers as R
from .event_queue import (ILLEGAL_DATA_ADDRESS, ILLEGAL_DATA_VALUE, KeyEventQueue, Refused)

MAX_READ = 125    # registers in one read, Modbus Application Protocol V1.1b3 §6.3/§6.4
MAX_WRITE = 123   # registers in one 0x10 write, §6.12


class SimulatedDevice:
    """Common behaviour: identification (§4) and a table of holding registers with ranges.

    Subclasses set `kind`, build `self.holding_table` (address → Register) and may override
    `_after_write` (what the device does once a write is accepted), `input_registers` and
    `view()`. `clock` is a monotonic clock in seconds (tests pass their own)."""

    kind: R.Kind
    kind_name: str

    def __init__(self, unit: int, *, size: int, keys: int = 0, queue: KeyEventQueue | None = None,
                 firmware: int = 0x0100, serial: int | None = None, counter: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 1 <= unit <= 247:
            raise ValueError(f"unit id must be 1..247, not {unit}")
        self.unit = unit
        self.size = size
        self.keys = keys
        self.queue = queue
        self.firmware = firmware
        self.serial = serial if serial is not None else (zlib.crc32(f"sim-{unit}".encode()) or 1)
        self.counter = counter
        self._clock = clock
        self._lock = threading.RLock()
        self.holding_table: dict[int, R.Register] = {}
        self.holding: dict[int, int] = {}
        self.last_write_at: float | None = None
        self.changed_at: float | None = None   # monotonic s of the last write that changed a value
        self.writes = 0

    # ---- registers -----------------------------------------------------------------------------
    def _reset_holding(self) -> None:
        self.holding = {a: (r.default or 0) for a, r in self.holding_table.items()}

    def identification(self) -> list[int]:
        """ir 0..10."""
        q = self.queue
        return [R.MAGIC, R.PROFILE_VERSION, int(self.kind), self.firmware, self.unit,
                self.serial >> 16, self.serial & 0xFFFF, self.size, self.keys,
                q.capacity if q else 0, q.epoch if q else 0]

    def input_registers(self) -> dict[int, int]:
        """Every input register this device has, address → value (read fresh each request)."""
        out = dict(enumerate(self.identification()))
        if self.queue is not None:
            out.update({16 + i: v for i, v in enumerate(self.queue.registers())})
        return out

    def read_input(self, address: int, count: int) -> list[int]:
        _check_quantity(count, MAX_READ)
        with self._lock:
            regs = self.input_registers()
            return _pick(regs, address, count)

    def read_holding(self, address: int, count: int) -> list[int]:
        _check_quantity(count, MAX_READ)
        with self._lock:
            regs = dict(self.holding)
            if self.queue is not None:
                regs[R.EVENT_ACK.address] = self.queue.last_acked
            return _pick(regs, address, count)

    def write_holding(self, address: int, values: Sequence[int]) -> None:
        """One 0x06 or 0x10 write: all of it, or nothing (§3)."""
        _check_quantity(len(values), MAX_WRITE)
        with self._lock:
            addresses = range(address, address + len(values))
            if self.queue is not None and R.EVENT_ACK.address in addresses:
                if len(values) != 1:
                    raise Refused(ILLEGAL_DATA_ADDRESS, "EVENT_ACK is written alone")
                self.queue.acknowledge(values[0])
                return
            for a, v in zip(addresses, values):
                reg = self.holding_table.get(a)
                if reg is None:
                    raise Refused(ILLEGAL_DATA_ADDRESS, f"no holding register {a}")
                if not reg.accepts(v):
                    raise Refused(ILLEGAL_DATA_VALUE, f"{reg.name} = {v} is out of {reg.low}..{reg.high}")
            before = dict(self.holding)
            for a, v in zip(addresses, values):
                self.holding[a] = v
            self.last_write_at = self._clock()
            if self.holding != before:
                self.changed_at = self.last_write_at
            self.writes += 1
            self._after_write(before)

    def _after_write(self, before: dict[int, int]) -> None:
        """Hook: a write was accepted (`before` holds the previous values)."""

    def reset(self) -> None:
        """A power cycle: volatile registers back to their defaults, the event store kept (§5.2)."""
        with self._lock:
            self._reset_holding()
            self.last_write_at = None
            if self.queue is not None:
                self.queue.reset()

    # ---- what a technician sees ------------------------------------------------------------------
    def watchdog_expired(self) -> bool:
        limit = self.holding.get(3, 0)   # WATCHDOG_S, hr 3 of every kind of the profile
        if not limit:
            return False
        since = self.last_write_at
        return since is None or self._clock() - since >= limit

    def view(self) -> dict[str, Any]:
        """What the device shows now, as a dict for the technician's page and tests."""
        raise NotImplementedError

    def press(self, key: int, arg: int = 0) -> int | None:
        """A key pressed on the device; returns the event's sequence number, or None if not
        queued (no keys, key not fitted, full queue, or the device's mode ignores presses)."""
        return None


class CounterDisplay(SimulatedDevice):
    """§6.1: a number over a counter. `size` characters (4..8)."""

    kind = R.Kind.COUNTER_DISPLAY
    kind_name = "counter-display"

    def __init__(self, unit: int, *, size: int = 4, **kw: Any) -> None:
        if not 4 <= size <= 8:
            raise ValueError(f"a display shows 4..8 characters, not {size}")
        super().__init__(unit, size=size, **kw)
        self.holding_table = {r.address: r for r in R.COUNTER_DISPLAY}
        self._reset_holding()
        self.blink_until = 0.0

    def _after_write(self, before: dict[int, int]) -> None:
        if self.holding[5] != before.get(5):   # CALL_SEQ changed: a call or a recall
            self.blink_until = self._clock() + self.holding[1]
        if any(self.holding[a] != before.get(a) for a in (0, 5, 8, 9, 10, 11)):
            self.shown_at = self.last_write_at   # what people see changed (mode, call, text)

    shown_at: float | None = None

    def text(self) -> str:
        return R.text_from_registers([self.holding[a] for a in range(8, 12)])

    def view(self) -> dict[str, Any]:
        with self._lock:
            mode = R.Mode.ERROR if self.watchdog_expired() else R.Mode(self.holding[0])
            shown = {R.Mode.IDLE: "-" * self.size, R.Mode.NUMBER: R.shown_on(self.text(), self.size),
                     R.Mode.PAUSED: R.shown_on("P", self.size), R.Mode.ERROR: R.shown_on("Err", self.size)}[mode]
            return {"unit": self.unit, "kind": self.kind_name, "counter": self.counter,
                    "mode": mode.name.lower(), "shows": shown, "text": self.text(),
                    "blinking": mode == R.Mode.NUMBER and self._clock() < self.blink_until,
                    "brightness": self.holding[2], "call_seq": self.holding[5],
                    "waiting": None if self.holding[6] == R.BLANK else self.holding[6],
                    "writes": self.writes, "changed_at": self.changed_at, "shown_at": self.shown_at}


class CounterTerminal(CounterDisplay):
    """§6.2: a counter display and a staff keypad (keys 1..6, TRANSFER takes a counter number)."""

    kind = R.Kind.COUNTER_TERMINAL
    kind_name = "counter-terminal"

    def __init__(self, unit: int, *, size: int = 4, queue: KeyEventQueue, keys: int = 0x3F, **kw: Any) -> None:
        super().__init__(unit, size=size, queue=queue, keys=keys, **kw)

    def press(self, key: int, arg: int = 0) -> int | None:
        if not (1 <= key <= 6 and self.keys & (1 << (key - 1))) or not 0 <= arg <= 999:
            return None
        assert self.queue is not None
        return self.queue.press(key, arg)

    def view(self) -> dict[str, Any]:
        out = super().view()
        assert self.queue is not None
        out["pending"] = self.queue.registers()[0]
        out["acked_at"] = self.queue.acked_at
        out["keys"] = [k.name.lower() for k in R.TerminalKey if self.keys & (1 << (k - 1))]
        return out


class RatingBox(SimulatedDevice):
    """§6.3: one key per rating level (`size` keys, 3..5) and a "thank you" light."""

    kind = R.Kind.RATING_BOX
    kind_name = "rating-box"

    def __init__(self, unit: int, *, size: int = 3, queue: KeyEventQueue, **kw: Any) -> None:
        if not 3 <= size <= 5:
            raise ValueError(f"a rating box has 3..5 keys, not {size}")
        super().__init__(unit, size=size, keys=(1 << size) - 1, queue=queue, **kw)
        self.holding_table = {r.address: r for r in R.RATING_BOX}
        self._reset_holding()
        self.thanks_until = 0.0

    def press(self, key: int, arg: int = 0) -> int | None:
        with self._lock:
            mode = R.Mode.ERROR if self.watchdog_expired() else R.Mode(self.holding[0])
            if mode in (R.Mode.IDLE, R.Mode.PAUSED) or not 1 <= key <= min(self.size, self.holding[4]):
                return None
            assert self.queue is not None
            seq = self.queue.press(key, 0)
            if seq is not None:
                self.thanks_until = self._clock() + self.holding[1]
            return seq

    def view(self) -> dict[str, Any]:
        with self._lock:
            mode = R.Mode.ERROR if self.watchdog_expired() else R.Mode(self.holding[0])
            assert self.queue is not None
            return {"unit": self.unit, "kind": self.kind_name, "counter": self.counter,
                    "mode": {0: "idle", 1: "ready", 2: "paused", 3: "error"}[int(mode)],
                    "levels": self.holding[4], "keys_lit": mode in (R.Mode.NUMBER, R.Mode.ERROR),
                    "thanks": self._clock() < self.thanks_until, "pending": self.queue.registers()[0],
                    "writes": self.writes}


class LobbyBoard(SimulatedDevice):
    """§6.4: the latest calls, newest first, `size` rows (1..16)."""

    kind = R.Kind.LOBBY_BOARD
    kind_name = "lobby-board"

    def __init__(self, unit: int, *, size: int = 8, **kw: Any) -> None:
        if not 1 <= size <= R.LOBBY_MAX_ROWS:
            raise ValueError(f"a lobby board has 1..16 rows, not {size}")
        super().__init__(unit, size=size, **kw)
        self.holding_table = {r.address: r for r in (*R.LOBBY_BOARD_HEADER, *R.lobby_board_rows(size))}
        self._reset_holding()
        self.blink_until = 0.0

    def write_holding(self, address: int, values: Sequence[int]) -> None:
        rows_used = dict(zip(range(address, address + len(values)), values)).get(4)
        if rows_used is not None and rows_used > self.size:
            raise Refused(ILLEGAL_DATA_VALUE, f"ROWS_USED {rows_used} > {self.size} rows")
        super().write_holding(address, values)

    def _after_write(self, before: dict[int, int]) -> None:
        if self.holding[5] != before.get(5):
            self.blink_until = self._clock() + self.holding[1]

    def view(self) -> dict[str, Any]:
        with self._lock:
            mode = R.Mode.ERROR if self.watchdog_expired() else R.Mode(self.holding[0])
            rows = []
            if mode in (R.Mode.NUMBER, R.Mode.PAUSED):
                for i in range(min(self.holding[4], self.size)):
                    base = R.LOBBY_ROW_BASE + R.LOBBY_ROW_STRIDE * i
                    rows.append({"counter": self.holding[base],
                                 "number": R.text_from_registers([self.holding[base + 1 + k] for k in range(4)])})
            return {"unit": self.unit, "kind": self.kind_name, "counter": None,
                    "mode": {0: "idle", 1: "rows", 2: "rows", 3: "error"}[int(mode)], "rows": rows,
                    "blinking": bool(rows) and self._clock() < self.blink_until, "writes": self.writes}


class NumericLed(SimulatedDevice):
    """§7: an off-the-shelf RS485 numeric LED display. It has no identification and no profile
    registers: holding register `register` (and `register + 1`, for values over 65535 written as
    two registers high word first) take the value; it shows the last `digits` digits.
    `functions` are the write function codes the model accepts (some accept only 6 or only 16)."""

    kind_name = "numeric-led"

    def __init__(self, unit: int, *, digits: int = 4, register: int = 0,
                 functions: tuple[int, ...] = (6, 16), **kw: Any) -> None:
        super().__init__(unit, size=digits, **kw)
        self.register = register
        self.functions = functions
        self.holding_table = {a: R.Register("hr", a, "VALUE", 0, 65535, 0) for a in (register, register + 1)}
        self._reset_holding()
        self.two_registers = False

    def identification(self) -> list[int]:
        raise Refused(ILLEGAL_DATA_ADDRESS, "an off-the-shelf display has no identification")

    def input_registers(self) -> dict[int, int]:
        return {}

    def write_holding(self, address: int, values: Sequence[int]) -> None:
        super().write_holding(address, values)
        with self._lock:
            self.two_registers = address == self.register and len(values) == 2
            if address == self.register and len(values) == 1:
                self.holding[self.register + 1] = 0

    def value(self) -> int:
        hi, lo = self.holding[self.register], self.holding[self.register + 1]
        return (hi << 16 | lo) if self.two_registers else hi

    def view(self) -> dict[str, Any]:
        with self._lock:
            shown = str(self.value() % (10 ** self.size)).rjust(self.size)
            return {"unit": self.unit, "kind": self.kind_name, "counter": self.counter,
                    "mode": "value", "shows": shown, "value": self.value(), "writes": self.writes,
                    "changed_at": self.changed_at}

    def watchdog_expired(self) -> bool:
        return False


def _check_quantity(count: int, limit: int) -> None:
    if not 1 <= count <= limit:
        # A bad quantity is ILLEGAL DATA VALUE (Modbus Application Protocol V1.1b3 §6.3, §6.4,
        # §6.12: "0x0001 ≤ Quantity of Registers ≤ 0x007D" else exception code 03).
        raise Refused(ILLEGAL_DATA_VALUE, f"quantity {count} is out of 1..{limit}")


def _pick(regs: dict[int, int], address: int, count: int) -> list[int]:
    try:
        return [regs[a] for a in range(address, address + count)]
    except KeyError as e:
        raise Refused(ILLEGAL_DATA_ADDRESS, f"no register {e.args[0]}") from None


def make_device(spec: dict[str, Any], *, state_dir: Path | None, bus: str,
                clock: Callable[[], float] = time.monotonic) -> SimulatedDevice:
    """A device from one `[[bridge.devices]]` table of the center's TOML (the keys the bridge
    reads, plus the simulator's own `size`/`rows`/`levels`/`digits`; see docs/configuration.md).
    The event store of a keypad or rating box is `<state_dir>/<bus>-unit<unit>.json`."""
    kind = spec.get("kind")
    unit = int(spec["unit"])
    counter = spec.get("counter")
    queue_path = state_dir / f"{bus}-unit{unit}.json" if state_dir is not None else None
    if kind == "counter-display":
        return CounterDisplay(unit, size=int(spec.get("size", 4)), counter=counter, clock=clock)
    if kind == "counter-terminal":
        return CounterTerminal(unit, size=int(spec.get("size", 4)), counter=counter, clock=clock,
                               queue=KeyEventQueue(int(spec.get("queue_capacity", 16)), queue_path, clock))
    if kind == "rating-box":
        return RatingBox(unit, size=int(spec.get("levels", spec.get("size", 3))), counter=counter, clock=clock,
                         queue=KeyEventQueue(int(spec.get("queue_capacity", 16)), queue_path, clock))
    if kind == "lobby-board":
        return LobbyBoard(unit, size=int(spec.get("rows", spec.get("size", 8))), clock=clock)
    if kind == "numeric-led":
        function = spec.get("function")
        return NumericLed(unit, digits=int(spec.get("digits", 4)), register=int(spec.get("register", 0)),
                          functions=(int(function),) if function else (6, 16), counter=counter, clock=clock)
    raise ValueError(f"unknown device kind {kind!r} (counter-display, counter-terminal, rating-box, "
                     f"lobby-board, numeric-led)")
