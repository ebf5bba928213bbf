"""`make run`'s launcher (scripts/run-demo.sh): the hub and the simulated devices come up (and the
bridge, once it is in the tree), and Ctrl-C stops every process and removes the ptys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import ROOT, free_port, login


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                pass
    return pids


def test_ctrl_c_stops_the_hub_the_devices_and_the_bridge(tmp_path: Path) -> None:
    hub_port, devices_port = free_port(), free_port()
    env = {**os.environ, "VENV": str(Path(sys.executable).parent.parent), "PORT": str(hub_port),
           "DEVICES_PORT": str(devices_port), "DATA": str(tmp_path / "data")}
    log = open(tmp_path / "run-demo.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(["bash", "scripts/run-demo.sh"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)   # as a terminal's job
    try:
        end = time.monotonic() + 60
        up = False
        while time.monotonic() < end and not up:
            try:
                up = (requests.get(f"http://127.0.0.1:{hub_port}/healthz", timeout=1).ok
                      and requests.get(f"http://127.0.0.1:{devices_port}/api/devices", timeout=1).ok)
            except requests.RequestException:   # not listening yet, or still booting
                time.sleep(0.1)
        assert up, (tmp_path / "run-demo.log").read_text()
        devices = requests.get(f"http://127.0.0.1:{devices_port}/api/devices", timeout=5).json()
        assert len(devices["buses"][0]["devices"]) == 7
        port = Path(devices["buses"][0]["port"])
        assert port.is_symlink() and port.parent == tmp_path / "data" / "rs485"
        assert (tmp_path / "data" / "rs485" / "bridge.toml").exists()
        assert len(_group(proc.pid)) >= 3          # the script, the hub, the simulator (+ the bridge)
        # `make run PORT=... DEVICES_PORT=...` (README): the bridge follows the hub's port too
        if (Path(sys.executable).parent / "firmware-bridge").exists():
            auth = login(f"http://127.0.0.1:{hub_port}", "admin")
            end = time.monotonic() + 60
            seen: dict = {"bridges": []}
            while time.monotonic() < end and not seen["bridges"]:
                seen = requests.get(f"http://127.0.0.1:{hub_port}/api/v1/devices", headers=auth, timeout=5).json()
                time.sleep(0.2)
            assert seen["bridges"], (tmp_path / "run-demo.log").read_text()

        os.killpg(proc.pid, signal.SIGINT)         # Ctrl-C: the whole foreground group
        proc.wait(timeout=30)
        end = time.monotonic() + 30
        while _group(proc.pid) and time.monotonic() < end:
            time.sleep(0.1)
        assert _group(proc.pid) == []
        assert not port.exists() and not port.is_symlink()
    finally:
        for pid in _group(proc.pid):
            os.kill(pid, signal.SIGKILL)
