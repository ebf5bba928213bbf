"""The center's TOML config file: parsed with tomllib, every key checked, errors that name the key
and the line (a technician edits this file over SSH on a Pi; the error must say where to look).

Every key is documented in docs/configuration.md and in config/example.toml.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from firmware_bridge.toml_reader import TomlReader, line_of
from firmware_bridge.toml_reader import between as _between

from .core.hours import WEEKDAY_KEYS, WorkingHours
from .core.models import (
    DEFAULT_RATING_LEVELS,
    CenterRules,
    Counter,
    Field,
    PriorityPolicy,
)

ROLES = ("admin", "manager", "staff")
DEVICE_SCOPES = ("issue", "rate", "counter", "display")
DEFAULT_PRIORITY_GROUPS = (
    ("elderly", "Người cao tuổi"),
    ("disability", "Người khuyết tật"),
    ("pregnant", "Phụ nữ mang thai"),
    ("merit", "Người có công với cách mạng"),
    ("child", "Người đi cùng trẻ nhỏ"),
)
# English names of the default groups (a center's own groups give `name_en` in the config).
DEFAULT_PRIORITY_NAMES_EN = {
    "elderly": "Elderly people", "disability": "People with disabilities",
    "pregnant": "Pregnant women", "merit": "People with meritorious services to the revolution",
    "child": "People with young children",
}
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_SESSION = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ConfigError(ValueError):
    """A bad config value: says which key, on which line, and what is expected."""

    def __init__(self, path: str, message: str, line: int | None = None, file: str | None = None):
        where = f"{file or 'config'}"
        if line:
            where += f", line {line}"
        super().__init__(f"{where}: {path}: {message}")
        self.key = path
        self.line = line


@dataclass(frozen=True)
class StaffAccount:
    username: str
    name: str
    role: str
    counter: int | None
    password_hash: str


@dataclass(frozen=True)
class DeviceAccount:
    id: str
    kind: str
    token_sha256: str
    scopes: tuple[str, ...]
    counters: tuple[int, ...] | None  # None = every counter


@dataclass(frozen=True)
class LoginPolicy:
    """`[auth]` limits on failed logins and on password hashing (read by `auth.py`).

    A username (known or not) that fails `max_failures` times within `failure_window_seconds`,
    or a client address that fails `address_max_failures` times, is locked for `lockout_seconds`,
    doubling with each further lockout up to `max_lockout_seconds`. At most `hash_concurrency`
    password checks run at once and `hash_queue` more wait for a slot; further logins get 503.
    """

    max_failures: int = 5
    address_max_failures: int = 20
    failure_window_seconds: int = 900
    lockout_seconds: int = 60
    max_lockout_seconds: int = 3600
    hash_concurrency: int = 1
    hash_queue: int = 4


@dataclass(frozen=True)
class Config:
    rules: CenterRules
    staff: dict[str, StaffAccount]
    devices: tuple[DeviceAccount, ...]
    public_url: str = ""
    token_hours: float = 12.0
    login: LoginPolicy = LoginPolicy()
    public_issuing: bool = False
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # printer, voice, kiosk, …
    source: str = ""
    # [[printers]]: more kiosk printers, each {id, devices, <[printer] keys>} (kiosk/runtime.py)
    printers: tuple[dict[str, Any], ...] = ()
    priority_names_en: dict[str, str] = field(default_factory=dict)  # group id -> English name
    # the parsed TOML tables this config was checked from (the browser's settings overlay replaces
    # whole sections of it and checks the result with `config_from_tables`, see settings.py)
    tables: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # the file's text ("" when built from tables alone): checks made after parsing (kiosk,
    # [reporting], [voice]) place their refusal on its line with `error`
    text: str = field(default="", repr=False, compare=False)

    def error(self, key: str, message: str) -> ConfigError:
        """The ConfigError (to raise) for a bad value found after parsing: names this config's
        file, the line of the dotted `key` (`reporting.token`, `printers[1].devices`,
        `gpio.buttons[0].pin`) and the key. A key written inline (`buttons = [{...}]`) is placed
        on the line of its nearest enclosing key or table; no line when `text` is empty."""
        path: list[str | int] = [int(p) if p.isdigit() else p
                                 for p in re.findall(r"[^.\[\]]+", key)]
        line = None
        while path and line is None:
            line = line_of(self.text, path)
            path = path[:-1]
        return ConfigError(key, message, line, self.source)


# ------------------------------------------------------------------------------ checkers
# The one TOML reader, shared with the bridge's `[bridge]` parser (firmware_bridge/toml_reader.py):
# walks the parsed TOML, checking types and naming unknown keys with their line; raises ConfigError.
_Reader = TomlReader[ConfigError]


def _nonempty(v: str) -> str | None:
    return None if v.strip() else "must not be empty"


def _ident(v: str) -> str | None:
    return None if _ID.match(v) else "must be lowercase letters, digits, '-' or '_' (max 40), e.g. \"ho-tich\""


def _sessions(r: _Reader, value: Any, path: list[str | int]) -> tuple[tuple[time, time], ...]:
    if not isinstance(value, list):
        raise r.fail(path, 'must be a list like ["07:30-11:30", "13:30-17:00"]')
    out = []
    for index, item in enumerate(value):
        m = _SESSION.match(item) if isinstance(item, str) else None
        if not m:
            raise r.fail(path, f'item {index + 1} must look like "07:30-11:30", got {item!r}')
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise r.fail(path, f"item {index + 1}: {item!r} is not a valid time range")
        start, end = time(h1, m1), time(h2, m2)
        if end <= start:
            raise r.fail(path, f"item {index + 1}: {item!r} ends before it starts")
        if out and start < out[-1][1]:
            raise r.fail(path, f"item {index + 1}: {item!r} overlaps the previous session")
        out.append((start, end))
    return tuple(out)


def _hours(r: _Reader, value: Any, path: list[str | int], base: WorkingHours | None) -> WorkingHours:
    tbl = r.table(value, path, {*WEEKDAY_KEYS, "cutoff_minutes", "closed_dates"})
    weekly = dict(base.weekly) if base and not base.always_open else {}
    for index, key in enumerate(WEEKDAY_KEYS):
        if key in tbl:
            weekly[index] = _sessions(r, tbl[key], [*path, key])
    cutoff = r.get(tbl, path, "cutoff_minutes", int, base.cutoff_minutes if base else 0,
                   _between(0, 240))
    closed: set[date] = set(base.closed_dates) if base else set()
    for item in r.get(tbl, path, "closed_dates", list, []):
        try:
            closed.add(date.fromisoformat(item))
        except (TypeError, ValueError):
            raise r.fail([*path, "closed_dates"], f'dates must look like "2026-09-02", got {item!r}') from None
    return WorkingHours(weekly, cutoff, frozenset(closed), always_open=False)


SECTIONS = {
    "center", "hours", "queue", "priority", "ratings", "auth", "fields", "counters", "staff",
    "devices", "kiosk", "printer", "printers", "voice", "display", "gpio", "server",
    "reporting",
    "bridge",  # RS485 devices: read and checked by firmware_bridge.config (one parser, one truth)
    "reports",
}
SECTIONS |= {"backup"}  # queue_server/backup.py (issue 13)
# Sections owned by the kiosk, display and device packages: checked here for their keys' types;
# each package reads its own values.
FREE_SECTIONS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "kiosk": {"public_issuing": bool, "rate_limit_per_minute": int, "return_seconds": int,
              "language": str},
    "printer": {"kind": str, "host": str, "port": int, "device": str, "baudrate": int,
                "vendor_id": (int, str), "product_id": (int, str), "width": int, "status_timeout": float,
                "profile": str, "simulate": str, "connect_timeout": float, "write_timeout": float,
                "dsrdtr": bool, "in_ep": (int, str), "out_ep": (int, str), "status": str,
                "poll_seconds": float, "confirm_timeout": float},
    "voice": {"engine": str, "template": str, "clips_dir": str, "speed": int, "chime": bool},
    "display": {"latest_calls": int, "flash_seconds": int},
    "reports": {"target_wait_min": (int, float)},  # statistics and report tables (stats.py)
    "gpio": {"pin_factory": str, "buttons": list, "paper_low_pin": (int, str),
             "status_led_pin": (int, str), "buzzer_pin": (int, str), "press_interval": float,
             "max_per_minute": int, "bounce_time": float},
    "server": {"host": str, "port": int, "data": str, "threads": int, "ping_interval": int,
               "ping_timeout": int, "send_timeout": int, "min_free_mb": int},
    # forwarding to the province's central backend (forwarder.py checks the values together)
    "reporting": {"url": str, "center_id": str, "token": str, "ca_file": str,
                  "interval_seconds": (int, float), "heartbeat_seconds": (int, float),
                  "timeout_seconds": (int, float), "max_backoff_seconds": (int, float)},
}
FREE_SECTIONS["backup"] = {"dir": str, "keep_days": int}  # queue_server/backup.py
FREE_SECTIONS["voice"]["cache_mb"] = int  # display/voice.py VoiceCache bound (issue 13: SD card)
FREE_SECTIONS["reporting"]["raw_events"] = bool  # forwarder.py: the raw-event stream (issue 12)

FREE_RANGES: dict[str, tuple[float, float]] = {
    "display.latest_calls": (1, 15),
    "display.flash_seconds": (0, 30),
    "voice.speed": (80, 450),
    "kiosk.return_seconds": (2, 120),
    "kiosk.rate_limit_per_minute": (1, 600),
    "server.port": (1, 65535),
    "server.threads": (16, 4096),
    "server.ping_interval": (1, 300),
    "server.ping_timeout": (1, 300),
    "server.send_timeout": (1, 300),
    "server.min_free_mb": (0, 1_000_000),
    "reporting.interval_seconds": (1, 60),
    "reporting.heartbeat_seconds": (10, 3600),
    "reporting.timeout_seconds": (1, 120),
    "reporting.max_backoff_seconds": (5, 86400),
    "reports.target_wait_min": (1, 480),
}
FREE_RANGES["backup.keep_days"] = (1, 3650)
FREE_RANGES["voice.cache_mb"] = (1, 10_000)


# `[auth]` keys of LoginPolicy and their allowed ranges (integers).
LOGIN_LIMITS: dict[str, tuple[int, int]] = {
    "max_failures": (1, 100),
    "address_max_failures": (1, 1000),
    "failure_window_seconds": (10, 86400),
    "lockout_seconds": (1, 86400),
    "max_lockout_seconds": (1, 7 * 86400),
    "hash_concurrency": (1, 8),
    "hash_queue": (0, 64),
}


def parse_config(text: str, file: str = "config") -> Config:
    """Parse and check a whole config file; raises ConfigError on the first problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(syntax)", str(exc), None, file) from None
    return config_from_tables(raw, file, text)


def config_from_tables(raw: dict[str, Any], file: str = "config", text: str = "") -> Config:
    """Check already-parsed TOML tables (`tomllib.loads` of a config file, or the same shape
    built elsewhere: the browser's settings, settings.py) with every rule of the file; raises
    ConfigError on the first problem. `text`, when given, is the file's text: errors then name
    the line."""
    r = _Reader(text, file, ConfigError)
    r.table(raw, [], SECTIONS)

    if "bridge" in raw:
        from firmware_bridge.config import BridgeConfigError, parse_bridge_config
        try:
            parse_bridge_config(text, file)
        except BridgeConfigError as exc:
            raise ConfigError(exc.key, exc.message, exc.line, file) from None
    if "center" not in raw:
        raise r.fail(["center"], "the [center] table is required")
    center = r.table(raw["center"], ["center"], {"name", "name_en", "timezone", "public_url"})
    center_name = r.get(center, ["center"], "name", str, check=_nonempty)
    tz_name = r.get(center, ["center"], "timezone", str, "Asia/Ho_Chi_Minh")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail(["center", "timezone"], f"unknown time zone {tz_name!r} (e.g. \"Asia/Ho_Chi_Minh\")") from None
    public_url = r.get(center, ["center"], "public_url", str, "",
                       lambda v: None if v == "" or re.match(r"^https?://[^\s]+$", v) else "must be an http(s) URL")

    hours = _hours(r, raw["hours"], ["hours"], None) if "hours" in raw else WorkingHours()

    queue = r.table(raw.get("queue", {}), ["queue"], {"default_service_minutes", "service_time_window"})
    default_minutes = float(r.get(queue, ["queue"], "default_service_minutes", float, 5.0, _between(0.5, 240)))
    window = r.get(queue, ["queue"], "service_time_window", int, 10, _between(1, 1000))

    prio = r.table(raw.get("priority", {}), ["priority"], {"enabled", "max_consecutive", "groups"})
    groups_raw = r.get(prio, ["priority"], "groups", list, None)
    groups: tuple[tuple[str, str], ...] = DEFAULT_PRIORITY_GROUPS
    names_en = dict(DEFAULT_PRIORITY_NAMES_EN)
    if groups_raw is not None:
        parsed = []
        names_en = {}
        for i, g in enumerate(groups_raw):
            gt = r.table(g, ["priority", "groups", i], {"id", "name", "name_en"})
            group_id = r.get(gt, ["priority", "groups", i], "id", str, check=_ident)
            parsed.append((group_id, r.get(gt, ["priority", "groups", i], "name", str, check=_nonempty)))
            names_en[group_id] = r.get(gt, ["priority", "groups", i], "name_en", str, "", check=_nonempty)
        groups = tuple(parsed)
    policy = PriorityPolicy(
        enabled=r.get(prio, ["priority"], "enabled", bool, True),
        max_consecutive=r.get(prio, ["priority"], "max_consecutive", int, 3, _between(1, 100)),
        groups=groups,
    )

    ratings = r.table(raw.get("ratings", {}), ["ratings"], {"levels", "window_minutes", "counter_seconds"})
    levels = r.get(ratings, ["ratings"], "levels", list, list(DEFAULT_RATING_LEVELS),
                   lambda v: None if 2 <= len(v) <= 5 and all(isinstance(x, str) and x.strip() for x in v)
                   else "must list 2 to 5 non-empty labels, best first")
    rating_window = r.get(ratings, ["ratings"], "window_minutes", int, 24 * 60, _between(1, 7 * 24 * 60))
    counter_seconds = r.get(ratings, ["ratings"], "counter_seconds", int, 120, _between(10, 3600))

    auth = r.table(raw.get("auth", {}), ["auth"], {"token_hours", *LOGIN_LIMITS})
    token_hours = float(r.get(auth, ["auth"], "token_hours", float, 12.0, _between(0.1, 24 * 30)))
    login = LoginPolicy(**{key: r.get(auth, ["auth"], key, int, getattr(LoginPolicy, key), _between(*bounds))
                           for key, bounds in LOGIN_LIMITS.items()})
    if login.max_lockout_seconds < login.lockout_seconds:
        raise r.fail(["auth", "max_lockout_seconds"],
                     f"must be at least lockout_seconds ({login.lockout_seconds})")

    fields_raw = raw.get("fields")
    if not isinstance(fields_raw, list) or not fields_raw:
        raise r.fail(["fields"], "at least one [[fields]] table is required")
    fields: dict[str, Field] = {}
    field_hours: dict[str, WorkingHours] = {}
    for i, f in enumerate(fields_raw):
        p: list[str | int] = ["fields", i]
        ft = r.table(f, p, {"id", "name", "name_en", "start", "prefix", "digits", "daily_cap",
                             "default_service_minutes", "hours"})
        fid = r.get(ft, p, "id", str, check=_ident)
        if fid in fields:
            raise r.fail([*p, "id"], f"duplicate field id {fid!r}")
        prefix = r.get(ft, p, "prefix", str, "",
                       lambda v: None if re.match(r"^[A-Z]{0,2}$", v) else "must be 0 to 2 capital letters A-Z")
        service_minutes = ft.get("default_service_minutes")
        if service_minutes is not None:
            service_minutes = float(r.get(ft, p, "default_service_minutes", float, check=_between(0.5, 240)))
        fields[fid] = Field(
            id=fid,
            name=r.get(ft, p, "name", str, check=_nonempty),
            name_en=r.get(ft, p, "name_en", str, ""),
            start=r.get(ft, p, "start", int, 1, _between(0, 999_999)),
            prefix=prefix,
            digits=r.get(ft, p, "digits", int, 3 if prefix else 0, _between(0, 6)),
            daily_cap=r.get(ft, p, "daily_cap", int, None, _between(1, 100_000)),
            default_service_minutes=service_minutes,
        )
        if "hours" in ft:
            field_hours[fid] = _hours(r, ft["hours"], [*p, "hours"], hours if not hours.always_open else None)

    counters_raw = raw.get("counters")
    if not isinstance(counters_raw, list) or not counters_raw:
        raise r.fail(["counters"], "at least one [[counters]] table is required")
    counters: dict[int, Counter] = {}
    for i, c in enumerate(counters_raw):
        p = ["counters", i]
        ct = r.table(c, p, {"number", "name", "fields", "zone", "devices"})
        number = r.get(ct, p, "number", int, check=_between(1, 999))
        if number in counters:
            raise r.fail([*p, "number"], f"duplicate counter number {number}")
        cfields = r.get(ct, p, "fields", list, check=lambda v: None if all(isinstance(x, str) for x in v)
                        else "must list field ids (strings)")
        for fid in cfields:
            if fid not in fields:
                raise r.fail([*p, "fields"], f"unknown field {fid!r} (defined: {', '.join(fields)})")
        if len(set(cfields)) != len(cfields):
            raise r.fail([*p, "fields"], "lists a field twice")
        if "devices" in ct:
            # Before issue 10 a counter listed its RS485 addresses here; the bridge now reads them
            # only from [[bridge.devices]] (bus, unit, kind, counter), so there is one truth.
            raise r.fail([*p, "devices"], "is no longer used: describe each RS485 device in a "
                         "[[bridge.devices]] table (bus, unit, kind, counter); see docs/configuration.md")
        counters[number] = Counter(
            number=number,
            name=r.get(ct, p, "name", str, f"Quầy {number}", _nonempty),
            fields=tuple(cfields),
            zone=r.get(ct, p, "zone", str, "main", _ident),
        )

    staff: dict[str, StaffAccount] = {}
    for i, s in enumerate(raw.get("staff", [])):
        p = ["staff", i]
        st = r.table(s, p, {"username", "name", "role", "counter", "password_hash"})
        username = r.get(st, p, "username", str, check=_ident)
        if username in staff:
            raise r.fail([*p, "username"], f"duplicate username {username!r}")
        role = r.get(st, p, "role", str, "staff",
                     lambda v: None if v in ROLES else f"must be one of {', '.join(ROLES)}")
        counter = r.get(st, p, "counter", int, None,
                        lambda v: None if v in counters else f"no counter {v} is configured")
        if role == "staff" and counter is None:
            raise r.fail([*p, "counter"], "is required for role \"staff\"")
        staff[username] = StaffAccount(
            username, r.get(st, p, "name", str, username), role, counter,
            r.get(st, p, "password_hash", str,
                  check=lambda v: None if v.startswith(("scrypt:", "pbkdf2:")) else
                  "must be a hash made by `queue-server --hash-password` (scrypt:… or pbkdf2:…)"),
        )

    devices: list[DeviceAccount] = []
    for i, d in enumerate(raw.get("devices", [])):
        p = ["devices", i]
        dt = r.table(d, p, {"id", "kind", "token_sha256", "scopes", "counters"})
        scopes = r.get(dt, p, "scopes", list, ["issue"],
                       lambda v: None if all(x in DEVICE_SCOPES for x in v) else
                       f"each scope must be one of {', '.join(DEVICE_SCOPES)}")
        dcounters = r.get(dt, p, "counters", list, None,
                          lambda v: None if all(x in counters for x in v) else "lists an unknown counter")
        devices.append(DeviceAccount(
            id=r.get(dt, p, "id", str, check=_ident),
            kind=r.get(dt, p, "kind", str, "kiosk", _ident),
            token_sha256=r.get(dt, p, "token_sha256", str,
                               check=lambda v: None if _SHA256.match(v) else "must be 64 lowercase hex characters (sha256 of the token)"),
            scopes=tuple(scopes),
            counters=tuple(dcounters) if dcounters is not None else None,
        ))

    sections: dict[str, dict[str, Any]] = {}
    for name, keys in FREE_SECTIONS.items():
        tbl = r.table(raw.get(name, {}), [name], set(keys))
        for key, kind in keys.items():
            if key in tbl:
                bounds = FREE_RANGES.get(f"{name}.{key}")
                r.get(tbl, [name], key, kind, check=_between(*bounds) if bounds else None)
        sections[name] = dict(tbl)

    printers: list[dict[str, Any]] = []
    raw_printers = raw.get("printers", [])
    if not isinstance(raw_printers, list):
        raise r.fail(["printers"], "must be an array of tables: [[printers]]")
    for i, item in enumerate(raw_printers):
        p = ["printers", i]
        tbl = r.table(item, p, set(FREE_SECTIONS["printer"]) | {"id", "devices"})
        r.get(tbl, p, "id", str, check=_ident)
        r.get(tbl, p, "devices", list, [], lambda v: None if all(isinstance(x, str) for x in v)
              else "must list [[devices]] ids (strings)")
        for key, kind in FREE_SECTIONS["printer"].items():
            if key in tbl:
                r.get(tbl, p, key, kind)
        printers.append(dict(tbl))

    rules = CenterRules(
        center_name=center_name,
        center_name_en=r.get(center, ["center"], "name_en", str, ""),
        timezone=tz,
        fields=fields,
        counters=counters,
        priority=policy,
        hours=hours,
        field_hours=field_hours,
        default_service_minutes=default_minutes,
        service_time_window=window,
        rating_levels=tuple(levels),
        rating_window_minutes=rating_window,
        counter_rating_seconds=counter_seconds,
    )
    return Config(
        rules=rules, staff=staff, devices=tuple(devices), public_url=public_url.rstrip("/"),
        token_hours=token_hours, login=login, public_issuing=bool(sections["kiosk"].get("public_issuing", False)),
        sections=sections, source=file, printers=tuple(printers), priority_names_en=names_en,
        tables=raw, text=text,
    )


def load_config(path: Path) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read: {exc.strerror}", None, str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("(file)", "is not UTF-8 text", None, str(path)) from None
    return parse_config(text, str(path))
