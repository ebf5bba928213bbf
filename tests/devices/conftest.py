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


# ---- a device-simulator process and a raw Modbus master on its bus --------------------------------

import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import requests  # noqa: E402

from tests.conftest import ROOT, free_port  # noqa: E402

from tests.protocol_doc import modbus_crc  # noqa: E402

RIG_TOML = """
[ratings]
levels = ["Rất hài lòng", "Hài lòng", "Chưa hài lòng"]

[bridge]
token = "demo-device"
data = "{folder}/bridge-data"

[[bridge.buses]]
name = "bus1"
port = "{port}"
baud = {baud}

[[bridge.devices]]
bus = "bus1"
unit = 1
kind = "counter-terminal"
counter = 1

[[bridge.devices]]
bus = "bus1"
unit = 2
kind = "counter-display"
counter = 2

[[bridge.devices]]
bus = "bus1"
unit = 3
kind = "rating-box"
counter = 1

[[bridge.devices]]
bus = "bus1"
unit = 4
kind = "lobby-board"
rows = {lobby_rows}

[[bridge.devices]]
bus = "bus1"
unit = 5
kind = "numeric-led"
counter = 3
digits = 4
"""


@dataclass
class RigProcess:
    """`device-simulator --config` as a subprocess; `port` is the bus as the bridge opens it."""

    folder: Path
    baud: int = 9600
    pace: bool = False
    lobby_rows: int = 4
    extra_terminals: int = 0      # more counter terminals, units 11, 12 … (counters 11, 12 …)
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> Path:
        return self.folder / "rs485" / "bus1"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> "RigProcess":
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "center.toml"
        extra = "".join(f'\n[[bridge.devices]]\nbus = "bus1"\nunit = {u}\nkind = "counter-terminal"\n'
                        f"counter = {u}\n" for u in range(11, 11 + self.extra_terminals))
        config.write_text(RIG_TOML.format(port=self.port, baud=self.baud, folder=self.folder,
                                          lobby_rows=self.lobby_rows) + extra, encoding="utf-8")
        log = open(self.folder / "device-simulator.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firmware_bridge.simulator", "--config", str(config),
             "--data", str(self.folder / "data"), "--http-port", str(self.http_port),
             *([] if self.pace else ["--no-pace"])],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"device-simulator exited {self.proc.returncode}; see {log.name}")
            try:
                if requests.get(f"{self.api}/api/devices", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("device-simulator did not come up")

    @property
    def config(self) -> Path:
        return self.folder / "center.toml"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def device(self, unit: int) -> dict:
        for bus in requests.get(f"{self.api}/api/devices", timeout=5).json()["buses"]:
            for d in bus["devices"]:
                if d["unit"] == unit:
                    return d
        raise KeyError(unit)

    def press(self, unit: int, key: int, arg: int = 0) -> int | None:
        r = requests.post(f"{self.api}/api/buses/bus1/devices/{unit}/press", json={"key": key, "arg": arg}, timeout=5)
        r.raise_for_status()
        return r.json()["seq"]

    def fault(self, **fault: object) -> None:
        requests.post(f"{self.api}/api/buses/bus1/faults", json=fault, timeout=5).raise_for_status()

    def applied(self) -> list[dict]:
        return requests.get(f"{self.api}/api/buses/bus1/faults", timeout=5).json()["applied"]


@pytest.fixture
def rig_process(tmp_path: Path) -> Iterator[RigProcess]:
    rig = RigProcess(tmp_path / "rig").start()
    yield rig
    rig.stop()


class RawMaster:
    """A Modbus master made of bytes: writes a frame (CRC added) and collects what comes back until
    the line has been quiet for `quiet_s` (a guard, not a measurement). Written here, from the
    serial-line guide, so the simulated devices are checked by code that shares nothing with them."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.fd = open_raw(self.path)

    def reopen(self) -> None:
        self.close()
        self.fd = open_raw(self.path)

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass

    def transact(self, pdu_with_unit: bytes, quiet_s: float = 0.1, first_s: float = 5.0) -> bytes:
        self.drain()
        os.write(self.fd, pdu_with_unit + modbus_crc(pdu_with_unit))
        return self.collect(quiet_s, first_s)

    def collect(self, quiet_s: float = 0.1, first_s: float = 5.0) -> bytes:
        out = bytearray()
        end = time.monotonic() + first_s
        while True:
            wait = (end if not out else time.monotonic() + quiet_s) - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(wait, 0))
            if not ready:
                return bytes(out)
            try:
                out += os.read(self.fd, 512)
            except BlockingIOError:
                continue

    def drain(self) -> None:
        while select.select([self.fd], [], [], 0)[0]:
            try:
                if not os.read(self.fd, 512):
                    return
            except BlockingIOError:
                return


def valid(frame: bytes) -> bool:
    return len(frame) >= 4 and frame[-2:] == modbus_crc(frame[:-2])
