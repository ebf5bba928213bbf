"""The exactly-once key event queue of a simulated keypad or rating box (PROTOCOL.md §5.2).

This is the device's half of the protocol, written to the document's rules so the bridge's half
can be tested against it:

1. sequence numbers from a non-volatile NEXT_SEQ, 1..65535 then 1 again, never 0;
2. a press is queued (in non-volatile memory) only while PENDING < QUEUE_CAPACITY, else
   OVERFLOWS counts it;
3. the head is the oldest event;
4. an acknowledgement of the head's sequence removes it and sets LAST_ACKED in the same write;
   repeating LAST_ACKED changes nothing; anything else is refused (exception 0x03);
5. a reset presents exactly the stored queue (same sequence numbers, same epoch);
6. an erased store gets a new random epoch and starts again at NEXT_SEQ = 1.

"Non-volatile memory" is a small JSON file written atomically (temporary file, fsync, rename) before
a press is accepted or an acknowledgement answered; with no file (`path=None`) the store lives in
memory and a reset keeps it anyway (as FRAM would).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class Refused(Exception):
    """A request the device answers with a Modbus exception; `code` is the exception code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


ILLEGAL_FUNCTION = 0x01
ILLEGAL_DATA_ADDRESS = 0x02
ILLEGAL_DATA_VALUE = 0x03
SERVER_DEVICE_FAILURE = 0x04


@dataclass(frozen=True)
class KeyEvent:
    """One queued press: `seq` 1..65535, `key` a key code, `arg` 0..999, `pressed_at` in the
    device clock's seconds (volatile: only EVENT_AGE is derived from it)."""

    seq: int
    key: int
    arg: int
    pressed_at: float = 0.0


class KeyEventQueue:
    """The event store of one device. Thread-safe (the technician's page presses keys while the
    Modbus server reads and acknowledges).

    `capacity` events (8..255, or 0 for none); `path` the file standing for non-volatile memory
    (None: in memory); `epoch` the epoch of a store initialised now (None: random, rule 6).
    Raises ValueError for a capacity out of range."""

    def __init__(self, capacity: int = 16, path: Path | None = None,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
                 epoch: int | None = None) -> None:
        if not (capacity == 0 or 8 <= capacity <= 255):
            raise ValueError(f"queue capacity must be 8..255 (PROTOCOL.md §4), not {capacity}")
        self.capacity = capacity
        self.path = path
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.overflows = 0
        self.epoch = 0
        self.next_seq = 1
        self.last_acked = 0
        self.events: list[KeyEvent] = []
        self.acked_at: float | None = None   # clock time the head was last removed (benchmark)
        if not self._load():
            self._initialise(previous_epoch=None)
            if epoch is not None:   # a store made at the factory with a known epoch (tests, examples)
                self.epoch = epoch
                self._save()

    # ---- what the registers show -----------------------------------------------------------
    def head(self) -> KeyEvent | None:
        with self._lock:
            return self.events[0] if self.events else None

    def registers(self) -> list[int]:
        """ir 16..22: PENDING, EVENT_SEQ, EVENT_KEY, EVENT_ARG, EVENT_AGE, OVERFLOWS, EPOCH."""
        with self._lock:
            if not self.events:
                return [0, 0, 0, 0, 0, min(self.overflows, 65535), self.epoch]
            e = self.events[0]
            age = min(int((self._clock() - e.pressed_at) * 10 + 1e-6), 65535) if e.pressed_at else 0
            return [len(self.events), e.seq, e.key, e.arg, max(age, 0), min(self.overflows, 65535),
                    self.epoch]

    # ---- the device's side -------------------------------------------------------------------
    def press(self, key: int, arg: int = 0) -> int | None:
        """Queue a press; returns its sequence number, or None when the queue is full (OVERFLOWS
        counts it). The store is written before this returns (rule 2)."""
        with self._lock:
            if len(self.events) >= self.capacity:
                self.overflows += 1
                return None
            seq = self.next_seq
            self.events.append(KeyEvent(seq, key, arg, self._clock()))
            self.next_seq = 1 if seq >= 65535 else seq + 1
            self._save()
            return seq

    def acknowledge(self, value: int) -> None:
        """A write of `value` to EVENT_ACK (rule 4). Raises Refused(0x03) when `value` is neither
        the head's sequence nor LAST_ACKED (0 included)."""
        with self._lock:
            if self.events and value == self.events[0].seq:
                self.events.pop(0)
                self.last_acked = value
                self._save()
                self.acked_at = self._clock()
                return
            if value != 0 and value == self.last_acked:
                return
            raise Refused(ILLEGAL_DATA_VALUE,
                          f"ack {value}: head is {self.events[0].seq if self.events else 'empty'}, "
                          f"last acknowledged {self.last_acked}")

    def reset(self) -> None:
        """A device reset (rule 5): volatile counters cleared, the stored queue read back."""
        with self._lock:
            self.overflows = 0
            if self.path is not None and not self._load_locked():
                self._initialise_locked(previous_epoch=self.epoch)

    def erase(self) -> None:
        """The event store initialised (rule 6): a new epoch, NEXT_SEQ = 1, nothing queued."""
        with self._lock:
            self._initialise_locked(previous_epoch=self.epoch)

    # ---- non-volatile memory -------------------------------------------------------------------
    def _load(self) -> bool:
        with self._lock:
            return self._load_locked()

    def _load_locked(self) -> bool:
        if self.path is None or not self.path.exists():
            return False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            epoch, next_seq, last_acked = int(data["epoch"]), int(data["next_seq"]), int(data["last_acked"])
            events = [KeyEvent(int(s), int(k), int(a)) for s, k, a in data["events"]]
        except (OSError, ValueError, KeyError, TypeError):
            return False   # memory found corrupt: initialised afresh (rule 6)
        if not 1 <= epoch <= 65535:
            return False
        self.epoch, self.next_seq, self.last_acked = epoch, next_seq, last_acked
        now = self._clock()
        self.events = [KeyEvent(e.seq, e.key, e.arg, now) for e in events]  # EVENT_AGE restarts
        return True

    def _initialise(self, previous_epoch: int | None) -> None:
        with self._lock:
            self._initialise_locked(previous_epoch)

    def _initialise_locked(self, previous_epoch: int | None) -> None:
        epoch = self._rng.randint(1, 65535)
        while epoch == previous_epoch:
            epoch = self._rng.randint(1, 65535)
        self.epoch, self.next_seq, self.last_acked, self.events = epoch, 1, 0, []
        self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        data = {"epoch": self.epoch, "next_seq": self.next_seq, "last_acked": self.last_acked,
                "events": [[e.seq, e.key, e.arg] for e in self.events]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
