"""The helps a new user reads: `queue-server --help` names every subcommand, each subcommand's help
says what its options default to, and every bench script's --help prints its help and exits
without running the benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SUBCOMMANDS = ("doctor", "backup", "restore", "migrate", "central", "reporting")
# a subcommand's own actions, each with its own help
ACTIONS = (("reporting", "retry-refused"),)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_queue_server_help_names_the_subcommands() -> None:
    out = run("-m", "queue_server", "--help")
    assert out.returncode == 0, out.stderr
    assert "--config" in out.stdout and "--demo" in out.stdout  # the hub's own options, as before
    for name in SUBCOMMANDS:
        assert f"queue-server {name}" in out.stdout, name
    assert "doctor  [--config PATH | --demo]" in out.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_its_own_help(name: str) -> None:
    out = run("-m", "queue_server", name, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: queue-server {name}"), out.stdout


@pytest.mark.parametrize(("name", "action"), ACTIONS)
def test_each_action_has_its_own_help(name: str, action: str) -> None:
    """`queue-server reporting retry-refused --help` printed `queue-server reporting`'s help."""
    out = run("-m", "queue_server", name, action, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: queue-server {name} {action}"), out.stdout
    parent = run("-m", "queue_server", name, "--help")
    assert action in parent.stdout and out.stdout != parent.stdout


def test_retry_refused_still_runs_and_refuses_a_folder_without_a_database(tmp_path: Path) -> None:
    out = run("-m", "queue_server", "reporting", "retry-refused", "--data", str(tmp_path))
    assert out.returncode == 1 and f"no database in {tmp_path}" in out.stderr, out.stderr
    out = run("-m", "queue_server", "reporting")
    assert out.returncode == 2 and "retry-refused" in out.stderr, out.stderr


def test_central_help_gives_the_real_time_zone_default() -> None:
    out = run("-m", "queue_server", "central", "--help")
    text = " ".join(out.stdout.split())  # argparse wraps lines
    assert "(default Asia/Ho_Chi_Minh)" in text and "(default day)" not in text


def test_the_hub_still_takes_its_options_without_a_subcommand(tmp_path: Path) -> None:
    out = run("-m", "queue_server", "--config", str(ROOT / "config/example.toml"), "--check")
    assert out.returncode == 0, out.stderr
    assert "OK" in out.stdout
    out = run("-m", "queue_server", "--port", "1")  # neither --config nor --demo: refused as before
    assert out.returncode == 2 and "--config" in out.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "bench").glob("*.py")
                                           if '__name__ == "__main__"' in p.read_text(encoding="utf-8")))
def test_bench_scripts_print_help_and_do_not_run(script: str) -> None:
    out = run(str(ROOT / "bench" / script), "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage:"), out.stdout[:500]
    assert out.stdout.count("\n") < 80, "the benchmark ran instead of printing its help"
