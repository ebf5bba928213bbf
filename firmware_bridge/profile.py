"""The Quầy số RS485 device profile (firmware_bridge/PROTOCOL.md) as constants and pure functions.

Register addresses, kind codes, key codes, the ASCII text encoding of ticket numbers and the value
written to off-the-shelf numeric LED displays. No I/O here: `master.py` moves these words over the
bus, the tests check them against the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAGIC = 0x5153  # "QS", ir 0 (PROTOCOL.md §4)
PROTOCOL_MAJOR = 1

# Kind names used in [[bridge.devices]] kind = "..." and the code in ir 2 (None: not identified).
KIND_CODES: dict[str, int | None] = {
    "counter-display": 1,
    "counter-terminal": 2,
    "rating-box": 3,
    "lobby-board": 4,
    "numeric-led": None,
}
KINDS_WITH_KEYS = ("counter-terminal", "rating-box")
KINDS_WITH_DISPLAY = ("counter-display", "counter-terminal", "lobby-board", "numeric-led")

IDENT_ADDRESS, IDENT_COUNT = 0, 11        # ir 0..10
EVENTS_ADDRESS, EVENTS_COUNT = 16, 7      # ir 16..22
EVENT_ACK_REGISTER = 32                   # hr 32
DISPLAY_BLOCK = 12                        # hr 0..11 of a counter display / terminal
RATING_BLOCK = 5                          # hr 0..4 of a rating box
LOBBY_ROWS_ADDRESS = 16                   # hr 16 + 5·i
LOBBY_MAX_ROWS = 16
TEXT_CHARS = 8                            # 4 registers

# hr 0 MODE (§6.1)
MODE_IDLE, MODE_NUMBER, MODE_PAUSED, MODE_ERROR = 0, 1, 2, 3
UNKNOWN_WAITING = 65535

# Counter terminal key codes (§6.2) → hub action path under /api/v1/counters/<n>/
KEY_NEXT, KEY_RECALL, KEY_NO_SHOW, KEY_FINISH, KEY_PAUSE, KEY_TRANSFER = 1, 2, 3, 4, 5, 6
TERMINAL_KEYS = {KEY_NEXT: "next", KEY_RECALL: "recall", KEY_NO_SHOW: "no-show",
                 KEY_FINISH: "finish", KEY_PAUSE: "pause", KEY_TRANSFER: "transfer"}
FINISH_OUTCOMES = {1: "received", 2: "returned", 3: "guidance", 4: "supplement"}

_TEXT_OK = re.compile(r"^[0-9A-Z -]{0,8}$")


class ProfileError(ValueError):
    """A value this profile cannot carry (e.g. a ticket number with characters outside §6)."""


@dataclass(frozen=True)
class Identity:
    """Identification registers ir 0..10 (PROTOCOL.md §4)."""

    magic: int
    protocol: int
    kind: int
    firmware: int
    unit: int
    serial: int
    size: int
    keys: int
    queue_capacity: int
    queue_epoch: int

    @classmethod
    def from_registers(cls, r: list[int]) -> "Identity":
        """Decode the 11 input registers read at address 0."""
        if len(r) != IDENT_COUNT:
            raise ProfileError(f"identification needs {IDENT_COUNT} registers, got {len(r)}")
        return cls(r[0], r[1], r[2], r[3], r[4], (r[5] << 16) | r[6], r[7], r[8], r[9], r[10])

    def problem(self, kind: str, unit: int) -> str | None:
        """Why this device cannot be driven as `kind` at `unit`, or None when it can."""
        if self.magic != MAGIC:
            return f"not a Quầy số device (MAGIC {self.magic:#06x})"
        if self.protocol >> 8 != PROTOCOL_MAJOR:
            return f"protocol {self.protocol >> 8}.{self.protocol & 0xFF} not supported (need 1.x)"
        if KIND_CODES.get(kind) != self.kind:
            return f"wrong kind: device says {self.kind}, configured {kind}"
        if self.unit != unit:
            return f"device says unit {self.unit}, configured {unit}"
        return None

    @property
    def firmware_text(self) -> str:
        return f"{self.firmware >> 8}.{self.firmware & 0xFF}"


@dataclass(frozen=True)
class Event:
    """The head of a device's key event queue, ir 16..22 (PROTOCOL.md §5.1)."""

    pending: int
    seq: int
    key: int
    arg: int
    age_ds: int
    overflows: int
    epoch: int

    @classmethod
    def from_registers(cls, r: list[int]) -> "Event":
        if len(r) != EVENTS_COUNT:
            raise ProfileError(f"event queue needs {EVENTS_COUNT} registers, got {len(r)}")
        return cls(*r)


def encode_text(text: str) -> list[int]:
    """A ticket number as the 4 TEXT registers: ASCII, 2 characters a register, high byte first,
    NUL-padded on the right (PROTOCOL.md §6). Longer than 8 characters: the last 8 are kept (the
    same rule a short display applies). Raises ProfileError for characters outside 0-9 A-Z space -."""
    text = text.upper()[-TEXT_CHARS:]
    if not _TEXT_OK.match(text):
        raise ProfileError(f"{text!r}: only 0-9, A-Z, space and '-' can be shown")
    raw = text.encode("ascii").ljust(TEXT_CHARS, b"\0")
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, TEXT_CHARS, 2)]


def decode_text(registers: list[int]) -> str:
    """Inverse of encode_text (for tests and the technician's view)."""
    raw = b"".join(bytes([r >> 8, r & 0xFF]) for r in registers)
    return raw.split(b"\0", 1)[0].decode("ascii")


def display_block(mode: int, text: str, *, counter: int, call_seq: int, blink_s: int,
                  brightness: int, watchdog_s: int, waiting: int = UNKNOWN_WAITING) -> list[int]:
    """hr 0..11 of a counter display or terminal (§6.1), one atomic 0x10 write."""
    words = encode_text(text if mode == MODE_NUMBER else "")
    return [mode, blink_s, brightness, watchdog_s, counter, call_seq & 0xFFFF,
            min(max(waiting, 0), 0xFFFF), 0, *words]


# Registers whose change alone goes on the bridge's slow lane (PROTOCOL.md §9): hr 6 WAITING of a
# counter display / terminal changes on every call anywhere in the hall.
SLOW_REGISTERS: dict[str, frozenset[int]] = {
    "counter-display": frozenset({6}),
    "counter-terminal": frozenset({6}),
}


def only_slow_change(kind: str, written: list[int] | None, wanted: list[int]) -> bool:
    """True when `wanted` differs from what was `written` only in the kind's SLOW_REGISTERS
    (False when nothing was written yet, the blocks differ in length, or they are equal)."""
    slow = SLOW_REGISTERS.get(kind)
    if not slow or written is None or len(written) != len(wanted) or written == wanted:
        return False
    return all(i in slow for i, (a, b) in enumerate(zip(written, wanted)) if a != b)


def rating_block(mode: int, *, thanks_s: int, brightness: int, watchdog_s: int, levels: int) -> list[int]:
    """hr 0..4 of a rating box (§6.3)."""
    return [mode, thanks_s, brightness, watchdog_s, levels]


def lobby_block(mode: int, rows: list[tuple[str, int]], size: int, *, call_seq: int, blink_s: int,
                brightness: int, watchdog_s: int) -> list[int]:
    """hr 0..(15 + 5·size) of a lobby board (§6.4); rows newest first as (number, counter)."""
    rows = rows[:size]
    out = [mode, blink_s, brightness, watchdog_s, len(rows), call_seq & 0xFFFF] + [0] * 10
    for i in range(size):
        if i < len(rows):
            number, counter = rows[i]
            out += [counter, *encode_text(number)]
        else:
            out += [0, 0, 0, 0, 0]
    return out


def numeric_value(number: str, digits: int) -> int:
    """The value an off-the-shelf numeric LED display shows for a ticket number (§7): its digits
    as an integer ("A023" → 23), cut to the last `digits` digits."""
    only = re.sub(r"\D", "", number)[-digits:]
    return int(only) if only else 0


def event_key(serial: int, epoch: int, seq: int) -> str:
    """The idempotency key of one key press (§5.3): unique per device, event store and sequence."""
    return f"rs485-{serial:08x}-{epoch:04x}-{seq}"
