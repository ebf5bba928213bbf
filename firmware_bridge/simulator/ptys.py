"""Pseudo-terminal pairs made by socat: the serial cable of the simulated rig.

`socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B` makes two ptys joined back to back and
links them at A and B; whatever is written to one is read from the other. The bridge opens A as
if it were /dev/ttyUSB0, the device simulator (or the line simulator) opens B. Restarting the pair
(`restart()`) is what unplugging a USB–RS485 adapter and plugging it back looks like to the
bridge: its open port fails (EIO), and the path comes back pointing at a new pty.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path


class PtyPairError(RuntimeError):
    """socat is missing or did not make the pair in time."""


class PtyPair:
    """A socat process joining two ptys linked at `a` and `b` (paths; created, replaced if stale).

    `start()` waits until both links exist (at most `timeout` s, else PtyPairError); `close()`
    stops socat and removes the links (idempotent); `restart()` is close + start with the same
    paths. Also a context manager."""

    def __init__(self, a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
        self.a = Path(a)
        self.b = Path(b)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 10.0) -> "PtyPair":
        socat = shutil.which("socat")
        if socat is None:
            raise PtyPairError("socat is not installed (apt-get install socat)")
        for link in (self.a, self.b):
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
        self._proc = subprocess.Popen(
            [socat, "-d", "-d", f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise PtyPairError(f"socat exited with {self._proc.returncode}: {err.strip()}")
            if self.a.exists() and self.b.exists():
                # socat's stderr is not read from here on: a pipe it could fill would block it
                if self._proc.stderr is not None:
                    self._proc.stderr.close()
                return self
            time.sleep(0.01)
        self.close()
        raise PtyPairError(f"socat made no pty pair at {self.a}, {self.b} within {timeout} s")

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for link in (self.a, self.b):
            if link.is_symlink():
                link.unlink(missing_ok=True)

    def restart(self, down_s: float = 0.0) -> "PtyPair":
        """Unplug (stop socat), wait `down_s` seconds, plug back (a new pair at the same paths)."""
        self.close()
        if down_s:
            time.sleep(down_s)
        return self.start()

    def __enter__(self) -> "PtyPair":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
