"""The hub speaks systemd's notify protocol (Type=notify, WatchdogSec in systemd/queue-server.service):
READY once it serves, WATCHDOG pings only while the database and the display loop answer, STOPPING
on SIGTERM — checked against a real datagram socket standing where systemd's would."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import requests

from queue_server.demo import demo_config
from queue_server.fanout import create_socket_server
from queue_server.push import SocketPublisher
from tests.conftest import HubProcess, free_port


def test_ready_watchdog_and_stopping_reach_systemd(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(address)
    systemd.settimeout(10)
    hub = HubProcess(tmp_path / "data", free_port(), ["--demo"],
                     env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"})
    try:
        hub.start()
        heard: list[str] = []
        while heard.count("WATCHDOG=1") < 3:
            heard.append(systemd.recv(256).decode())
        assert heard[0] == "READY=1"  # before any ping, and only once
        assert heard.count("READY=1") == 1
        assert requests.get(f"{hub.url}/healthz", timeout=5).status_code == 200
        hub.stop()
        assert hub.proc is not None and hub.proc.returncode == 0
        rest = []
        while "STOPPING=1" not in rest:
            rest.append(systemd.recv(256).decode())
    finally:
        hub.stop()
        systemd.close()


def test_a_stuck_display_loop_is_not_alive() -> None:
    """What the watchdog asks of the push side: a loop that does not answer is not alive."""
    rules = demo_config().rules
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    publisher = SocketPublisher(create_socket_server(), rules, announcer=None)
    try:
        started = threading.Event()

        def start() -> None:
            publisher.start(lambda zone: {})
            started.set()

        loop.call_soon_threadsafe(start)
        assert started.wait(5)
        assert publisher.alive(timeout=1)
        loop.call_soon_threadsafe(time.sleep, 1.5)  # something blocks the loop
        time.sleep(0.1)
        assert not publisher.alive(timeout=0.3)
        time.sleep(1.5)
        assert publisher.alive(timeout=1)  # and it recovers once the loop is free
    finally:
        publisher.close()

        async def cancel_the_rest() -> None:
            """Runs on the loop's own thread: the main thread may have a running loop of its own
            (the session's Playwright browser), where run_until_complete would refuse."""
            others = asyncio.all_tasks() - {asyncio.current_task()}
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_the_rest(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
