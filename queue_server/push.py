"""Socket.IO push: the hub's public events, delivered in commit order by one publisher thread.

The hub serves Socket.IO with Flask-SocketIO in its threading mode (simple-websocket under
gunicorn's gthread worker, see `serving.py`). Each client's Engine.IO socket has its own outgoing
queue and writer thread; emitting to a room only puts the encoded packet on those queues, so the
publisher never waits on a slow TV.

The queue service hands events to `SocketPublisher.publish` from whichever thread committed them
(it holds its lock then, so publishing only enqueues). One thread, the publisher, emits them in
that order, so every display sees calls in the order they were committed and an HTTP request never
waits on the sockets. A client's `state` goes through the same thread: every event is either
already in the state it gets, or arrives after it — never before it, to be overwritten by an older
picture.

Rooms (SPEC §9): a client that joins nothing gets every public event (room `public`); joining a
zone (`zone:<id>`) or a counter (`counter:<n>`) narrows what it gets. A ticket's own room
(`ticket:<id>`, the unguessable id is the capability) carries that ticket's status for the phone
page. Public events carry numbers and counters only — never ticket ids, never names.

A client cannot make the hub queue without bound: `state` requests (`connect`, `join`, `sync`) are
allowed in a burst of `STATE_BURST` and then one per `STATE_INTERVAL_S`, the surplus coalesced into
one state sent when allowed; a client whose socket stops taking data is dropped by the write timeout
of `serving.py`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flask import request
from flask_socketio import SocketIO, join_room, leave_room

from .core.service import QueueService

log = logging.getLogger(__name__)

PUBLIC = "public"

# Whole-picture updates: each carries the full waiting counts or one counter's full state (and the
# `seq` of the event it reflects), so only the newest matters. They follow a call by up to
# FOLLOW_UP_DELAY_S, coalesced: a call reaches every TV before more frames are queued behind it,
# and a burst of kiosk tickets becomes one update instead of one per ticket.
FOLLOW_UPS = frozenset({"queue_changed", "counter_changed"})
FOLLOW_UP_DELAY_S = 0.05

# The day turned (published by the core at midnight, or at start-up after a night off): every
# client gets the new day's full `state`, whether or not anyone acts.
DAY_CHANGED = "day_changed"

# `state` requests per client: a burst (connect + join + a sync) goes at once, then one a second.
STATE_BURST = 3
STATE_INTERVAL_S = 1.0

Announcer = Callable[[str, int], tuple[str, str]]  # (number, counter) -> (sentence, audio key)
Snapshot = Callable[[str | None], dict[str, Any]]  # zone -> the full `state` payload


class AudioIndex:
    """Remembers which text an audio key stands for, so /audio/<key>.wav can synthesize on demand
    (bounded: the newest 512 calls)."""

    def __init__(self, limit: int = 512) -> None:
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def remember(self, key: str, text: str) -> None:
        with self._lock:
            self._texts[key] = text
            self._texts.move_to_end(key)
            while len(self._texts) > self._limit:
                self._texts.popitem(last=False)

    def text(self, key: str) -> str | None:
        with self._lock:
            return self._texts.get(key)


class StateAllowance:
    """Per-client token bucket for `state` requests: `STATE_BURST` at once, then one every
    `interval_s` seconds. `take(sid, zone)` answers the monotonic time (s) at which this client's
    next state may go: now, or later (then the request is remembered, and repeats before that time
    only change the zone it will get). Thread-safe; `forget(sid)` when the client leaves."""

    def __init__(self, burst: int = STATE_BURST, interval_s: float = STATE_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.interval_s = interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, float]] = {}  # sid -> (tokens, at)
        self._deferred: dict[str, tuple[float, str | None]] = {}  # sid -> (due, zone)

    def take(self, sid: str, zone: str | None) -> float | None:
        """None: send now. A float: deferred until then (already scheduled if it was before)."""
        now = self.clock()
        with self._lock:
            if sid in self._deferred:
                due, _ = self._deferred[sid]
                self._deferred[sid] = (due, zone)
                return due
            tokens, at = self._tokens.get(sid, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) / self.interval_s)
            if tokens >= 1.0:
                self._tokens[sid] = (tokens - 1.0, now)
                return None
            due = now + (1.0 - tokens) * self.interval_s
            self._tokens[sid] = (tokens, now)
            self._deferred[sid] = (due, zone)
            return due

    def due(self) -> list[tuple[str, str | None]]:
        """The deferred requests whose time has come (their token is spent), removed."""
        now = self.clock()
        with self._lock:
            ready = [(sid, zone) for sid, (due, zone) in self._deferred.items() if due <= now]
            for sid, _ in ready:
                del self._deferred[sid]
                self._tokens[sid] = (0.0, now)
            return ready

    def next_due(self) -> float | None:
        with self._lock:
            return min((due for due, _ in self._deferred.values()), default=None)

    def forget(self, sid: str) -> None:
        with self._lock:
            self._tokens.pop(sid, None)
            self._deferred.pop(sid, None)


class SocketPublisher:
    """The one emitter: events from any thread, `state` for clients, in one ordered stream.

    `publish(name, payload)` and `send_state(sid, zone)` only enqueue; the publisher thread
    (`start`) emits. `alive(timeout)` is what the systemd watchdog asks: the thread answers a probe
    queued behind everything else within `timeout` seconds."""

    def __init__(self, socketio: SocketIO, service_rules: Any, announcer: Announcer | None,
                 prepare_audio: Callable[[str], None] | None = None) -> None:
        self.socketio = socketio
        self.rules = service_rules
        self.announcer = announcer
        self.prepare_audio = prepare_audio
        self.allowance = StateAllowance()
        # ("event", name, payload) or ("state", sid, zone) or ("probe", event, None) or ("stop", …)
        self._items: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # Synthesis (espeak-ng, tens of ms) runs on its own thread so it never delays the next event.
        self._audio: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._audio_thread = threading.Thread(target=self._warm_audio, name="voice-warmer", daemon=True)
        self._audio_thread.start()
        self._use_rules(service_rules)

    def _use_rules(self, rules: Any) -> None:
        self.rules = rules
        zones = sorted({c.zone for c in rules.counters.values() if c.zone})
        self._zones = zones
        self._counter_rooms = [f"counter:{n}" for n in rules.counters]
        self._everyone = [PUBLIC, *(f"zone:{z}" for z in zones), *self._counter_rooms]

    def rules_changed(self, rules: Any) -> None:
        """The center's rules changed while running (manager: configuration in the browser,
        settings.py). Queued in order like an event: the rooms follow the new counters and zones,
        and every client gets the new `state` (a renamed field shows on every TV at once)."""
        self._items.put(("rules", rules, None))

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        """Called by the service, in commit order, from whichever thread committed."""
        self._items.put(("event", name, payload))

    def send_state(self, sid: str, zone: str | None) -> None:
        """Queue a full `state` for one client, behind every event already queued — now, or when
        the client's allowance lets it (see `StateAllowance`)."""
        if self.allowance.take(sid, zone) is None:
            self._items.put(("state", sid, zone))
        else:
            self._items.put(("wake", None, None))  # the thread recomputes its next deadline

    def forget(self, sid: str) -> None:
        """The client left: drop its allowance."""
        self.allowance.forget(sid)

    def start(self, snapshot: Snapshot) -> None:
        """Start the publisher thread; events published before this wait in the queue."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, args=(snapshot,), name="socket-publisher",
                                            daemon=True)
            self._thread.start()

    def alive(self, timeout: float = 5.0) -> bool:
        """The publisher thread runs and answers a probe within `timeout` seconds. A thread stuck
        in some call would leave every display silent while HTTP still works: the watchdog must
        see that."""
        thread = self._thread
        if thread is None:
            return True  # not serving yet
        if not thread.is_alive():
            return False
        answered = threading.Event()
        self._items.put(("probe", answered, None))
        return answered.wait(timeout)

    def close(self) -> None:
        """Stop the publisher and voice threads (idempotent)."""
        self._items.put(("stop", None, None))
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._audio.put(None)
        self._audio_thread.join(timeout=2)

    def _warm_audio(self) -> None:
        while (text := self._audio.get()) is not None:
            try:
                if self.prepare_audio is not None:
                    self.prepare_audio(text)
            except Exception:  # no audio is a degraded call, not a failed one
                log.exception("could not synthesize %r", text)

    def _rooms(self, name: str, payload: dict[str, Any]) -> list[str] | str:
        if name == "ticket_changed":
            return f"ticket:{payload['id']}"
        if name in ("queue_changed", DAY_CHANGED):
            return self._everyone
        counter = payload.get("counter")
        counter_rooms = [f"counter:{counter}"]
        if name in ("ticket_finished", "ticket_rated"):
            return counter_rooms
        zone = self.rules.counters[counter].zone if counter in self.rules.counters else None
        return [PUBLIC, *([f"zone:{zone}"] if zone else []), *counter_rooms]

    def _run(self, snapshot: Snapshot) -> None:
        follow_ups: dict[tuple[str, Any], dict[str, Any]] = {}
        due = 0.0
        while True:
            deadlines = [d for d in (due if follow_ups else None, self.allowance.next_due()) if d is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            try:
                batch = [self._items.get(timeout=timeout)]
            except queue.Empty:
                batch = []
            while True:
                try:
                    batch.append(self._items.get_nowait())
                except queue.Empty:
                    break
            states: dict[str | None, list[str]] = {}
            everyone = False
            probes: list[threading.Event] = []
            for kind, first, second in batch:
                if kind == "stop":
                    return
                if kind == "probe":
                    probes.append(first)
                elif kind == "state":
                    states.setdefault(second, []).append(first)
                elif kind == "rules":  # manager: see rules_changed
                    self._use_rules(first)
                    everyone = True
                elif kind == "event" and first in FOLLOW_UPS:
                    if not follow_ups:
                        due = time.monotonic() + FOLLOW_UP_DELAY_S
                    follow_ups[(first, second.get("counter"))] = second  # the newest state wins
                elif kind == "event":
                    self._emit_event(first, second)
                    everyone = everyone or first == DAY_CHANGED
            for sid, zone in self.allowance.due():
                states.setdefault(zone, []).append(sid)
            if everyone:
                follow_ups.clear()  # the new day's state replaces them
                self._emit_state_to_everyone(snapshot)
            elif states or (follow_ups and time.monotonic() >= due):
                for (name, _key), payload in follow_ups.items():
                    self._emit_event(name, payload)
                follow_ups.clear()
            # States last: each is read now, after every event queued before it was committed, so
            # it contains them; events committed later are queued behind and arrive after it.
            # A reconnecting hall (200 TVs after a restart) costs one read per zone, not per TV.
            for zone, sids in states.items():
                self._emit_state(snapshot, zone, sids)
            for probe in probes:
                probe.set()

    def _emit_event(self, name: str, payload: dict[str, Any]) -> None:
        try:
            audio_text = None
            if name == "ticket_called" and self.announcer is not None:
                sentence, key = self.announcer(payload["number"], payload["counter"])
                payload = {**payload, "announcement": sentence, "audio_url": f"/audio/{key}.wav"}
                audio_text = sentence
            elif name == "ticket_called":
                payload = {**payload, "announcement": "", "audio_url": None}
            self.socketio.emit(name, payload, to=self._rooms(name, payload))
            if audio_text:
                self._audio.put(audio_text)  # warm the cache after the event is out
        except Exception:  # one bad event must not stop the stream
            log.exception("could not publish %s", name)

    def _emit_state(self, snapshot: Snapshot, zone: str | None, sids: list[str]) -> None:
        try:
            state = snapshot(zone)
            for sid in sids:
                self.socketio.emit("state", state, to=sid)
        except Exception:
            log.exception("could not send state to %s", sids)

    def _emit_state_to_everyone(self, snapshot: Snapshot) -> None:
        """Whole-hall state: the full picture to `public` and the counter rooms, then each zone's
        own to its room (a client in a zone and a counter room ends with its zone's picture)."""
        try:
            full = snapshot(None)
            self.socketio.emit("state", full, to=[PUBLIC, *self._counter_rooms])
            for zone in self._zones:
                self.socketio.emit("state", snapshot(zone), to=f"zone:{zone}")
        except Exception:
            log.exception("could not send the new day's state")


def register_handlers(socketio: SocketIO, service: QueueService, publisher: SocketPublisher) -> None:
    """Connect → `state`; `join` narrows to a zone, counter or ticket room; `sync` re-sends state.
    Every argument a client sends is checked; a bad one is answered with an `error` event
    ({code, message, message_en}) and changes nothing."""
    def zones() -> set[str]:  # read when asked: an admin may add zones while running (settings.py)
        return {c.zone for c in service.rules.counters.values()}

    def problem(code: str, vi: str, en: str) -> None:
        socketio.emit("error", {"code": code, "message": vi, "message_en": en}, to=request.sid)  # type: ignore[attr-defined]

    def do_join(sid: str, data: Any) -> None:
        if not isinstance(data, dict) or not data or not set(data) <= {"zone", "counter", "ticket"}:
            problem("bad_join", "Yêu cầu tham gia không hợp lệ.",
                    "join takes one of {zone}, {counter} or {ticket}.")
            return
        zone = data.get("zone")
        counter = data.get("counter")
        ticket = data.get("ticket")
        if zone is not None and (not isinstance(zone, str) or zone not in zones()):
            problem("unknown_zone", "Không có khu vực này.", "Unknown zone.")
            return
        if counter is not None and (isinstance(counter, bool) or not isinstance(counter, int)
                                    or counter not in service.rules.counters):
            problem("unknown_counter", "Không có quầy này.", "Unknown counter.")
            return
        if ticket is not None and (not isinstance(ticket, str) or not 0 < len(ticket) <= 64):
            problem("bad_ticket", "Mã số không hợp lệ.", "Bad ticket id.")
            return
        if zone is not None or counter is not None:
            leave_room(PUBLIC, sid)
        if zone is not None:
            join_room(f"zone:{zone}", sid)
        if counter is not None:
            join_room(f"counter:{counter}", sid)
        if ticket is not None:
            join_room(f"ticket:{ticket}", sid)
        publisher.send_state(sid, zone)

    @socketio.on("connect")
    def connect(auth: Any = None) -> None:
        """A client may narrow itself at connect: `auth={"zone": …}` or `?zone=…&counter=…`."""
        sid = request.sid  # type: ignore[attr-defined]
        socketio.server.enter_room(sid, PUBLIC)
        wanted: dict[str, Any] = {}
        if request.args.get("zone"):
            wanted["zone"] = request.args["zone"]
        counter = request.args.get("counter")
        if counter:
            wanted["counter"] = int(counter) if counter.isascii() and counter.isdigit() else counter
        if isinstance(auth, dict):
            wanted.update({k: v for k, v in auth.items() if k in ("zone", "counter", "ticket")})
        if wanted:
            do_join(sid, wanted)
        else:
            publisher.send_state(sid, None)

    @socketio.on("disconnect")
    def disconnect(*_reason: Any) -> None:
        publisher.forget(request.sid)  # type: ignore[attr-defined]

    @socketio.on("join")
    def join(data: Any = None, *_extra: Any) -> None:
        do_join(request.sid, data)  # type: ignore[attr-defined]

    @socketio.on("sync")
    def sync(data: Any = None, *_extra: Any) -> None:
        zone = data.get("zone") if isinstance(data, dict) else None
        publisher.send_state(request.sid, zone if isinstance(zone, str) and zone in zones() else None)  # type: ignore[attr-defined]

    @socketio.on_error_default
    def failed(exc: Exception) -> None:
        """A failing handler is logged in one line and answered; the connection stays."""
        log.warning("socket handler failed on %r: %r", request.event, exc)  # type: ignore[attr-defined]
        problem("server_error", "Có lỗi khi xử lý yêu cầu.", "The request could not be handled.")
