"""No Thread subclass of ours shadows an attribute threading.Thread keeps for itself.

The defect this keeps out: BusMaster once had `self._stop = threading.Event()`, which hides
Thread._stop(), a method Thread.join() calls, so stopping `firmware-bridge` raised
"TypeError: 'Event' object is not callable". The whole kind: every class in the project's packages
that subclasses threading.Thread, every `self.<name> = …` and every method it defines, against the
names a Thread instance and its class have (other than `run`, which is meant to be overridden, and
`name`/`daemon`, public properties meant to be set)."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("firmware_bridge", "queue_server", "bench", "scripts")
OURS_TO_SET = {"run", "name", "daemon", "__init__", "__repr__"}


def thread_names() -> set[str]:
    names = set(dir(threading.Thread)) | set(vars(threading.Thread()))
    return names - OURS_TO_SET


def thread_subclasses() -> list[tuple[Path, ast.ClassDef]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if any(part.startswith(".") for part in path.relative_to(ROOT).parts):
                continue  # not ours: a virtualenv (bench/.stacks/…-venv of `make bench COMPARE=`)
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(
                        ast.unparse(b) in ("threading.Thread", "Thread") for b in node.bases):
                    found.append((path, node))
    return found


def test_the_check_sees_the_bus_master() -> None:
    assert any(c.name == "BusMaster" for _p, c in thread_subclasses())


def test_no_thread_subclass_shadows_a_thread_attribute() -> None:
    reserved = thread_names()
    assert "_stop" in reserved or "_started" in reserved  # the check knows what Thread keeps
    clashes = []
    for path, cls in thread_subclasses():
        for node in ast.walk(cls):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in reserved \
                    and node in cls.body:
                clashes.append(f"{path.relative_to(ROOT)}: {cls.name}.{node.name}()")
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id == "self" \
                    and node.attr in reserved:
                clashes.append(f"{path.relative_to(ROOT)}:{node.lineno}: {cls.name} sets self.{node.attr}")
    assert not clashes, clashes
