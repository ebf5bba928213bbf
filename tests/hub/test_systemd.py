"""The hub speaks systemd's notify protocol (Type=notify, WatchdogSec in systemd/queue-server.service):
READY once the worker serves (not when gunicorn's master boots), WATCHDOG pings only while the
database and the publisher thread answer, STOPPING on SIGTERM — checked against a real datagram socket standing where systemd's would."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import requests

from queue_server.demo import demo_config
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


def test_a_stuck_publisher_is_not_alive() -> None:
    """What the watchdog asks of the push side: a publisher thread that does not answer is not
    alive — here it is stuck reading a snapshot — and it is alive again once it is free."""
    from flask import Flask
    from flask_socketio import SocketIO

    rules = demo_config().rules
    publisher = SocketPublisher(SocketIO(Flask(__name__), async_mode="threading"), rules, announcer=None)
    release = threading.Event()

    def slow_snapshot(zone: str | None) -> dict[str, object]:
        release.wait(10)
        return {}

    publisher.start(slow_snapshot)
    try:
        assert publisher.alive(timeout=2)
        publisher.send_state("some-client", None)  # the thread now waits inside slow_snapshot
        time.sleep(0.1)
        assert not publisher.alive(timeout=0.3)
        release.set()
        assert publisher.alive(timeout=2)  # and it recovers once it is free
    finally:
        release.set()
        publisher.close()
