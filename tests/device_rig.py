"""The simulated devices and the bridge as the end-to-end tests run them.

- `DeviceRigThread`: the device simulator's `DeviceRig` (firmware_bridge/simulator: pymodbus
  devices behind socat pty pairs and the line simulator) served from an asyncio loop on a thread
  of its own, so a synchronous test drives the hub, the bridge and the devices at once and reads
  what each device shows straight from its model;
- `BridgeProcess`: `firmware-bridge` as a real process;
- `eventually`: wait for a state with a generous deadline (a guard against hanging, not a timing
  assertion).

The `device-simulator` process with its control API (tests/devices/conftest.py `RigProcess`) is the
other way in; tests that need a device's stored memory or a bus other than the config's use this one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from firmware_bridge.simulator.devices import SimulatedDevice
from firmware_bridge.simulator.rig import BusRig, DeviceRig, RigSpec

from tests.conftest import ROOT

T = TypeVar("T")


def eventually(check: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    """Call `check` until it returns something truthy and return that; fail the test with `what`
    after `timeout` seconds (a deadline that only turns a hang into a failure: generous, for a
    machine under load)."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.05)


class DeviceRigThread:
    """`DeviceRig(spec, state_dir, pace=pace)` on its own event loop thread.

    `start()` returns once every bus's port exists (at most 20 s, else the error of the rig);
    `stop()` stops the Modbus servers and removes the ptys, and is idempotent. The devices, their
    fault plans and the pty pairs are thread-safe, so a test calls them directly: `bus(name)` is
    the running `BusRig` (its `faults`, `master_pair`, `line`), `device(unit, bus)` the device's
    model (`press`, `reset`, `view()`, its `queue` store on disk under `state_dir`)."""

    def __init__(self, spec: RigSpec, state_dir: Path, *, pace: bool = False) -> None:
        self.rig = DeviceRig(spec, state_dir, pace=pace)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="device-rig", daemon=True)

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> "DeviceRigThread":
        # as `device-simulator` does without --verbose: pymodbus logs a traceback for every
        # request to a unit that is configured but not fitted, which only buries a failure's log
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        self._thread.start()
        self._run(self.rig.start())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self._run(self.rig.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def bus(self, name: str = "bus1") -> BusRig:
        return self.rig.buses[name]

    def device(self, unit: int, bus: str = "bus1") -> SimulatedDevice:
        return self.rig.device(bus, unit)


class BridgeProcess:
    """`firmware-bridge --config CONFIG [args]` as a subprocess in its own session, output to `log`.
    `stop()` sends `sig` to its group (SIGKILL after 10 s) and may be followed by `start()` again."""

    def __init__(self, config: Path, log: Path, *args: str) -> None:
        self.config, self.log, self.args = config, log, args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "BridgeProcess":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "firmware_bridge.cli", "--config", str(self.config), *self.args],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
