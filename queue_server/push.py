"""Socket.IO push: the hub's public events, delivered in commit order by one worker thread.

The queue service hands events to `SocketPublisher.publish`, which only enqueues (the service holds
its lock then). A single worker thread emits them, so displays see calls in the order they were
committed and an HTTP request never waits on 200 sockets.

Rooms (SPEC §9): a client that joins nothing gets every public event (room `public`); joining a
zone (`zone:<id>`) or a counter (`counter:<n>`) narrows what it gets. A ticket's own room
(`ticket:<id>`, the unguessable id is the capability) carries that ticket's status for the phone
page. Public events carry numbers and counters only — never ticket ids, never names.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flask import request
from flask_socketio import SocketIO, emit, join_room, leave_room

from .core.service import QueueService

log = logging.getLogger(__name__)

PUBLIC = "public"

Announcer = Callable[[str, int], tuple[str, str]]  # (number, counter) -> (sentence, audio key)


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


class SocketPublisher:
    def __init__(self, socketio: SocketIO, service_rules: Any, announcer: Announcer | None,
                 prepare_audio: Callable[[str], None] | None = None) -> None:
        self.socketio = socketio
        self.rules = service_rules
        self.announcer = announcer
        self.prepare_audio = prepare_audio
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="socket-publisher", daemon=True)
        self._thread.start()
        # Synthesis (espeak-ng, tens of ms) runs on its own thread so it never delays the next event.
        self._audio: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._audio_thread = threading.Thread(target=self._warm_audio, name="voice-warmer", daemon=True)
        self._audio_thread.start()
        zones = sorted({c.zone for c in service_rules.counters.values()})
        self._everyone = [PUBLIC, *(f"zone:{z}" for z in zones),
                          *(f"counter:{n}" for n in service_rules.counters)]

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        self._queue.put((name, payload))

    def close(self) -> None:
        self._queue.put(None)
        self._audio.put(None)
        self._thread.join(timeout=2)
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
        if name == "queue_changed":
            return self._everyone
        counter = payload.get("counter")
        counter_rooms = [f"counter:{counter}"]
        if name in ("ticket_finished", "ticket_rated"):
            return counter_rooms
        zone = self.rules.counters[counter].zone if counter in self.rules.counters else None
        return [PUBLIC, *([f"zone:{zone}"] if zone else []), *counter_rooms]

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            name, payload = item
            audio_text = None
            try:
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


def register_handlers(socketio: SocketIO, service: QueueService) -> None:
    """Connect → `state`; `join` narrows to a zone, counter or ticket room; `sync` re-sends state."""
    zones = {c.zone for c in service.rules.counters.values()}

    def send_state(zone: str | None) -> None:
        emit("state", service.snapshot(zone))

    def problem(code: str, vi: str, en: str) -> None:
        emit("error", {"code": code, "message": vi, "message_en": en})

    def do_join(data: Any) -> None:
        if not isinstance(data, dict) or not data or not set(data) <= {"zone", "counter", "ticket"}:
            problem("bad_join", "Yêu cầu tham gia không hợp lệ.",
                    "join takes one of {zone}, {counter} or {ticket}.")
            return
        sid = request.sid  # type: ignore[attr-defined]
        zone = data.get("zone")
        counter = data.get("counter")
        ticket = data.get("ticket")
        if zone is not None and (not isinstance(zone, str) or zone not in zones):
            problem("unknown_zone", "Không có khu vực này.", f"Unknown zone {zone!r}.")
            return
        if counter is not None and (isinstance(counter, bool) or not isinstance(counter, int)
                                    or counter not in service.rules.counters):
            problem("unknown_counter", "Không có quầy này.", f"Unknown counter {counter!r}.")
            return
        if ticket is not None and (not isinstance(ticket, str) or not 0 < len(ticket) <= 64):
            problem("bad_ticket", "Mã số không hợp lệ.", "Bad ticket id.")
            return
        if zone is not None or counter is not None:
            leave_room(PUBLIC, sid=sid)
        if zone is not None:
            join_room(f"zone:{zone}", sid=sid)
        if counter is not None:
            join_room(f"counter:{counter}", sid=sid)
        if ticket is not None:
            join_room(f"ticket:{ticket}", sid=sid)
        send_state(zone)

    @socketio.on("connect")
    def on_connect(auth: Any = None) -> None:
        """A client may narrow itself at connect: `auth={"zone": …}` or `?zone=…&counter=…`."""
        join_room(PUBLIC)
        wanted: dict[str, Any] = {}
        if request.args.get("zone"):
            wanted["zone"] = request.args["zone"]
        counter = request.args.get("counter")
        if counter:
            wanted["counter"] = int(counter) if counter.isdigit() else counter
        if isinstance(auth, dict):
            wanted.update({k: v for k, v in auth.items() if k in ("zone", "counter", "ticket")})
        if wanted:
            do_join(wanted)
        else:
            send_state(None)

    @socketio.on("join")
    def on_join(data: Any = None) -> None:
        do_join(data)

    @socketio.on("sync")
    def on_sync(data: Any = None) -> None:
        zone = data.get("zone") if isinstance(data, dict) else None
        send_state(zone if zone in zones else None)

    @socketio.on_error_default
    def on_error(exc: Exception) -> None:
        log.exception("socket handler failed: %s", exc)
        problem("server_error", "Có lỗi khi xử lý yêu cầu.", "The request could not be handled.")
