"""The simulated RS485 rig of a center: every bus of its `[bridge]` config, with its devices.

Per bus (`[[bridge.buses]]`):

    bridge ── socat pair (port ↔ <state>/<bus>.line-master) ── LineSimulator
           ── socat pair (<state>/<bus>.line-devices ↔ <state>/<bus>.devices) ── BusServer (pymodbus)

The bridge opens the bus's `port` exactly as configured; the rig makes that path a pty. The line
simulator in between paces bytes at the bus's baud rate (`pace=True`) or passes them at once, and
either way is where noise goes on the wire and where the bridge's "adapter" is unplugged
(`unplug()` restarts the bridge-side pair: its open port fails and the path comes back).

The devices (`[[bridge.devices]]`) are built from the keys the bridge itself reads, so one file
drives both; what only a device knows (how many characters a display has) comes from the rig's
own options. The rig reads the file with tomllib and checks only what it needs: the bridge's own
parser is the one that refuses a bad file with key and line.
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .devices import SimulatedDevice, make_device
from .faults import FaultPlan
from .line import LineSimulator, LineTiming
from .modbus import BusServer
from .ptys import PtyPair

DEFAULT_LEVELS = ("Rất hài lòng", "Hài lòng", "Chưa hài lòng")   # SPEC §6


class RigConfigError(ValueError):
    """The file cannot drive the rig (no [bridge], a device on an unknown bus, ...)."""


@dataclass
class BusSpec:
    """One `[[bridge.buses]]` with its devices' tables."""

    name: str
    port: str
    baud: int = 9600
    parity: str = "N"
    stopbits: int = 1
    devices: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RigSpec:
    buses: list[BusSpec]
    rating_levels: tuple[str, ...] = DEFAULT_LEVELS


def read_rig_spec(path: str | Path) -> RigSpec:
    """The buses and devices of a center's TOML; relative ports are taken from the file's folder
    only if they start with "./" (otherwise from the working directory, as the bridge does).
    Raises RigConfigError."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RigConfigError(f"{p}: {exc}") from None
    bridge = raw.get("bridge")
    if not isinstance(bridge, dict):
        raise RigConfigError(f"{p}: no [bridge] table: no buses to simulate")
    buses: dict[str, BusSpec] = {}
    for i, b in enumerate(bridge.get("buses", [])):
        try:
            name, port = str(b["name"]), str(b["port"])
        except (KeyError, TypeError):
            raise RigConfigError(f"{p}: [[bridge.buses]] number {i + 1} needs name and port") from None
        buses[name] = BusSpec(name, port, int(b.get("baud", 9600)), str(b.get("parity", "N")),
                              int(b.get("stopbits", 1)))
    if not buses:
        raise RigConfigError(f"{p}: no [[bridge.buses]]")
    for i, d in enumerate(bridge.get("devices", [])):
        bus = d.get("bus") if isinstance(d, dict) else None
        if bus not in buses:
            raise RigConfigError(f"{p}: [[bridge.devices]] number {i + 1}: unknown bus {bus!r}")
        buses[bus].devices.append(dict(d))
    levels = raw.get("ratings", {}).get("levels") if isinstance(raw.get("ratings"), dict) else None
    return RigSpec(list(buses.values()), tuple(levels) if levels else DEFAULT_LEVELS)


@dataclass
class BusRig:
    """One running bus: its two pty pairs, the line simulator and the Modbus server."""

    spec: BusSpec
    devices: dict[int, SimulatedDevice]
    master_pair: PtyPair
    devices_pair: PtyPair
    line: LineSimulator
    server: BusServer

    @property
    def faults(self) -> FaultPlan:
        return self.server.faults

    def unplug(self, down_s: float = 0.5) -> None:
        """The bridge's adapter unplugged for `down_s` seconds and plugged back."""
        self.master_pair.restart(down_s)


class DeviceRig:
    """Every bus of `spec`, with state (event stores, internal pty links) under `state_dir`.

    `display_size` is the characters of counter displays and terminals (4..8, PROTOCOL.md §4);
    `pace` paces the line at each bus's baud rate with `turnaround_ms`. `start()`/`stop()` are
    coroutines (the Modbus servers live on the caller's event loop)."""

    def __init__(self, spec: RigSpec, state_dir: Path, *, pace: bool = True,
                 turnaround_ms: float = 5.0, display_size: int = 4) -> None:
        self.spec = spec
        self.state_dir = Path(state_dir)
        self.pace = pace
        self.turnaround_ms = turnaround_ms
        self.display_size = display_size
        self.buses: dict[str, BusRig] = {}

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for bus in self.spec.buses:
            devices: dict[int, SimulatedDevice] = {}
            for d in bus.devices:
                d = dict(d)
                d.setdefault("size", self.display_size)
                if d.get("kind") == "rating-box":
                    d.setdefault("levels", len(self.spec.rating_levels))
                if d.get("kind") == "lobby-board" and not d.get("rows"):
                    d["rows"] = 8
                dev = make_device(d, state_dir=self.state_dir, bus=bus.name)
                devices[dev.unit] = dev
            base = self.state_dir / bus.name
            Path(bus.port).parent.mkdir(parents=True, exist_ok=True)
            master_pair = PtyPair(bus.port, f"{base}.line-master").start()
            devices_pair = PtyPair(f"{base}.line-devices", f"{base}.devices").start()
            line = LineSimulator(str(master_pair.b), str(devices_pair.a),
                                 LineTiming(bus.baud, self.turnaround_ms, paced=self.pace),
                                 record=False).start()
            server = BusServer(bus.name, str(devices_pair.b), bus.baud, devices,
                               parity=bus.parity, stopbits=bus.stopbits)
            await server.start()
            self.buses[bus.name] = BusRig(bus, devices, master_pair, devices_pair, line, server)

    async def stop(self) -> None:
        for rig in self.buses.values():
            await rig.server.stop()
            rig.line.close()
            rig.master_pair.close()
            rig.devices_pair.close()
        self.buses.clear()

    def device(self, bus: str, unit: int) -> SimulatedDevice:
        """Raises KeyError for an unknown bus or unit."""
        return self.buses[bus].devices[unit]

    def view(self) -> dict[str, Any]:
        """Every bus and what each device shows (the technician's page reads this)."""
        return {
            "rating_levels": list(self.spec.rating_levels),
            "buses": [{
                "name": name, "port": rig.spec.port, "baud": rig.spec.baud, "paced": self.pace,
                "frames_in": rig.server.frames_in, "frames_out": rig.server.frames_out,
                # line time the bytes took (11 bits each at the baud), and the clock it is read by
                "line": {"busy_s": rig.line.busy_s(), "bytes": rig.line.byte_count(),
                         "clock": time.monotonic()},
                "devices": [dict(dev.view(), name=_name_of(rig.spec, unit))
                            for unit, dev in sorted(rig.devices.items())],
            } for name, rig in self.buses.items()],
        }


def _name_of(bus: BusSpec, unit: int) -> str:
    for d in bus.devices:
        if d.get("unit") == unit and d.get("name"):
            return str(d["name"])
    return f"{bus.name}/{unit}"
