"""`make central` (scripts/central-demo.sh) as a user runs it: Ctrl-C leaves no PostgreSQL behind,
and its centers file names the demo center as the demo hub does (config/central-demo.toml)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from queue_server.central.registry import load_registry
from tests.conftest import ROOT, free_port
from tests.reporting.pg import PostgresMissing, _bindir


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def test_the_demo_centers_file_names_the_demo_hub_as_it_calls_itself() -> None:
    hub = tomllib.loads((ROOT / "queue_server/demo.toml").read_text(encoding="utf-8"))
    forwarding = tomllib.loads((ROOT / "config/demo-reporting.toml").read_text(encoding="utf-8"))
    registry = load_registry(ROOT / "config/central-demo.toml")
    center = registry.centers[forwarding["reporting"]["center_id"]]
    assert center.name == hub["center"]["name"] == forwarding["center"]["name"]
    assert center.token == forwarding["reporting"]["token"]


def test_ctrl_c_stops_the_central_and_its_postgresql() -> None:
    try:
        _bindir()
    except PostgresMissing as exc:
        pytest.skip(str(exc))
    base = Path(tempfile.mkdtemp(prefix="quayso-central-demo-"))
    os.chmod(base, 0o755)  # the cluster's owner (nobody under root) must reach its folder
    port = free_port()
    env = {**os.environ, "CENTRAL_DATA": str(base / "central"), "PORT": str(port),
           "PGPORT": str(free_port()), "VENV": str(Path(sys.executable).parent.parent), "LC_ALL": "C.UTF-8"}
    script = subprocess.Popen(["bash", "scripts/central-demo.sh"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)  # as a terminal's job: Ctrl-C goes to its group
    try:
        for _ in range(1200):  # first run: initdb, start, createdb, then the central answers
            assert script.poll() is None, script.stdout.read() if script.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/province", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the central did not answer")
        pidfile = base / "central/pg/postmaster.pid"
        postmaster = int(pidfile.read_text().splitlines()[0])
        assert _alive(postmaster)
        os.killpg(script.pid, signal.SIGINT)  # Ctrl-C
        script.wait(timeout=60)
        for _ in range(100):
            if not _alive(postmaster):
                break
            time.sleep(0.1)
        assert not _alive(postmaster), "PostgreSQL is still running after Ctrl-C"
        assert not pidfile.exists()
    finally:
        if script.poll() is None:
            script.kill()
            script.wait()
        leftover = base / "central/pg/postmaster.pid"
        if leftover.exists():  # the defect itself: do not leave it running for the next test
            os.kill(int(leftover.read_text().splitlines()[0]), signal.SIGQUIT)
        shutil.rmtree(base, ignore_errors=True)
