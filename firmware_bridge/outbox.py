"""The bridge's on-disk queue of key presses waiting for the hub (PROTOCOL.md §5.3).

SQLite in the bridge's data folder (WAL, synchronous=FULL, so a press taken is on disk before the
device is told to forget it). Two tables, changed together in one transaction:
- `presses`: each press taken from a device, in order, with its idempotency key, until the hub has
  answered it;
- `taken`: per device, the identity (serial, epoch, seq) of the last event taken, so that the same
  head read again after a lost acknowledgement is recognised and only acknowledged again.

Bound: `[bridge] queue_max` presses (default 1000; a center has ~40 counters, so that is a long
outage). When it is full the bridge stops acknowledging: new presses stay in the devices' own
non-volatile queues (PROTOCOL.md §5.2); when those fill too, the devices refuse presses with their
error signal and count them in OVERFLOWS. Nothing acknowledged is ever dropped.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import profile
from .config import DeviceConfig


@dataclass(frozen=True)
class Press:
    """One key press waiting for the hub. `code` is the key code (terminal) or level (rating)."""

    id: int
    key: str          # Idempotency-Key
    device: str       # "bus1/3"
    kind: str
    counter: int
    code: int
    arg: int
    taken_at: float   # epoch seconds of the press: taken − the device's EVENT_AGE (PROTOCOL.md §5.1)

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the key was pressed (wall clock; never negative)."""
        return max(0.0, (time.time() if now is None else now) - self.taken_at)


class Outbox:
    """Thread-safe: bus threads `take`, the hub thread `oldest` / `done`."""

    def __init__(self, folder: Path, limit: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "presses.sqlite3"
        self.limit = limit
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS presses (
                id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,
                device TEXT NOT NULL, kind TEXT NOT NULL, counter INTEGER NOT NULL,
                code INTEGER NOT NULL, arg INTEGER NOT NULL, taken_at REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS taken (
                device TEXT PRIMARY KEY, event TEXT NOT NULL) WITHOUT ROWID;
        """)
        self._lock = threading.Lock()
        self.refused = 0  # takes refused because the queue was full (health)
        self.changed = threading.Event()

    def take(self, device: DeviceConfig, ident: profile.Identity, event: profile.Event) -> bool:
        """Store `event` once (see EventSink.take). Returns False only when the queue is full."""
        key = profile.event_key(ident.serial, event.epoch, event.seq)
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT event FROM taken WHERE device = ?", (device.id,)).fetchone()
                if row and row[0] == key:
                    db.execute("COMMIT")
                    return True  # taken before; the acknowledgement was lost
                if db.execute("SELECT COUNT(*) FROM presses").fetchone()[0] >= self.limit:
                    db.execute("COMMIT")
                    self.refused += 1
                    return False
                db.execute("INSERT OR IGNORE INTO presses (key, device, kind, counter, code, arg, taken_at)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (key, device.id, device.kind, device.counter or 0, event.key, event.arg,
                            time.time() - event.age_ds / 10))
                db.execute("INSERT OR REPLACE INTO taken VALUES (?, ?)", (device.id, key))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        self.changed.set()
        return True

    def oldest(self) -> Press | None:
        with self._lock:
            row = self._db.execute("SELECT id, key, device, kind, counter, code, arg, taken_at "
                                   "FROM presses ORDER BY id LIMIT 1").fetchone()
        return Press(*row) if row else None

    def done(self, press: Press) -> None:
        """The hub answered this press (done or refused for good): forget it."""
        with self._lock:
            self._db.execute("DELETE FROM presses WHERE id = ?", (press.id,))

    def size(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM presses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
