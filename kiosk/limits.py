"""Rate limits that keep a kiosk screen or a hardware button from emptying the day's numbers.

Two small, thread-safe gates with an injectable monotonic clock (tests never sleep):

- `SlidingWindowLimiter`: at most N events per key in any `window` seconds (per client IP for
  public kiosk screens; one key for a whole button box).
- `PressGate`: a physical button's minimum interval between accepted presses, plus the box's
  cap (a `SlidingWindowLimiter` shared by every button of the kiosk).

Refused events are not counted: a hammered button stays refused, it does not dig itself deeper.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable

Monotonic = Callable[[], float]


class SlidingWindowLimiter:
    """At most `limit` accepted events per key in any `window` seconds.

    `max_keys` bounds memory against many distinct clients: the least recently seen keys are
    forgotten first (a forgotten key simply starts afresh).
    """

    def __init__(self, limit: int, window: float = 60.0, *, clock: Monotonic = time.monotonic,
                 max_keys: int = 4096) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if window <= 0:
            raise ValueError(f"window must be > 0, got {window}")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._events: OrderedDict[Hashable, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
            while len(self._events) > self._max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        while events and now - events[0] >= self.window:
            events.popleft()
        return events

    def allow(self, key: Hashable = None) -> bool:
        """Record one event for `key` and return True, or return False if over the limit."""
        with self._lock:
            now = self._clock()
            events = self._recent(key, now)
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True

    def retry_after(self, key: Hashable = None) -> float:
        """Seconds until `key` may have one more event (0 when it may now)."""
        with self._lock:
            now = self._clock()
            events = self._recent(key, now)
            if len(events) < self.limit:
                return 0.0
            return max(0.0, self.window - (now - events[0]))


class PressGate:
    """Which button presses may issue a ticket: one per `interval` per button, and at most the
    shared `cap` for all buttons of one kiosk together."""

    def __init__(self, interval: float, cap: SlidingWindowLimiter | None = None, *,
                 clock: Monotonic = time.monotonic) -> None:
        if interval < 0:
            raise ValueError(f"interval must be >= 0, got {interval}")
        self.interval = interval
        self.cap = cap
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def allow(self, button: Hashable) -> bool:
        with self._lock:
            now = self._clock()
            last = self._last.get(button)
            if last is not None and now - last < self.interval:
                return False
            if self.cap is not None and not self.cap.allow("kiosk"):
                return False
            self._last[button] = now
            return True
