"""Arrows worth never having (STYLE.md), checked by import-linter and a scan of the core."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    run = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--config", "pyproject.toml"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "broken" in run.stdout and "0 broken" in run.stdout, run.stdout


def test_core_never_reads_the_wall_clock() -> None:
    banned = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
              ("time", "time"), ("time", "monotonic")}
    for path in (ROOT / "queue_server" / "core").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert (node.value.id, node.attr) not in banned, f"{path.name}:{node.lineno} reads the clock"
