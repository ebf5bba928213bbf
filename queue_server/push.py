"""Socket.IO push: the hub's public events, delivered in commit order from one asyncio task.

Displays are many and idle, so their sockets live on one event loop (python-socketio's asyncio
server), not on threads: in a thread-per-socket server each TV costs four OS threads and a call to
200 TVs is 200 GIL hand-offs. The HTTP API stays synchronous Flask on a thread pool; the two meet
here.

The queue service hands events to `SocketPublisher.publish` from any thread (it holds its lock then,
so publishing only enqueues). One task on the loop, `SocketPublisher._run`, emits them, so displays
see calls in the order they were committed and an HTTP request never waits on 200 sockets. A new
client's `state` goes through the same task: every event is then either already in the state it
gets, or arrives after it — never before it, to be overwritten by an older picture.

Rooms (SPEC §9): a client that joins nothing gets every public event (room `public`); joining a
zone (`zone:<id>`) or a counter (`counter:<n>`) narrows what it gets. A ticket's own room
(`ticket:<id>`, the unguessable id is the capability) carries that ticket's status for the phone
page. Public events carry numbers and counters only — never ticket ids, never names.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import socketio

from .core.service import QueueService

log = logging.getLogger(__name__)

PUBLIC = "public"

# Whole-picture updates: each carries the full waiting counts or one counter's full state (and the
# `seq` of the event it reflects), so only the newest matters. They follow a call by up to
# FOLLOW_UP_DELAY_S, coalesced: a call reaches every TV before 400 more frames are queued behind it,
# and a burst of kiosk tickets becomes one update instead of one per ticket.
FOLLOW_UPS = frozenset({"queue_changed", "counter_changed"})
FOLLOW_UP_DELAY_S = 0.05

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
    """The one emitter: events from any thread, `state` for new clients, in one ordered stream."""

    def __init__(self, sio: socketio.AsyncServer, service_rules: Any, announcer: Announcer | None,
                 prepare_audio: Callable[[str], None] | None = None) -> None:
        self.sio = sio
        self.rules = service_rules
        self.announcer = announcer
        self.prepare_audio = prepare_audio
        # ("event", name, payload) from any thread, or ("state", sid, zone) from the loop.
        self._items: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        # Synthesis (espeak-ng, tens of ms) runs on its own thread so it never delays the next event.
        self._audio: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._audio_thread = threading.Thread(target=self._warm_audio, name="voice-warmer", daemon=True)
        self._audio_thread.start()
        zones = sorted({c.zone for c in service_rules.counters.values()})
        self._everyone = [PUBLIC, *(f"zone:{z}" for z in zones),
                          *(f"counter:{n}" for n in service_rules.counters)]

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        """Called by the service, in commit order, from whichever thread committed."""
        self._items.put(("event", name, payload))
        self._nudge()

    def send_state(self, sid: str, zone: str | None) -> None:
        """Queue a full `state` for one client, behind every event already queued."""
        self._items.put(("state", sid, zone))
        self._nudge()

    def start(self, snapshot: Callable[[str | None], dict[str, Any]]) -> None:
        """Start the emitting task on the running loop (the ASGI app's start-up)."""
        self._wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(snapshot), name="socket-publisher")

    def alive(self, timeout: float = 5.0) -> bool:
        """The stream task runs and its loop answers within `timeout`. A loop stuck in some call
        would leave every display silent while HTTP still works: the watchdog must see that."""
        loop, task = self._loop, self._task
        if loop is None or task is None:
            return True  # not serving yet
        if task.done():
            return False
        answered: concurrent.futures.Future[bool] = concurrent.futures.Future()
        try:
            loop.call_soon_threadsafe(answered.set_result, True)
            return answered.result(timeout)
        except (RuntimeError, TimeoutError):  # the loop is closed, or stuck
            return False

    def close(self) -> None:
        self._audio.put(None)
        self._audio_thread.join(timeout=2)

    def _nudge(self) -> None:
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None:
            return  # not serving yet: `_run` drains what is queued when it starts
        try:
            loop.call_soon_threadsafe(wakeup.set)
        except RuntimeError:  # the loop has closed: the hub is stopping
            pass

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

    async def _run(self, snapshot: Callable[[str | None], dict[str, Any]]) -> None:
        assert self._wakeup is not None and self._loop is not None
        follow_ups: dict[tuple[str, Any], dict[str, Any]] = {}
        due = 0.0
        while True:
            self._wakeup.clear()
            states: dict[str | None, list[str]] = {}
            while True:
                try:
                    kind, first, second = self._items.get_nowait()
                except queue.Empty:
                    break
                if kind == "state":
                    states.setdefault(second, []).append(first)
                elif first in FOLLOW_UPS:
                    if not follow_ups:
                        due = self._loop.time() + FOLLOW_UP_DELAY_S
                    follow_ups[(first, second.get("counter"))] = second  # the newest state wins
                else:
                    await self._emit_event(first, second)
            if states or (follow_ups and self._loop.time() >= due):
                for (name, _key), payload in follow_ups.items():
                    await self._emit_event(name, payload)
                follow_ups.clear()
            # States last: each is read now, after every event queued before it was committed, so
            # it contains them; events committed later are queued behind and arrive after it.
            # A reconnecting hall (200 TVs after a restart) costs one read per zone, not per TV.
            for zone, sids in states.items():
                await self._emit_state(snapshot, zone, sids)
            if not self._items.empty():
                continue
            if follow_ups:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), max(0.0, due - self._loop.time()))
                except TimeoutError:
                    pass
            else:
                await self._wakeup.wait()

    async def _emit_event(self, name: str, payload: dict[str, Any]) -> None:
        try:
            audio_text = None
            if name == "ticket_called" and self.announcer is not None:
                sentence, key = self.announcer(payload["number"], payload["counter"])
                payload = {**payload, "announcement": sentence, "audio_url": f"/audio/{key}.wav"}
                audio_text = sentence
            elif name == "ticket_called":
                payload = {**payload, "announcement": "", "audio_url": None}
            await self.sio.emit(name, payload, to=self._rooms(name, payload))
            if audio_text:
                self._audio.put(audio_text)  # warm the cache after the event is out
        except Exception:  # one bad event must not stop the stream
            log.exception("could not publish %s", name)

    async def _emit_state(self, snapshot: Callable[[str | None], dict[str, Any]],
                          zone: str | None, sids: list[str]) -> None:
        try:
            # A database read: off the loop, while this task (and so the stream) waits for it.
            state = await asyncio.to_thread(snapshot, zone)
            for sid in sids:
                await self.sio.emit("state", state, to=sid)
        except Exception:
            log.exception("could not send state to %d client(s)", len(sids))


def register_handlers(sio: socketio.AsyncServer, service: QueueService,
                      publisher: SocketPublisher) -> None:
    """Connect → `state`; `join` narrows to a zone, counter or ticket room; `sync` re-sends state."""
    zones = {c.zone for c in service.rules.counters.values()}

    async def problem(sid: str, code: str, vi: str, en: str) -> None:
        await sio.emit("error", {"code": code, "message": vi, "message_en": en}, to=sid)

    async def do_join(sid: str, data: Any) -> None:
        if not isinstance(data, dict) or not data or not set(data) <= {"zone", "counter", "ticket"}:
            await problem(sid, "bad_join", "Yêu cầu tham gia không hợp lệ.",
                          "join takes one of {zone}, {counter} or {ticket}.")
            return
        zone = data.get("zone")
        counter = data.get("counter")
        ticket = data.get("ticket")
        if zone is not None and (not isinstance(zone, str) or zone not in zones):
            await problem(sid, "unknown_zone", "Không có khu vực này.", f"Unknown zone {zone!r}.")
            return
        if counter is not None and (isinstance(counter, bool) or not isinstance(counter, int)
                                    or counter not in service.rules.counters):
            await problem(sid, "unknown_counter", "Không có quầy này.", f"Unknown counter {counter!r}.")
            return
        if ticket is not None and (not isinstance(ticket, str) or not 0 < len(ticket) <= 64):
            await problem(sid, "bad_ticket", "Mã số không hợp lệ.", "Bad ticket id.")
            return
        if zone is not None or counter is not None:
            await sio.leave_room(sid, PUBLIC)
        if zone is not None:
            await sio.enter_room(sid, f"zone:{zone}")
        if counter is not None:
            await sio.enter_room(sid, f"counter:{counter}")
        if ticket is not None:
            await sio.enter_room(sid, f"ticket:{ticket}")
        publisher.send_state(sid, zone)

    def guarded(handler: Callable[..., Any]) -> Callable[..., Any]:
        """A failing handler is logged and answered; it never drops the client's connection."""

        async def run(sid: str, *args: Any) -> None:
            try:
                await handler(sid, *args)
            except Exception:
                log.exception("socket handler %s failed", handler.__name__)
                await problem(sid, "server_error", "Có lỗi khi xử lý yêu cầu.",
                              "The request could not be handled.")

        run.__name__ = handler.__name__
        return run

    @guarded
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """A client may narrow itself at connect: `auth={"zone": …}` or `?zone=…&counter=…`."""
        await sio.enter_room(sid, PUBLIC)
        args = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        wanted: dict[str, Any] = {}
        if args.get("zone"):
            wanted["zone"] = args["zone"]
        counter = args.get("counter")
        if counter:
            wanted["counter"] = int(counter) if counter.isdigit() else counter
        if isinstance(auth, dict):
            wanted.update({k: v for k, v in auth.items() if k in ("zone", "counter", "ticket")})
        if wanted:
            await do_join(sid, wanted)
        else:
            publisher.send_state(sid, None)

    @guarded
    async def join(sid: str, data: Any = None, *_extra: Any) -> None:
        await do_join(sid, data)

    @guarded
    async def sync(sid: str, data: Any = None, *_extra: Any) -> None:
        zone = data.get("zone") if isinstance(data, dict) else None
        publisher.send_state(sid, zone if zone in zones else None)

    sio.on("connect", connect)
    sio.on("join", join)
    sio.on("sync", sync)
