"""`firmware-bridge` under systemd's notify protocol (systemd/firmware-bridge.service: Type=notify,
NotifyAccess=main, WatchdogSec=30, StateDirectory=quay-so/bridge): the real console script with
$NOTIFY_SOCKET on a real AF_UNIX datagram socket, as systemd gives it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import ONE_COUNTER_CENTER, ROOT, free_port


def receive(sock: socket.socket, wanted: str, timeout_s: float = 30.0) -> list[str]:
    """Datagrams until one equal to `wanted` (all of them, in order)."""
    sock.settimeout(timeout_s)
    got: list[str] = []
    while wanted not in got:
        got.append(sock.recv(4096).decode())
    return got


def test_ready_then_watchdog_while_alive_then_stopping_on_sigterm_and_a_clean_exit(tmp_path: Path) -> None:
    state = tmp_path / "state"          # what systemd's StateDirectory= would make
    state.mkdir()
    config = tmp_path / "center.toml"
    config.write_text(ONE_COUNTER_CENTER + f"""
[bridge]
hub = "http://127.0.0.1:{free_port()}"
token = "secret"

[[bridge.buses]]
name = "bus1"
port = "{tmp_path / 'no-adapter-yet'}"

[[bridge.devices]]
bus = "bus1"
unit = 1
kind = "counter-terminal"
counter = 1
""", encoding="utf-8")
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000",
               "STATE_DIRECTORY": str(state)}
        env.pop("WATCHDOG_PID", None)
        proc = subprocess.Popen([sys.executable, "-m", "firmware_bridge.cli", "--config", str(config)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = receive(sock, "READY=1")
            assert first == ["READY=1"], first             # nothing before READY
            assert receive(sock, "WATCHDOG=1") == ["WATCHDOG=1"]
            assert receive(sock, "WATCHDOG=1") == ["WATCHDOG=1"]  # and again: it keeps pinging
            proc.send_signal(signal.SIGTERM)
            assert receive(sock, "STOPPING=1")[-1] == "STOPPING=1"
            _out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # It stops cleanly: no "TypeError: 'Event' object is not callable" from a shadowed
    # Thread._stop, no traceback at all.
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    # The default [bridge] data is the folder systemd gave it, and the press queue is there.
    assert any(state.iterdir()), list(state.iterdir())

