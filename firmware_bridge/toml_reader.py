"""Walking a parsed TOML file with line numbers: the one reader of the center's config file.

The hub's config (queue_server/config.py, ConfigError) and the bridge's `[bridge]` section
(firmware_bridge/config.py, BridgeConfigError) both check their tables with `TomlReader`, so an
unknown key, a missing key or a wrong type is found and placed on its line the same way in both. It
lives in firmware_bridge because the bridge may import nothing of the hub (pyproject.toml,
import-linter contracts) while the hub already reads `[bridge]` through firmware_bridge.config; it
imports the standard library only (a contract keeps it so).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

E = TypeVar("E", bound=Exception)
Check = Callable[[Any], str | None]


def line_of(text: str, path: list[str | int]) -> int | None:
    """Line (1-based) of a key path like ['bridge', 'devices', 2, 'unit'] in the TOML `text`.

    A key's own line when it is found in its table; else the line of the table's header
    (`[hours]`, the third `[[fields]]`); None when neither is there (the key is missing and so is
    its table, or the text is empty). Best effort: a key written inline (`devices = { ... }`) is
    placed on its table's header.
    """
    section: list[str | int] = []
    counts: dict[str, int] = {}
    target, key = path[:-1], path[-1] if path else None
    header = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        m = re.match(r"^\[\[\s*([^\]]+?)\s*\]\]", line)
        if m:
            counts[m.group(1)] = counts.get(m.group(1), -1) + 1
            section = [*m.group(1).split("."), counts[m.group(1)]]
            if section in (target, path):
                header = number
            continue
        m = re.match(r"^\[\s*([^\]]+?)\s*\]", line)
        if m:
            section = list(m.group(1).split("."))
            if section in (target, path):
                header = number
            continue
        if isinstance(key, str) and section == target and re.match(rf'^"?{re.escape(key)}"?\s*=', line):
            return number
    return header


def type_names(kinds: tuple[type, ...], value: Any) -> str:
    """The hub's wrong-type message: `must be integer or string, got float 1.5`."""
    names = " or ".join(k.__name__.replace("str", "string").replace("int", "integer") for k in kinds)
    return f"must be {names}, got {type(value).__name__} {value!r}"


_SPOKEN = {str: "a string", int: "an integer", float: "a number", list: "a list", bool: "true or false"}


def spoken_type_names(kinds: tuple[type, ...], value: Any) -> str:
    """The bridge's wrong-type message: `must be an integer, got '5'`."""
    names = " or ".join(_SPOKEN.get(k, k.__name__) for k in kinds)
    return f"must be {names}, got {value!r}"


def between(lo: float, hi: float) -> Check:
    """A check for `TomlReader.get`: the value lies in [lo, hi] (both ends allowed)."""
    return lambda v: None if lo <= v <= hi else f"must be between {lo} and {hi}, got {v}"


class TomlReader(Generic[E]):
    """Checks the tables `tomllib.loads(text)` gave, raising the caller's error with the key's line.

    `error(key, message, line, file)` builds the exception (ConfigError, BridgeConfigError): `key`
    is the dotted path (`fields[1].start`), `line` from `line_of` (None when `text` is empty, as
    for tables built in the browser, queue_server/settings.py). `wrong_type(kinds, value)` words
    the message of a value of the wrong type (`type_names` or `spoken_type_names`). An integer
    serves where a float is asked for; with `ints_as_floats` it is returned as a float (and so
    checked and named as one: `got 0.0`), else as it was written.
    """

    def __init__(self, text: str, file: str, error: Callable[[str, str, int | None, str], E],
                 wrong_type: Callable[[tuple[type, ...], Any], str] = type_names, *,
                 ints_as_floats: bool = False) -> None:
        self.text, self.file = text, file
        self.error, self.wrong_type, self.ints_as_floats = error, wrong_type, ints_as_floats

    def fail(self, path: list[str | int], message: str) -> E:
        """The error (to raise) for the key at `path`: `fail(["fields", 1, "start"], "...")`."""
        dotted = ""
        for p in path:
            dotted += f"[{p}]" if isinstance(p, int) else (f".{p}" if dotted else p)
        return self.error(dotted, message, line_of(self.text, path), self.file)

    def table(self, value: Any, path: list[str | int], allowed: set[str]) -> dict[str, Any]:
        """`value` itself, once it is a table whose keys are all in `allowed`; else raises the error
        (`must be a table`, or `unknown key (known keys: ...)` on the first unknown key)."""
        if not isinstance(value, dict):
            raise self.fail(path, "must be a table")
        for key in value:
            if key not in allowed:
                raise self.fail([*path, key], f"unknown key (known keys: {', '.join(sorted(allowed))})")
        return value

    def get(self, tbl: dict[str, Any], path: list[str | int], key: str, kind: type | tuple[type, ...],
            default: Any = ..., check: Check | None = None) -> Any:
        """`tbl[key]` checked to be of `kind` (a bool is no int; an int serves for a float) and
        passed by `check` (None, or the problem in words); `default` when the key is absent, which
        without a default raises `is required`."""
        if key not in tbl:
            if default is ...:
                raise self.fail([*path, key], "is required")
            return default
        value = tbl[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok and float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value) if self.ints_as_floats else value
        if not ok:
            raise self.fail([*path, key], self.wrong_type(kinds, value))
        problem = check(value) if check else None
        if problem:
            raise self.fail([*path, key], problem)
        return value
