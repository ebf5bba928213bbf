"""The serving layer as displays live with it: connections that stay up through many Engine.IO
ping cycles, clients that never read, the listening socket's options, a prompt stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from queue_server import serving
from tests.conftest import DEVICE, HubProcess, login
from tests.kiosk.kiosk_hub_helpers import write_center

FAST_PINGS = "\n[server]\nping_interval = 1\nping_timeout = 1\n"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Display:
    """A python-socketio client that counts its (re)connections and records `ticket_called`."""

    def __init__(self, url: str, transport: str) -> None:
        self.connects = 0
        self.disconnects: list[Any] = []
        self.calls: list[str] = []
        self.cond = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        self.client.on("connect", self._connected)
        self.client.on("disconnect", lambda *reason: self.disconnects.append(reason))
        self.client.on("ticket_called", self._called)
        self.client.connect(url, transports=[transport], wait_timeout=10)

    def _connected(self) -> None:
        self.connects += 1

    def _called(self, data: dict[str, Any]) -> None:
        with self.cond:
            self.calls.append(data["number"])
            self.cond.notify_all()

    def wait_call(self, number: str, timeout: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: number in self.calls, timeout)


def test_idle_displays_stay_connected_through_many_ping_cycles(hub_factory: Any, tmp_path: Path) -> None:
    """Pings every 1 s, 1 s to answer: after 6 s idle (three times ping_interval + ping_timeout)
    every websocket and long-polling display is still on its first connection and gets the next
    call. The first hub on uvicorn dropped every websocket client each 45 s."""
    hub = hub_factory("--demo", "--config", str(write_center(tmp_path, extra=FAST_PINGS)))
    displays = [Display(hub.url, "websocket") for _ in range(3)] + [Display(hub.url, "polling") for _ in range(2)]
    try:
        time.sleep(6.0)
        assert all(d.client.connected for d in displays)
        assert [d.connects for d in displays] == [1] * 5
        assert [d.disconnects for d in displays] == [[]] * 5
        assert requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE,
                             timeout=10).status_code == 201
        number = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=login(hub.url, "staff1"),
                               timeout=10).json()["number"]
        assert all(d.wait_call(number) for d in displays), [d.calls for d in displays]
        assert [d.connects for d in displays] == [1] * 5
    finally:
        for d in displays:
            threading.Thread(target=d.client.disconnect, daemon=True).start()


def raw_websocket(url: str, rcvbuf: int | None = None) -> socket.socket:
    """A websocket to /socket.io/ opened by hand (client frames masked with a zero key), so the
    test decides when — if ever — it reads. Returns once the 101 answer's head is read (as a
    client must: bytes sent before it would belong to the HTTP request)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((host, int(port)))
    sock.sendall(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: hub\r\n"
                 b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, head
        head += byte
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def frame(text: str) -> bytes:
    data = text.encode()
    assert len(data) < 126
    return bytes([0x81, 0x80 | len(data)]) + b"\0\0\0\0" + data


def read_frames(sock: socket.socket, seconds: float) -> list[str]:
    """Every text frame that arrives within `seconds`, until the hub closes the connection."""
    return read_until_closed(sock, seconds)[0]


def read_until_closed(sock: socket.socket, seconds: float) -> tuple[list[str], bool]:
    """(text frames, whether the hub closed the connection) within `seconds`."""
    sock.settimeout(0.5)
    buf = b""
    closed = False
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
    out = []
    while len(buf) >= 2:
        n, at = buf[1] & 0x7F, 2
        if n == 126:
            n, at = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            n, at = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < at + n:
            break
        if buf[0] & 0x0F == 1:
            out.append(buf[at:at + n].decode(errors="replace"))
        buf = buf[at + n:]
    return out, closed


def test_a_client_that_floods_sync_and_never_reads_is_bounded(hub: HubProcess) -> None:
    """20,000 `sync` requests from a client that reads nothing for 4 s: it is owed at most the
    burst plus one state a second (the rest coalesced), the hub's memory does not grow with the
    flood, and a display beside it gets its calls. The uvicorn hub grew from 69 to 476 MiB."""
    tv = Display(hub.url, "websocket")
    pid = hub.worker_pid()
    before = rss_kb(pid)
    flooder = raw_websocket(hub.url)
    try:
        flooder.sendall(frame("40"))
        sync = frame('42["sync"]') * 1000
        started = time.monotonic()
        for _ in range(20):
            flooder.sendall(sync)
        elapsed = time.monotonic() - started
        time.sleep(max(0.0, 4.0 - elapsed))
        grown_mb = (rss_kb(pid) - before) / 1024
        assert requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE,
                             timeout=10).status_code == 201
        number = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=login(hub.url, "staff1"),
                               timeout=10).json()["number"]
        assert tv.wait_call(number), tv.calls
        flooded_for = time.monotonic() - started
        states = [f for f in read_frames(flooder, 3.0) if f.startswith('42["state"')]
        # connect's own state + a burst of 3 + one a second (+1 for a boundary)
        assert 1 <= len(states) <= 1 + 3 + int(flooded_for + 3.0) + 1, len(states)
        assert grown_mb < 25, f"RSS grew {grown_mb:.1f} MB"
    finally:
        flooder.close()
        threading.Thread(target=tv.client.disconnect, daemon=True).start()


def test_a_display_that_stops_reading_is_dropped(hub_factory: Any, tmp_path: Path) -> None:
    """A TV that stops reading (its receive window closed) while calls go on: once its fixed
    send buffer is full and `send_timeout` (2 s here) passes, the hub drops it and frees what was
    queued for it; a display beside it gets every call."""
    config = write_center(tmp_path, extra="\n[server]\nsend_timeout = 2\n")
    hub = hub_factory("--demo", "--config", str(config))
    tv = Display(hub.url, "websocket")
    stalled = raw_websocket(hub.url, rcvbuf=4096)
    try:
        stalled.sendall(frame("40"))
        staff = login(hub.url, "staff5")
        numbers = []
        with requests.Session() as s:
            for _ in range(600):  # ~450 KB of calls and counter updates to every display
                assert s.post(f"{hub.url}/api/v1/tickets", json={"service": "tu-phap"}, headers=DEVICE,
                              timeout=10).status_code == 201
                numbers.append(s.post(f"{hub.url}/api/v1/counters/5/next", headers=staff,
                                      timeout=10).json()["number"])
        assert tv.wait_call(numbers[-1], timeout=10)
        assert tv.calls == numbers  # all of them, in order
        time.sleep(3.0)  # the stalled writer's timeout passes
        frames, closed = read_until_closed(stalled, 10.0)
        assert closed, f"still connected after {len(frames)} frames"
        got = [json.loads(f[2:])[1]["number"] for f in frames if f.startswith('42["ticket_called"')]
        assert len(got) < len(numbers)  # it fell behind, and was let go
    finally:
        stalled.close()
        threading.Thread(target=tv.client.disconnect, daemon=True).start()


def test_bad_socket_arguments_never_reach_a_traceback(hub: HubProcess) -> None:
    """Arguments of the wrong shape on every event: one `error` each (or nothing for an unknown
    event), the connection stays, and the journal has no traceback."""
    flooder = raw_websocket(hub.url)
    try:
        flooder.sendall(frame("40"))
        bad = ['42["sync",{"zone":{}}]', '42["sync",{"zone":[1]}]', '42["join",{"zone":{}}]',
               '42["join",{"counter":{}}]', '42["join",{"ticket":{}}]', '42["sync",null,1,2]',
               '42["join","\\ud800"]', '42["sync",{"zone":"\\ud800"}]', '42[]', '42[1]', '42{}']
        for text in bad:
            flooder.sendall(frame(text))
        frames = read_frames(flooder, 2.0)
        errors = [json.loads(f[2:])[1] for f in frames if f.startswith('42["error"')]
        # the four bad joins are refused; a bad sync falls back to the whole hall's state
        assert [e["code"] for e in errors] == ["unknown_zone", "unknown_counter", "bad_ticket", "bad_join"], frames
        assert all(e["message"] and e["message_en"] for e in errors)
        # still connected and served
        flooder.sendall(frame('42["sync"]'))
        assert any(f.startswith('42["state"') for f in read_frames(flooder, 2.0))
    finally:
        flooder.close()
    assert requests.get(f"{hub.url}/healthz", timeout=5).status_code == 200
    log = (hub.data.parent / f"hub-{hub.port}.log").read_text(encoding="utf-8")
    assert "Traceback" not in log


def test_every_accepted_connection_has_nagle_off() -> None:
    """Linux hands the listening socket's TCP_NODELAY to every connection it accepts: no
    response of the hub waits ~40 ms on a delayed ACK (SPEC §11)."""
    listener = serving.listen("127.0.0.1", 0)
    try:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        accepted.close()
        client.close()
    finally:
        listener.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_with_displays_connected_is_prompt_and_clean(hub: HubProcess, signum: int) -> None:
    """SIGTERM (systemd) or SIGINT to the process group (Ctrl-C on `make run`) with displays
    connected: the hub closes them itself, then its store, and exits 0 — not a kill at the end of
    gunicorn's graceful timeout.

    Eight websockets each get Engine.IO's close packet (a "server disconnect"): closed one after
    another, a connection whose writer had already ended kept every later one open until the
    graceful timeout, and they saw a "transport error" (about one stop in three under load).
    Long-polling clients are closed too; one caught between two polls may see its next poll
    refused instead of the close packet (python-engineio refuses a poll for a closed session), a
    "transport error" — either way a browser reconnects — so for them the test asks only that
    they were let go, once."""
    websockets = [Display(hub.url, "websocket") for _ in range(8)]
    pollers = [Display(hub.url, "polling") for _ in range(2)]
    assert hub.proc is not None
    os.killpg(hub.proc.pid, signum)
    hub.proc.wait(timeout=20)
    assert hub.proc.returncode == 0
    cut = [(i, d.disconnects) for i, d in enumerate(websockets) if d.disconnects != [("server disconnect",)]]
    assert not cut, cut
    assert all(len(d.disconnects) == 1 and d.disconnects[0][0] in ("server disconnect", "transport error")
               for d in pollers), [d.disconnects for d in pollers]
    log = (hub.data.parent / f"hub-{hub.port}.log").read_text(encoding="utf-8")
    assert "SIGKILL" not in log and "Traceback" not in log
