"""The register maps of the Quầy số RS485 profile, as the simulated devices implement them.

Written from `firmware_bridge/PROTOCOL.md` (profile 1.0) by hand, and deliberately NOT imported
from the bridge's own constants: the simulated devices are an independent peer, so a mismatch
between the document and either implementation shows up as a failing test
(`tests/devices/test_register_tables.py` reads the document's tables and compares them with these).

Addresses are Modbus PDU addresses (0-based). Ranges are inclusive. Values are 16-bit registers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

MAGIC = 0x5153             # "QS", PROTOCOL.md §4
PROFILE_VERSION = 0x0100   # 1.0
BLANK = 0xFFFF             # WAITING's "unknown"


class Kind(IntEnum):
    """KIND (ir 2), PROTOCOL.md §4."""

    COUNTER_DISPLAY = 1
    COUNTER_TERMINAL = 2
    RATING_BOX = 3
    LOBBY_BOARD = 4


class Mode(IntEnum):
    """MODE (hr 0) of displays, terminals, rating boxes and boards, PROTOCOL.md §6."""

    IDLE = 0
    NUMBER = 1      # rating box: ready; lobby board: rows
    PAUSED = 2
    ERROR = 3


class TerminalKey(IntEnum):
    """EVENT_KEY of a counter terminal, PROTOCOL.md §6.2."""

    NEXT = 1
    RECALL = 2
    NO_SHOW = 3
    FINISH = 4
    PAUSE = 5
    TRANSFER = 6


@dataclass(frozen=True)
class Register:
    """One row of a register table: `table` is "ir" (input) or "hr" (holding); `low`..`high` the
    accepted values (for `ascii` registers: each byte a profile character or NUL)."""

    table: str
    address: int
    name: str
    low: int
    high: int
    default: int | None
    ascii: bool = False

    def accepts(self, value: int) -> bool:
        if self.ascii:
            return all(b == 0 or chr(b) in TEXT_CHARACTERS for b in (value >> 8, value & 0xFF))
        return self.low <= value <= self.high


TEXT_CHARACTERS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ -")  # PROTOCOL.md §6

# §4: identification, every kind of the profile
IDENTIFICATION = (
    Register("ir", 0, "MAGIC", MAGIC, MAGIC, MAGIC),
    Register("ir", 1, "PROTOCOL", 0x0100, 0x01FF, PROFILE_VERSION),
    Register("ir", 2, "KIND", 1, 4, None),
    Register("ir", 3, "FIRMWARE", 0, 65535, None),
    Register("ir", 4, "UNIT", 1, 247, None),
    Register("ir", 5, "SERIAL_HI", 0, 65535, None),
    Register("ir", 6, "SERIAL_LO", 0, 65535, None),
    Register("ir", 7, "SIZE", 1, 16, None),
    Register("ir", 8, "KEYS", 0, 63, None),
    Register("ir", 9, "QUEUE_CAPACITY", 0, 255, None),
    Register("ir", 10, "QUEUE_EPOCH", 0, 65535, None),
)

# §5.1: the event queue of terminals and rating boxes
EVENT_QUEUE = (
    Register("ir", 16, "PENDING", 0, 255, 0),
    Register("ir", 17, "EVENT_SEQ", 0, 65535, 0),
    Register("ir", 18, "EVENT_KEY", 0, 6, 0),
    Register("ir", 19, "EVENT_ARG", 0, 999, 0),
    Register("ir", 20, "EVENT_AGE", 0, 65535, 0),
    Register("ir", 21, "OVERFLOWS", 0, 65535, 0),
    Register("ir", 22, "EPOCH", 1, 65535, None),
)
EVENT_ACK = Register("hr", 32, "EVENT_ACK", 1, 65535, 0)

# §6.1: counter display (and the display half of a counter terminal, §6.2)
COUNTER_DISPLAY = (
    Register("hr", 0, "MODE", 0, 3, 3),
    Register("hr", 1, "BLINK_S", 0, 60, 5),
    Register("hr", 2, "BRIGHTNESS", 0, 100, 80),
    Register("hr", 3, "WATCHDOG_S", 0, 3600, 60),
    Register("hr", 4, "COUNTER", 0, 999, 0),
    Register("hr", 5, "CALL_SEQ", 0, 65535, 0),
    Register("hr", 6, "WAITING", 0, 65535, 65535),
    Register("hr", 7, "RESERVED", 0, 0, 0),
    Register("hr", 8, "TEXT_0", 0, 65535, 0, ascii=True),
    Register("hr", 9, "TEXT_1", 0, 65535, 0, ascii=True),
    Register("hr", 10, "TEXT_2", 0, 65535, 0, ascii=True),
    Register("hr", 11, "TEXT_3", 0, 65535, 0, ascii=True),
)

# §6.3: rating box
RATING_BOX = (
    Register("hr", 0, "MODE", 0, 3, 3),
    Register("hr", 1, "THANKS_S", 1, 60, 3),
    Register("hr", 2, "BRIGHTNESS", 0, 100, 80),
    Register("hr", 3, "WATCHDOG_S", 0, 3600, 60),
    Register("hr", 4, "LEVELS", 3, 5, 3),
)

# §6.4: lobby board, header; rows follow at 16 + 5·i (ROW_COUNTER, then 4 registers of text)
LOBBY_BOARD_HEADER = (
    Register("hr", 0, "MODE", 0, 3, 3),
    Register("hr", 1, "BLINK_S", 0, 60, 5),
    Register("hr", 2, "BRIGHTNESS", 0, 100, 80),
    Register("hr", 3, "WATCHDOG_S", 0, 3600, 60),
    Register("hr", 4, "ROWS_USED", 0, 16, 0),
    Register("hr", 5, "CALL_SEQ", 0, 65535, 0),
    *(Register("hr", a, "RESERVED", 0, 0, 0) for a in range(6, 16)),
)
LOBBY_ROW_BASE = 16
LOBBY_ROW_STRIDE = 5
LOBBY_MAX_ROWS = 16


def lobby_board_rows(rows: int) -> tuple[Register, ...]:
    """The row registers of a board of `rows` rows (1..16)."""
    out: list[Register] = []
    for i in range(rows):
        base = LOBBY_ROW_BASE + LOBBY_ROW_STRIDE * i
        out.append(Register("hr", base, "ROW_COUNTER", 0, 999, 0))
        out.extend(Register("hr", base + 1 + k, "ROW_TEXT", 0, 65535, 0, ascii=True) for k in range(4))
    return tuple(out)


def text_from_registers(values: list[int] | tuple[int, ...]) -> str:
    """ASCII, two characters a register, high byte first, NUL padded (PROTOCOL.md §6)."""
    raw = b"".join(v.to_bytes(2, "big") for v in values)
    return raw.split(b"\0", 1)[0].decode("ascii", errors="replace")


def text_to_registers(text: str, registers: int = 4) -> list[int]:
    """The inverse of `text_from_registers` (for tests and the technician's page)."""
    raw = text.encode("ascii")[: registers * 2].ljust(registers * 2, b"\0")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def shown_on(text: str, size: int) -> str:
    """What a device of `size` characters shows for `text`: right-aligned, the last `size`
    characters when longer (PROTOCOL.md §6)."""
    return text[-size:].rjust(size) if size else text
