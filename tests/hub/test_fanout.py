"""The display fan-out: direct websocket writes must never reorder frames, a stalled socket must
only delay itself, and the fast path must really be on with the pinned python-engineio."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import engineio
import requests
from engineio import async_socket, packet

from queue_server.fanout import DirectWriteSocket, FanOutManager, create_socket_server
from tests.conftest import DEVICE, HubProcess, login, run_in_own_loop
from tests.hub.test_hub_server import Listener


class FakeTransport:
    def __init__(self) -> None:
        self.pending = 0  # bytes the kernel has not taken yet

    def get_write_buffer_size(self) -> int:
        return self.pending

    def is_closing(self) -> bool:
        return False


class FakeProtocol:
    """Stands where uvicorn's websocket protocol stands: it owns the transport, and its bound
    `send` is what the ASGI application gets."""

    def __init__(self) -> None:
        self.transport = FakeTransport()

    async def send(self, message: dict[str, Any]) -> None:
        raise AssertionError("not used")


class GatedWebSocket:
    """A websocket whose sends block while the gate is shut, like a TV that stopped reading."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.protocol = FakeProtocol()
        self.asgi_send = self.protocol.send
        self.transport = self.protocol.transport

    async def send(self, message: str) -> None:
        await self.gate.wait()
        self.sent.append(message)

    async def wait(self) -> str | None:
        return await self.incoming.get()

    async def close(self) -> None:
        await self.incoming.put(None)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def msg(text: str) -> packet.Packet:
    return packet.Packet(packet.MESSAGE, text)


async def connected(ws: GatedWebSocket) -> tuple[DirectWriteSocket, asyncio.Future[Any]]:
    """A socket on the websocket transport from the start, as the displays connect."""
    sock = DirectWriteSocket(engineio.AsyncServer(async_mode="asgi"), "sid")
    handler = asyncio.ensure_future(sock._websocket_handler(ws))
    await settle()
    assert sock.upgraded
    return sock, handler


async def hang_up(ws: GatedWebSocket, handler: asyncio.Future[Any]) -> list[str]:
    await settle()
    await ws.close()
    await handler
    return ws.sent


def test_the_fast_path_is_installed() -> None:
    sio = create_socket_server()
    assert async_socket.AsyncSocket is DirectWriteSocket
    assert isinstance(sio.manager, FanOutManager)


def test_direct_writes_never_overtake_queued_frames() -> None:
    async def scenario() -> list[str]:
        ws = GatedWebSocket()
        sock, handler = await connected(ws)
        await sock.send(msg("a"))  # idle: written directly
        assert ws.sent == ["4a"]
        ws.gate.clear()  # the TV stops reading
        first = asyncio.ensure_future(sock.send(msg("b")))  # direct, now stuck in the send
        await settle()
        for text in "cde":  # busy: these must queue behind "b"
            await sock.send(msg(text))
        await settle()
        assert ws.sent == ["4a"] and not first.done()
        ws.gate.set()
        await first
        await settle()
        await sock.send(msg("f"))  # after the writer has written "c".."e"
        return await hang_up(ws, handler)

    assert run_in_own_loop(scenario) == ["4a", "4b", "4c", "4d", "4e", "4f"]


def test_a_packet_taken_by_the_writer_is_counted_until_written() -> None:
    """The window the counting queue closes: the writer has taken a packet but not yet sent it."""

    async def scenario() -> list[str]:
        ws = GatedWebSocket()
        sock, handler = await connected(ws)
        await sock.queue.put(msg("old"))  # e.g. queued before an upgrade
        await asyncio.sleep(0)  # the writer takes it; its send is not done yet
        await sock.send(msg("new"))
        return await hang_up(ws, handler)

    assert run_in_own_loop(scenario) == ["4old", "4new"]


def test_a_tv_that_is_not_keeping_up_never_holds_the_sender() -> None:
    """Bytes pending in the transport mean the TV is behind: the packet goes to the socket's own
    writer, and the emitting task (which serves every other TV) does not wait for it."""

    async def scenario() -> list[str]:
        ws = GatedWebSocket()
        sock, handler = await connected(ws)
        ws.gate.clear()  # the TV stopped reading...
        ws.transport.pending = 70_000  # ...and its transport holds unsent bytes
        for text in ("x", "y"):
            await asyncio.wait_for(sock.send(msg(text)), 0.5)
        await settle()
        assert ws.sent == []
        ws.transport.pending = 0
        ws.gate.set()
        await settle()
        await sock.send(msg("z"))
        return await hang_up(ws, handler)

    assert run_in_own_loop(scenario) == ["4x", "4y", "4z"]


def test_without_a_transport_the_library_path_is_used() -> None:
    async def scenario() -> tuple[list[str], int]:
        ws = GatedWebSocket()
        del ws.asgi_send  # not uvicorn: no transport to look at
        sock, handler = await connected(ws)
        ws.gate.clear()
        await asyncio.wait_for(sock.send(msg("q")), 0.5)
        queued = sock.queue.qsize() + sock.queue.taken
        ws.gate.set()
        return await hang_up(ws, handler), queued

    assert run_in_own_loop(scenario) == (["4q"], 1)


def test_every_display_gets_every_call_in_order(hub: HubProcess) -> None:
    """Websocket clients (direct path) and a long-polling one (the library's path) see the same
    calls in commit order while two counters call as fast as they can."""
    listeners = [Listener(hub.url) for _ in range(3)] + [Listener(hub.url, transports=["polling"])]
    try:
        for listener in listeners:
            listener.wait_for("state")
        with requests.Session() as s:
            for _ in range(40):
                assert s.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"},
                              headers=DEVICE, timeout=10).status_code == 201
        called: list[str] = []
        lock = threading.Lock()

        def counter(n: int) -> None:
            with requests.Session() as s:
                s.headers.update(login(hub.url, f"staff{n}"))
                while True:
                    r = s.post(f"{hub.url}/api/v1/counters/{n}/next", timeout=10)
                    if r.status_code == 204:
                        return
                    assert r.status_code == 200, r.text
                    with lock:
                        called.append(r.json()["number"])

        workers = [threading.Thread(target=counter, args=(n,)) for n in (1, 2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert len(called) == 40
        for listener in listeners:
            calls = listener.wait_for("ticket_called", 40, timeout=15)
            seqs = [c["seq"] for c in calls]
            assert seqs == sorted(seqs) and len(set(seqs)) == 40
            assert sorted(c["number"] for c in calls) == sorted(called)
            queue = [q["seq"] for q in listener.of("queue_changed")]
            assert queue == sorted(queue)
            listener.wait_until("queue_changed", lambda q: q["waiting"].get("ho-tich") == 0)
    finally:
        for listener in listeners:
            listener.close()


def test_a_closed_socket_is_freed_without_waiting_for_the_collector() -> None:
    """No reference cycle through the counting queue: a display's socket goes with its
    connection, not at the next full garbage collection."""
    import gc
    import weakref

    async def scenario() -> weakref.ref[DirectWriteSocket]:
        ws = GatedWebSocket()
        sock, handler = await connected(ws)
        await sock.send(msg("a"))
        await hang_up(ws, handler)
        return weakref.ref(sock)

    gc.disable()
    try:
        gone = run_in_own_loop(scenario)
        assert gone() is None
    finally:
        gc.enable()
