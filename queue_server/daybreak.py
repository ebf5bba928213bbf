"""The day turns at midnight whether or not anybody acts (issue: the day boundary).

`Daybreak` is a small thread around `QueueService.turn_day()`: at start it turns the day once (a
hub that was off across midnight closes the old day before it serves anything), then it sleeps
until the next local midnight of the center (read from the injected `Clock`) and turns the day
again. It never sleeps more than `max_sleep` seconds at a time and re-reads the clock on waking,
so a wall clock that NTP steps forward or back delays the turn by at most that much. The turn
itself is the core's (idempotent: a day turned by the first action of the morning is not turned
twice); the core then publishes `day_changed`, which the Socket.IO publisher answers with a fresh
`state` to every display, counter panel and kiosk.

`ShiftedClock` / `clock_from_env` are a test-only seam: a real `queue-server` process started
with `QUAYSO_FAKE_NOW` runs on a wall clock shifted to that moment (time still flows), so tests
can watch a real hub cross midnight. Nothing but the hub's wiring (`app.create_hub`) reads it.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

from .core import rules
from .core.ports import Clock

log = logging.getLogger(__name__)

FAKE_NOW_ENV = "QUAYSO_FAKE_NOW"


class _Turns(Protocol):
    def turn_day(self) -> object: ...


class Daybreak:
    """Turns the service's day at each local midnight; `start()` once, `close()` any number of
    times. `max_sleep` (seconds) bounds each sleep, hence how late a stepped clock may make the
    turn; `margin` (seconds) wakes just after midnight rather than just before it."""

    def __init__(self, service: _Turns, clock: Clock, tz: ZoneInfo, max_sleep: float = 30.0,
                 margin: float = 0.05) -> None:
        self.service = service
        self.clock = clock
        self.tz = tz
        self.max_sleep = max_sleep
        self.margin = margin
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def seconds_to_midnight(self) -> float:
        """Seconds from the clock's now to the end of the current local day (≥ 0)."""
        now = self.clock.now()
        end = rules.day_end(rules.service_day(now, self.tz), self.tz)
        return max((end - now).total_seconds(), 0.0)

    def start(self) -> None:
        """Turn the day now (closing what an earlier day left open), then keep turning it."""
        if self._thread is not None:
            return
        self._turn()
        self._thread = threading.Thread(target=self._run, name="daybreak", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = min(self.seconds_to_midnight() + self.margin, self.max_sleep)
            if self._stop.wait(delay):
                return
            self._turn()

    def _turn(self) -> None:
        try:
            self.service.turn_day()
        except Exception:  # a full disk, say: retried on the next wake-up, never kills the thread
            log.exception("could not turn the day")


class ShiftedClock:
    """Test-only: the wall clock (UTC), shifted so that it read `start` when it was made."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(f"{FAKE_NOW_ENV} needs a time zone, e.g. 2026-11-27T23:59:40+07:00")
        self._offset = start - datetime.now(timezone.utc)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self._offset


class FileClock:
    """Test-only: a clock that stands still at the moment written in a file (ISO 8601 with an
    offset) and moves only when a test rewrites the file, so a scripted day through a real hub
    gives waits and service times worked out by hand (tests/stats/). Read on every `now()`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.now()  # a missing or malformed file fails at start, not at the first ticket

    def now(self) -> datetime:
        with open(self.path, encoding="utf-8") as f:
            moment = datetime.fromisoformat(f.read().strip())
        if moment.tzinfo is None:
            raise ValueError(f"{FAKE_CLOCK_FILE_ENV} must hold a time with its zone, e.g. "
                             "2026-11-30T08:00:00+07:00")
        return moment.astimezone(timezone.utc)


FAKE_CLOCK_FILE_ENV = "QUAYSO_FAKE_CLOCK_FILE"


def clock_from_env(environ: dict[str, str] | None = None) -> ShiftedClock | FileClock | None:
    """A `ShiftedClock` when `QUAYSO_FAKE_NOW` (ISO 8601 with offset) is set, a `FileClock` when
    `QUAYSO_FAKE_CLOCK_FILE` (a path) is, else None. For tests of a real hub process only; the
    hub logs a warning when it runs on one."""
    env = os.environ if environ is None else environ
    if env.get(FAKE_CLOCK_FILE_ENV):
        file_clock = FileClock(env[FAKE_CLOCK_FILE_ENV])
        log.warning("%s is set: this hub's clock reads %s; for tests only", FAKE_CLOCK_FILE_ENV,
                    file_clock.path)
        return file_clock
    value = env.get(FAKE_NOW_ENV)
    if not value:
        return None
    clock = ShiftedClock(datetime.fromisoformat(value))
    log.warning("%s is set: this hub runs on a shifted clock (%s); for tests only",
                FAKE_NOW_ENV, clock.now().isoformat())
    return clock
