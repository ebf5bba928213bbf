"""The bridge's only way to the hub: HTTP (requests) and Socket.IO (python-socketio client).

- `HallView`: what the hub says is happening (counters' current numbers and pauses, latest calls,
  waiting counts), fed by the Socket.IO events `state`, `ticket_called`, `counter_changed`,
  `queue_changed` (SPEC §9) — the displays are views of it.
- `HubLink`: the Socket.IO connection (kept up by `connect_forever`, after any disconnect), the delivery of queued presses in
  order (POST with `Idempotency-Key`), and the health report (`PUT /api/v1/devices/health`).

Presses are answered for good by a 2xx (done) or a 4xx other than 401/403/408/429 (refused by the
rules, e.g. nobody to recall: logged and dropped — repeating it would not change the answer). Any
other outcome (no connection, timeout, 5xx, a refused token) keeps the press at the head of the
queue and retries it after 1 s, 2 s … 10 s; its idempotency key makes the retry safe.

A keypad press (next, recall, no-show, finish, pause, transfer) older than `[bridge]
action_max_age_s` before the hub has taken it — the hub was unreachable that long — is not sent
(dropped as soon as it is that old, while the hub is still away too): calling
the next citizen to a counter minutes after the key was pressed, when the staff member may have
used the web panel or left, does more harm than good. It is logged and counted
(`expired_presses` in the health report); the staff see their press did nothing (the display
showed the error state meanwhile) and press again. Rating presses are always sent: the hub's
counter rating window decides whether a late rating still belongs to the visit (PROTOCOL.md §5.3).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import requests
import socketio

from . import profile
from .outbox import Outbox, Press

log = logging.getLogger("firmware_bridge.hub")

HTTP_TIMEOUT_S = 5.0
RETRY_MAX_S = 10.0
CONNECT_RETRY_MAX_S = 5.0  # longest wait between two tries to reconnect Socket.IO
PAUSE_REASON = "break"  # a keypad's PAUSE key: "Nghỉ giải lao" (queue_server PAUSE_REASONS)
_FINAL_4XX_EXCEPT = {401, 403, 408, 429}


class HallView:
    """Thread-safe picture of the hall built from the hub's Socket.IO events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[int, dict[str, Any]] = {}
        self.call_seq: dict[int, int] = {}
        self.recent: list[tuple[str, int]] = []   # (number, counter), newest first
        self.waiting: dict[str, int] = {}
        self.connected = False
        self.version = 0

    def apply_state(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.counters = {c["counter"]: c for c in state.get("counters", []) if "counter" in c}
            self.waiting = dict(state.get("waiting") or {})
            self.recent = [(c["number"], c["counter"]) for c in state.get("recent_calls", [])
                           if "number" in c and "counter" in c]
            self.version += 1

    def apply_call(self, call: dict[str, Any]) -> None:
        with self._lock:
            n, number = call.get("counter"), call.get("number")
            if not isinstance(n, int) or not isinstance(number, str):
                return
            self.call_seq[n] = (self.call_seq.get(n, 0) + 1) & 0xFFFF
            self.recent = [(number, n)] + [r for r in self.recent if r != (number, n)][:15]
            c = self.counters.setdefault(n, {"counter": n, "status": "open"})
            c["current"] = {"number": number}
            self.version += 1

    def apply_counter(self, counter: dict[str, Any]) -> None:
        with self._lock:
            if isinstance(counter.get("counter"), int):
                self.counters[counter["counter"]] = counter
                self.version += 1

    def apply_waiting(self, payload: dict[str, Any]) -> None:
        with self._lock:
            if isinstance(payload.get("waiting"), dict):
                self.waiting = dict(payload["waiting"])
                self.version += 1

    def set_connected(self, value: bool) -> None:
        with self._lock:
            self.connected = value
            self.version += 1

    def counter(self, n: int) -> tuple[dict[str, Any] | None, int, int]:
        """(the counter's tile or None, its call sequence, people waiting for its fields)."""
        with self._lock:
            c = self.counters.get(n)
            waiting = sum(self.waiting.get(f, 0) for f in (c or {}).get("fields", [])) if c else 0
            return (dict(c) if c else None), self.call_seq.get(n, 0), waiting

    def latest(self, counters: list[int], limit: int) -> list[tuple[str, int]]:
        with self._lock:
            rows = [r for r in self.recent if not counters or r[1] in counters]
        return rows[:limit]


class HubLink:
    """Socket.IO + HTTP to the hub with the bridge's device token."""

    def __init__(self, hub: str, token: str, view: HallView, outbox: Outbox,
                 on_change: Callable[[], None], finish_outcome: Callable[[str], str],
                 action_max_age_s: float = 0) -> None:
        """`action_max_age_s`: keypad presses older than this (seconds since the key) are not
        sent (0: no limit)."""
        self.hub = hub.rstrip("/")
        self.action_max_age_s = action_max_age_s
        self.expired = 0  # keypad presses too old to act on (health: expired_presses)
        self.view = view
        self.outbox = outbox
        self.on_change = on_change
        self.finish_outcome = finish_outcome
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.http_ok = False
        self.last_error: str | None = None
        # Reconnecting is ours (connect_forever), not python-socketio's: its client reconnects
        # after a dropped transport but never after the server closed the connection — which is
        # what a hub does when it stops or restarts (SIGTERM) — so the LEDs stayed in the error
        # state until the bridge was restarted (found by a new user).
        self.sio = socketio.Client(reconnection=False)
        self._stop = threading.Event()
        self._dropped = threading.Event()  # set by every disconnect: connect_forever wakes
        self._register()

    # ----------------------------------------------------------------- Socket.IO
    def _register(self) -> None:
        sio, view = self.sio, self.view

        @sio.event
        def connect() -> None:
            log.info("connected to the hub at %s", self.hub)
            if self.last_error and self.last_error.startswith("Socket.IO"):
                self.last_error = None
            view.set_connected(True)
            self.on_change()

        @sio.event
        def disconnect(*args: Any) -> None:
            log.warning("lost the hub's Socket.IO connection (%s)", args[0] if args else "no reason given")
            view.set_connected(False)
            self._dropped.set()
            self.on_change()

        def handler(apply: Callable[[dict[str, Any]], None]) -> Callable[[Any], None]:
            def on(payload: Any = None, *_rest: Any) -> None:
                if isinstance(payload, dict):
                    apply(payload)
                    self.on_change()
            return on

        sio.on("state", handler(view.apply_state))
        sio.on("ticket_called", handler(view.apply_call))
        sio.on("counter_changed", handler(view.apply_counter))
        sio.on("queue_changed", handler(view.apply_waiting))

    def connect_forever(self) -> None:
        """Thread body: keep the Socket.IO connection up — connect, and after any disconnect
        (the hub stopped or restarted and closed it, the network dropped, a ping timed out)
        connect again at once, then after 1 s, 2 s … `CONNECT_RETRY_MAX_S` while it fails."""
        delay = 1.0
        while not self._stop.is_set():
            if self.sio.connected:
                self._dropped.wait(1.0)
                self._dropped.clear()
                continue
            try:
                self.sio.connect(self.hub, transports=["websocket", "polling"], wait_timeout=5)
                delay = 1.0
            except Exception as exc:  # a ConnectionError, or anything else: never let the thread end
                if not isinstance(exc, socketio.exceptions.ConnectionError):
                    log.exception("Socket.IO connect failed")
                self.last_error = f"Socket.IO: {exc}"
                self._stop.wait(delay)
                delay = min(delay * 2, CONNECT_RETRY_MAX_S)

    # ----------------------------------------------------------------- presses
    def request_for(self, press: Press) -> tuple[str, dict[str, Any]] | None:
        """(path, JSON body) of a press, or None when the press cannot become a request."""
        n = press.counter
        if press.kind == "rating-box":
            return f"/api/v1/counters/{n}/rating", {"level": press.code}
        action = profile.TERMINAL_KEYS.get(press.code)
        if action is None:
            return None
        if action == "finish":
            outcome = profile.FINISH_OUTCOMES.get(press.arg) or self.finish_outcome(press.device)
            return f"/api/v1/counters/{n}/finish", {"outcome": outcome}
        if action == "pause":
            tile, _seq, _w = self.view.counter(n)
            if tile and tile.get("status") == "paused":
                return f"/api/v1/counters/{n}/resume", {}
            return f"/api/v1/counters/{n}/pause", {"reason": PAUSE_REASON}
        if action == "transfer":
            if not 1 <= press.arg <= 999:
                return None
            return f"/api/v1/counters/{n}/transfer", {"counter": press.arg}
        return f"/api/v1/counters/{n}/{action}", {}

    def expired_press(self, press: Press) -> bool:
        """True (and counted, logged) for a keypad press older than `action_max_age_s`."""
        if press.kind == "rating-box" or not self.action_max_age_s:
            return False
        age = press.age_s()
        if age <= self.action_max_age_s:
            return False
        self.expired += 1
        log.warning("press %s from %s (key %d) is %.0f s old (limit %d s): not sent to the hub",
                    press.key, press.device, press.code, age, self.action_max_age_s)
        return True

    def deliver(self, press: Press) -> bool:
        """Send one press. True when the hub answered it for good (done or refused)."""
        req = self.request_for(press)
        if req is None:
            log.warning("press %s from %s (key %d, arg %d) has no hub action; dropped",
                        press.key, press.device, press.code, press.arg)
            return True
        path, body = req
        try:
            r = self.http.post(self.hub + path, json=body, timeout=HTTP_TIMEOUT_S,
                               headers={"Idempotency-Key": press.key})
        except requests.RequestException as exc:
            self.http_ok = False
            self.last_error = f"HTTP: {type(exc).__name__}"
            return False
        self.http_ok = r.status_code < 500
        if r.status_code < 400:
            self.last_error = None
            log.info("press %s from %s → %s: %d", press.key, press.device, path, r.status_code)
            return True
        if r.status_code < 500 and r.status_code not in _FINAL_4XX_EXCEPT:
            log.warning("press %s from %s → %s refused: %d %s", press.key, press.device, path,
                        r.status_code, r.text[:200])
            return True
        self.last_error = f"HTTP {r.status_code} on {path}"
        return False

    def run_delivery(self) -> None:
        """Deliver the outbox in order, forever (thread body)."""
        delay = 1.0
        while not self._stop.is_set():
            press = self.outbox.oldest()
            if press is None:
                self.outbox.changed.wait(1.0)
                self.outbox.changed.clear()
                continue
            if self.expired_press(press):
                self.outbox.done(press)
                continue
            if self.deliver(press):
                self.outbox.done(press)
                delay = 1.0
            else:
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def report_health(self, report: dict[str, Any]) -> bool:
        try:
            r = self.http.put(self.hub + "/api/v1/devices/health", json=report, timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as exc:
            self.http_ok = False
            self.last_error = f"HTTP: {type(exc).__name__}"
            return False
        if r.status_code >= 400:
            log.warning("health report refused: %d %s", r.status_code, r.text[:200])
        elif self.last_error and self.last_error.startswith("HTTP"):
            self.last_error = None
        self.http_ok = r.status_code < 500
        return r.status_code < 400

    def stop(self) -> None:
        self._stop.set()
        self._dropped.set()
        self.outbox.changed.set()
        try:
            self.sio.disconnect()
        except Exception:  # already down
            pass

