"""`make central` (scripts/central-demo.sh) as a user runs it: Ctrl-C leaves no PostgreSQL behind,
and its centers file names the demo center as the demo hub does (config/central-demo.toml)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
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


def _demo_env(base: Path, port: int) -> dict[str, str]:
    return {**os.environ, "CENTRAL_DATA": str(base / "central"), "PORT": str(port),
            "PGPORT": str(free_port()), "VENV": str(Path(sys.executable).parent.parent), "LC_ALL": "C.UTF-8"}


def _fresh_base() -> Path:
    try:
        _bindir()
    except PostgresMissing as exc:
        pytest.skip(str(exc))
    base = Path(tempfile.mkdtemp(prefix="quayso-central-demo-"))
    os.chmod(base, 0o755)  # the cluster's owner (nobody under root) must reach its folder
    return base


def _stop_leftover(pg: Path) -> None:
    """A test's own cleanup of a cluster the script failed to stop (never another's)."""
    if (pg / "postmaster.pid").exists():
        as_owner = (["setpriv", f"--reuid={pg.stat().st_uid}", f"--regid={pg.stat().st_gid}", "--clear-groups"]
                    if os.getuid() == 0 else [])
        subprocess.run([*as_owner, str(_bindir() / "pg_ctl"), "-D", str(pg), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)


@pytest.mark.parametrize("how", ["script", "make"])
def test_ctrl_c_stops_the_central_and_its_postgresql(how: str) -> None:
    """Ctrl-C reaches the terminal's whole foreground group: the script's (`bash
    scripts/central-demo.sh`) or, as a user runs it, `make central`'s. PostgreSQL, in the session
    pg_ctl gave it, must be stopped by the script; the script itself ends cleanly."""
    base = _fresh_base()
    port = free_port()
    env = _demo_env(base, port)
    if how == "make":  # the port as README says: CENTRAL_PORT; `-o venv`: the test's venv, no build
        del env["PORT"]
        command = ["make", "-s", "-o", "venv", "central", f"VENV={env['VENV']}", f"CENTRAL_PORT={port}"]
    else:
        command = ["bash", "scripts/central-demo.sh"]
    script = subprocess.Popen(command, cwd=ROOT, env=env,
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
        output, _ = script.communicate(timeout=60)
        for _ in range(100):
            if not _alive(postmaster):
                break
            time.sleep(0.1)
        assert not _alive(postmaster), "PostgreSQL is still running after Ctrl-C"
        assert not pidfile.exists()
        assert "central-demo: stopped (PostgreSQL too)" in output, output
        assert "Error 1" not in output, output
        if how == "script":
            assert script.returncode == 0, output
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
        _stop_leftover(base / "central/pg")
        shutil.rmtree(base, ignore_errors=True)


def test_a_central_that_cannot_start_leaves_no_postgresql() -> None:
    """The central exits by itself (its port is taken) before the script's cleanup runs: the
    cleanup must still stop PostgreSQL (under `set -e` its `kill` of the gone central ended the
    script with status 1 and PostgreSQL kept running), and the script says why it failed."""
    base = _fresh_base()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = _demo_env(base, taken.getsockname()[1])
        try:
            run = subprocess.run(["bash", "scripts/central-demo.sh"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=300)
            assert run.returncode != 0 and "cannot listen" in run.stderr, run.stdout + run.stderr
            assert not (base / "central/pg/postmaster.pid").exists(), "PostgreSQL is still running"
        finally:
            _stop_leftover(base / "central/pg")
            shutil.rmtree(base, ignore_errors=True)
