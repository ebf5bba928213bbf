"""Fan-out to a hall of displays: one encoding per event, and no hand-off per recipient.

python-socketio starts a task per recipient for a broadcast, and python-engineio delivers each
packet through a per-socket queue and writer task. On the 2-core benchmark machine that is ~150 µs
per display per event, so a call reached the 200th TV ~40 ms after it left the service
(bench/benchmark.py). Here a broadcast is encoded once and, for each socket that is on the websocket
transport with nothing queued, in flight or unsent in its TCP transport, written straight to that
websocket by the emitting task (~100 µs, most of it the send system call). Such a write cannot wait:
uvicorn's websocket send suspends only while the transport is paused, and a paused transport has
bytes pending. Every other case — long-polling, the upgrade, a socket with packets still queued or
in flight, a TV that is not keeping up, closing — takes the library's own path (its writer task), so
frames never overtake one another and a stalled TV delays only itself.

This reaches into python-engineio's AsyncSocket (its queue and `_websocket_handler`) and finds the
transport behind uvicorn's ASGI `send`: the version ranges are pinned in pyproject.toml, `install()`
checks the shape it relies on and leaves the stock path in place (with a warning) if it has changed,
a socket whose transport cannot be found simply takes the stock path, and tests/hub/test_fanout.py
checks that the fast path is on and that order holds.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import socketio
from engineio import async_socket
from engineio import packet as eio_packet
from socketio import packet as sio_packet

log = logging.getLogger(__name__)


class FanOutManager(socketio.AsyncManager):
    """python-socketio's in-memory client manager with a sequential broadcast: the packet is
    encoded once and handed to each recipient in turn, instead of one task per recipient.
    Acknowledged emits (`callback`) and `skip_sid` keep the stock path; the hub uses neither."""

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   ignore_queue: bool = False, **kwargs: Any) -> None:
        # ignore_queue only concerns message-queue managers (several servers); this is one server.
        if callback is not None or skip_sid is not None or kwargs:
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                               callback=callback, to=to, ignore_queue=ignore_queue, **kwargs)
            return
        if namespace not in self.rooms:
            return
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace,
                                           data=[event, *args]).encode()
        frames = [eio_packet.Packet(eio_packet.MESSAGE, part)
                  for part in (encoded if isinstance(encoded, list) else [encoded])]
        send = self.server.eio.send_packet
        for _sid, eio_sid in self.get_participants(namespace, to or room):
            for frame in frames:
                await send(eio_sid, frame)


class _CountingQueue(asyncio.Queue):  # type: ignore[type-arg]
    """The socket's outgoing queue, counting packets the websocket writer has taken but not yet
    written. The count rises inside the take itself (`Queue.get` ends in `get_nowait`), so there is
    no moment where a packet is neither queued nor counted."""

    def __init__(self, owner: DirectWriteSocket) -> None:
        super().__init__()
        # Weak: a socket -> queue -> socket cycle would keep every closed display's socket alive
        # until the next full garbage collection (1,600 of them after a few reconnect storms).
        self._owner = weakref.ref(owner)
        self.taken = 0

    def get_nowait(self) -> Any:
        item = super().get_nowait()
        owner = self._owner()
        if item is not None and owner is not None and owner.upgraded:
            self.taken += 1
        return item


def transport_of(ws: Any) -> asyncio.WriteTransport | None:
    """The TCP transport behind an Engine.IO ASGI websocket: uvicorn hands the application its
    protocol's bound `send`, and the protocol owns the transport. None if that is not so."""
    owner = getattr(getattr(ws, "asgi_send", None), "__self__", None)
    transport = getattr(owner, "transport", None)
    return transport if hasattr(transport, "get_write_buffer_size") else None


class _OrderedWebSocket:
    """The socket's websocket, with one writer at a time (the library's writer task or the direct
    path), and the writer's sends counted off the queue's `taken`."""

    def __init__(self, ws: Any, queue: _CountingQueue) -> None:
        self._ws = ws
        self._queue = queue
        self._lock = asyncio.Lock()
        self._transport = transport_of(ws)

    def idle(self) -> bool:
        """Nothing queued, taken, being written, or waiting in the transport: a write now goes
        straight to the kernel without suspending."""
        transport = self._transport
        return (transport is not None and self._queue.taken == 0 and self._queue.empty()
                and not self._lock.locked() and not transport.is_closing()
                and transport.get_write_buffer_size() == 0)

    async def send_direct(self, message: Any) -> None:
        async with self._lock:
            await self._ws.send(message)

    async def send(self, message: Any) -> None:
        """The library's writer task: a packet it took from the queue."""
        try:
            await self.send_direct(message)
        finally:
            self._queue.taken = max(0, self._queue.taken - 1)

    def __getattr__(self, name: str) -> Any:  # wait(), close(): the library's own
        return getattr(self._ws, name)


class DirectWriteSocket(async_socket.AsyncSocket):  # type: ignore[misc]
    """An Engine.IO socket that writes a packet itself when the websocket is idle."""

    def __init__(self, server: Any, sid: str) -> None:
        super().__init__(server, sid)
        self.queue = _CountingQueue(self)
        self._ordered: _OrderedWebSocket | None = None

    async def _websocket_handler(self, ws: Any) -> Any:
        ordered = _OrderedWebSocket(ws, self.queue)
        self._ordered = ordered
        try:
            return await super()._websocket_handler(ordered)
        finally:
            self._ordered = None

    async def send(self, pkt: Any) -> None:
        ordered = self._ordered
        if (ordered is None or not self.upgraded or self.upgrading or self.closing or self.closed
                or not ordered.idle()):
            await super().send(pkt)
            return
        if not await self.check_ping_timeout():
            return
        try:
            await ordered.send_direct(pkt.encode())
        except Exception:  # a broken connection: the library's writer fails on it and closes it
            await super().send(pkt)


def install() -> bool:
    """Make python-engineio create `DirectWriteSocket`s; False (stock path kept) if the library no
    longer has the shape this relies on."""
    from engineio import async_server

    base = async_socket.AsyncSocket
    if base is DirectWriteSocket:
        return True
    shape_ok = (DirectWriteSocket.__mro__[1] is base
                and getattr(async_server, "async_socket", None) is async_socket
                and all(hasattr(base, name) for name in
                        ("_websocket_handler", "send", "poll", "check_ping_timeout")))
    if not shape_ok:
        log.warning("python-engineio has changed shape: displays get the stock (slower) fan-out")
        return False
    async_socket.AsyncSocket = DirectWriteSocket
    return True


def create_socket_server() -> socketio.AsyncServer:
    """Same-origin only (the pages are served by the hub itself); no library logging."""
    install()
    return socketio.AsyncServer(async_mode="asgi", client_manager=FanOutManager(),
                                logger=False, engineio_logger=False)
