"""The bridge's part of the center's TOML: `[bridge]`, `[[bridge.buses]]`, `[[bridge.devices]]`.

Parsed here with tomllib and checked with toml_reader.TomlReader, the reader the hub's own config
uses too (firmware_bridge never imports queue_server: it is a separate process that talks to the hub
only over HTTP and Socket.IO). Every key is documented in docs/configuration.md;
an unknown key, a bad value, an unknown bus or two devices on the same bus and unit are refused with
a BridgeConfigError that names the key and its line. Sections other than `[bridge]` are read only
for `[server] port/data` (defaults of the hub address and data folder), `[ratings] levels` (how many
keys a rating box uses) and `[[counters]] number` (a device's counter must exist).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .profile import KIND_CODES, LOBBY_MAX_ROWS
from .toml_reader import TomlReader, spoken_type_names
from .toml_reader import between as _between

BAUDS = (9600, 19200, 38400, 115200)
PARITIES = {"N": "none", "E": "even", "O": "odd"}
OUTCOMES = ("received", "returned", "guidance", "supplement")

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class BridgeConfigError(ValueError):
    """A bad bridge config value: `file, line N: key: problem`."""

    def __init__(self, key: str, message: str, line: int | None, file: str):
        where = file + (f", line {line}" if line else "")
        super().__init__(f"{where}: {key}: {message}")
        self.message = message
        self.key = key
        self.line = line


@dataclass(frozen=True)
class BusConfig:
    """One RS485 line: a serial port owned by one thread (master.BusMaster)."""

    name: str
    port: str
    baud: int = 9600
    parity: str = "N"
    stopbits: int = 1
    timeout_margin_ms: int = 50
    retries: int = 1
    backoff_max_s: float = 30.0


@dataclass(frozen=True)
class DeviceConfig:
    """One device on a bus; `options` holds the per-kind keys with their defaults filled in."""

    bus: str
    unit: int
    kind: str
    counter: int | None
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """"bus1/3": the device's id in health reports (GET /api/v1/devices)."""
        return f"{self.bus}/{self.unit}"


ACTION_MAX_AGE_S = 120  # a keypad press older than this is not acted on (PROTOCOL.md §5.3)


@dataclass(frozen=True)
class BridgeConfig:
    hub: str
    token: str | None
    bridge_id: str
    data: Path
    queue_max: int
    action_max_age_s: int
    poll_ms: int
    refresh_s: int
    health_s: int
    rating_levels: int
    buses: tuple[BusConfig, ...]
    devices: tuple[DeviceConfig, ...]


def _one_of(options: tuple[Any, ...]) -> Callable[[Any], str | None]:
    return lambda v: None if v in options else f"must be one of {', '.join(map(str, options))}, got {v!r}"


def _counter_list(v: list[Any]) -> str | None:
    ok = all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 999 for x in v)
    return None if ok else "must list counter numbers, e.g. [1, 2, 3]"


# Per-kind keys of [[bridge.devices]]: name -> (type, default, check). PROTOCOL.md §6-§7.
_DISPLAY: dict[str, tuple[type, Any, Callable[[Any], str | None] | None]] = {
    "brightness": (int, 80, _between(0, 100)), "blink_s": (int, 5, _between(0, 60)),
    "watchdog_s": (int, 60, _between(0, 3600))}
KIND_KEYS: dict[str, dict[str, tuple[type, Any, Callable[[Any], str | None] | None]]] = {
    "counter-display": dict(_DISPLAY),
    "counter-terminal": {**_DISPLAY, "finish_outcome": (str, "received", _one_of(OUTCOMES))},
    "rating-box": {"brightness": (int, 80, _between(0, 100)), "watchdog_s": (int, 60, _between(0, 3600)),
                   "thanks_s": (int, 3, _between(1, 60))},
    "lobby-board": {**_DISPLAY, "rows": (int, 0, _between(0, LOBBY_MAX_ROWS)),
                    "counters": (list, [], _counter_list)},
    "numeric-led": {"register": (int, 0, _between(0, 65534)), "function": (int, 6, _one_of((6, 16))),
                    "digits": (int, 4, _between(1, 9)), "idle_value": (int, 0, _between(0, 999_999_999)),
                    "error_value": (int, -1, _between(-1, 999_999_999))},
}


def parse_bridge_config(text: str, file: str = "config", *, hub: str | None = None,
                        token: str | None = None) -> BridgeConfig:
    """Parse the bridge's sections of a center TOML. `hub`/`token` (from the command line) win
    over the file. Raises BridgeConfigError (key and line) on the first problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BridgeConfigError("(syntax)", str(exc), None, file) from None
    r = TomlReader(text, file, BridgeConfigError, spoken_type_names, ints_as_floats=True)
    server = raw.get("server", {}) if isinstance(raw.get("server"), dict) else {}
    port = server.get("port", 8080)
    hub_data = Path(server.get("data", "data")) if isinstance(server.get("data", "data"), str) else Path("data")
    ratings = raw.get("ratings", {}) if isinstance(raw.get("ratings"), dict) else {}
    levels = ratings.get("levels")
    rating_levels = len(levels) if isinstance(levels, list) and levels else 3
    counters = {c.get("number") for c in raw.get("counters", []) if isinstance(c, dict)}
    counters.discard(None)

    if "bridge" not in raw:
        raise r.fail(["bridge"], "no [bridge] table: the bridge has nothing to drive")
    b = r.table(raw["bridge"], ["bridge"], {"hub", "token", "id", "data", "queue_max",
                                            "action_max_age_s", "poll_ms", "refresh_s", "health_s",
                                            "buses", "devices"})
    url = r.get(b, ["bridge"], "hub", str, f"http://127.0.0.1:{port}",
                lambda v: None if re.match(r"^https?://[^/\s]+/?$", v) else
                'must be the hub\'s base URL, e.g. "http://127.0.0.1:8080"')
    tok = r.get(b, ["bridge"], "token", str, None,
                lambda v: None if v.strip() else "must not be empty")
    p = ["bridge"]
    buses: dict[str, BusConfig] = {}
    raw_buses = b.get("buses", [])
    if not isinstance(raw_buses, list) or not raw_buses:
        raise r.fail(["bridge", "buses"], "at least one [[bridge.buses]] table is required")
    ports: set[str] = set()
    for i, item in enumerate(raw_buses):
        bp = ["bridge", "buses", i]
        t = r.table(item, bp, {"name", "port", "baud", "parity", "stopbits", "timeout_margin_ms", "retries",
                               "backoff_max_s"})
        name = r.get(t, bp, "name", str, check=lambda v: None if _NAME.match(v) else
                     'must be lowercase letters, digits, "-" or "_", e.g. "bus1"')
        if name in buses:
            raise r.fail([*bp, "name"], f"duplicate bus name {name!r}")
        dev = r.get(t, bp, "port", str, check=lambda v: None if v.strip() else "must not be empty")
        if dev in ports:
            raise r.fail([*bp, "port"], f"{dev} is already used by another bus (one master per bus)")
        ports.add(dev)
        buses[name] = BusConfig(
            name=name, port=dev,
            baud=r.get(t, bp, "baud", int, 9600, _one_of(BAUDS)),
            parity=r.get(t, bp, "parity", str, "N", _one_of(tuple(PARITIES))),
            stopbits=r.get(t, bp, "stopbits", int, 1, _one_of((1, 2))),
            timeout_margin_ms=r.get(t, bp, "timeout_margin_ms", int, 50, _between(0, 2000)),
            retries=r.get(t, bp, "retries", int, 1, _between(0, 5)),
            backoff_max_s=r.get(t, bp, "backoff_max_s", float, 30.0, _between(1, 600)),
        )
    devices: list[DeviceConfig] = []
    seen: dict[tuple[str, int], int] = {}
    raw_devices = b.get("devices", [])
    if not isinstance(raw_devices, list):
        raise r.fail(["bridge", "devices"], "must be [[bridge.devices]] tables")
    for i, item in enumerate(raw_devices):
        dp = ["bridge", "devices", i]
        if not isinstance(item, dict):
            raise r.fail(dp, "must be a table")
        kind = r.get(item, dp, "kind", str, check=_one_of(tuple(KIND_CODES)))
        extra = KIND_KEYS[kind]
        t = r.table(item, dp, {"bus", "unit", "kind", "counter", "name", *extra})
        bus = r.get(t, dp, "bus", str, check=lambda v: None if v in buses else
                    f"unknown bus {v!r} (defined: {', '.join(buses)})")
        unit = r.get(t, dp, "unit", int, check=_between(1, 247))
        if (bus, unit) in seen:
            raise r.fail([*dp, "unit"], f"address clash: bus {bus!r} unit {unit} is already "
                                        f"[[bridge.devices]] number {seen[(bus, unit)] + 1}")
        seen[(bus, unit)] = i
        needs_counter = kind != "lobby-board"
        counter = r.get(t, dp, "counter", int, ... if needs_counter else None,
                        lambda v: None if not counters or v in counters else
                        f"no [[counters]] number {v} is configured")
        if counter is not None and not needs_counter:
            raise r.fail([*dp, "counter"], "a lobby board shows every counter; use `counters` to narrow it")
        options: dict[str, Any] = {}
        for key, (kt, default, check) in extra.items():
            options[key] = r.get(t, dp, key, kt, default, check)
        if kind == "lobby-board" and counters:
            for c in options["counters"]:
                if c not in counters:
                    raise r.fail([*dp, "counters"], f"no [[counters]] number {c} is configured")
        devices.append(DeviceConfig(bus=bus, unit=unit, kind=kind, counter=counter,
                                    name=r.get(t, dp, "name", str, f"{bus}/{unit}"), options=options))
    return BridgeConfig(
        hub=(hub or url).rstrip("/"),
        token=token or tok,
        bridge_id=r.get(b, p, "id", str, "bridge", lambda v: None if _NAME.match(v) else
                        'must be lowercase letters, digits, "-" or "_"'),
        data=Path(r.get(b, p, "data", str, default_data(hub_data))),
        queue_max=r.get(b, p, "queue_max", int, 1000, _between(10, 100_000)),
        action_max_age_s=r.get(b, p, "action_max_age_s", int, ACTION_MAX_AGE_S, _between(0, 86_400)),
        poll_ms=r.get(b, p, "poll_ms", int, 50, _between(10, 5000)),
        refresh_s=r.get(b, p, "refresh_s", int, 20, _between(1, 3600)),
        health_s=r.get(b, p, "health_s", int, 5, _between(1, 600)),
        rating_levels=rating_levels,
        buses=tuple(buses.values()),
        devices=tuple(devices),
    )


def default_data(hub_data: Path) -> str:
    """The default `[bridge] data`: $STATE_DIRECTORY when systemd gives the bridge one (the
    installed unit's StateDirectory=quay-so/bridge, i.e. /var/lib/quay-so/bridge — the only folder
    it may write), else `<[server] data>/bridge` (the same folder on an installed Pi, whose
    [server] data is /var/lib/quay-so; ./data/bridge for `make run`)."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return state or str(hub_data / "bridge")


def load_bridge_config(path: str | Path, **overrides: Any) -> BridgeConfig:
    """Read and parse a config file (see parse_bridge_config)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BridgeConfigError("(file)", f"cannot read: {exc}", None, str(p)) from None
    return parse_bridge_config(text, str(p), **overrides)
