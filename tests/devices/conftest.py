"""Fixtures of the device rig: socat pty pairs and reading a pty with a deadline."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_bridge.simulator.ptys import PtyPair


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[object]:
    """A factory of socat pty pairs in the test's folder, all closed at the end."""
    made: list[PtyPair] = []

    def make(name: str) -> PtyPair:
        pair = PtyPair(tmp_path / f"{name}-a", tmp_path / f"{name}-b").start()
        made.append(pair)
        return pair

    yield make
    for pair in made:
        pair.close()


def open_raw(path: Path | str) -> int:
    """Open a pty end for reading and writing, non-blocking, raw."""
    import termios
    import tty
    fd = os.open(str(path), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd, termios.TCSANOW)
    return fd


def read_exactly(fd: int, n: int, deadline_s: float = 10.0) -> bytes:
    """Read `n` bytes from `fd`, failing the test if they have not all come within `deadline_s`
    (a guard against hanging, not a timing assertion)."""
    out = bytearray()
    end = time.monotonic() + deadline_s
    while len(out) < n:
        left = end - time.monotonic()
        if left <= 0:
            pytest.fail(f"only {len(out)} of {n} bytes arrived: {bytes(out).hex(' ')}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                out += os.read(fd, n - len(out))
            except BlockingIOError:
                pass
    return bytes(out)
