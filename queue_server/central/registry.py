"""The centers file of the central backend (SPEC §9): who may send batches, who may read.

    [[centers]]
    id = "xa-kim-thanh"          # the center's `[reporting] center_id`
    name = "Trung tâm Phục vụ hành chính công xã Kim Thành"
    token = "…"                  # the shared secret: the center's `[reporting] token`

    [[readers]]
    name = "Văn phòng UBND tỉnh"
    token = "…"                  # bearer token for GET /api/v1/province/summary

Tokens are looked up by their SHA-256 digest, then compared in constant time (`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.toml_reader import line_of

CENTER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MIN_TOKEN_CHARS = 16


class RegistryError(ValueError):
    """A bad centers file: names the entry and the key."""


@dataclass(frozen=True)
class Center:
    id: str
    name: str
    token: str


@dataclass(frozen=True)
class Reader:
    name: str
    token: str


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class Registry:
    """Centers and readers by token (constant-time confirmed)."""

    def __init__(self, centers: list[Center], readers: list[Reader]) -> None:
        self.centers = {c.id: c for c in centers}
        self.readers = list(readers)
        self._by_token: dict[bytes, Center | Reader] = {}
        for who in [*centers, *readers]:
            self._by_token[_digest(who.token)] = who

    def _lookup(self, token: str | None) -> Center | Reader | None:
        if not token:
            return None
        who = self._by_token.get(_digest(token))
        if who is not None and hmac.compare_digest(who.token.encode(), token.encode()):
            return who
        return None

    def center(self, token: str | None) -> Center | None:
        """The center whose token this is, or None."""
        who = self._lookup(token)
        return who if isinstance(who, Center) else None

    def reader(self, token: str | None) -> Reader | None:
        """The reader whose token this is, or None."""
        who = self._lookup(token)
        return who if isinstance(who, Reader) else None


def parse_registry(text: str, source: str = "centers") -> Registry:
    """Parse a centers file; raises RegistryError naming the line and `[[centers]][i].key` of the
    first problem (unknown key, missing or empty value, bad id, short or reused token, duplicate
    id); a TOML syntax error says its line in tomllib's words."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{source}: {exc}") from None
    unknown = set(raw) - {"centers", "readers"}
    if unknown:
        raise RegistryError(f"{source}: unknown table(s) {', '.join(sorted(unknown))} "
                            "(known: [[centers]], [[readers]])")
    tokens: set[str] = set()

    def fail(kind: str, i: int, key: str | None, message: str) -> RegistryError:
        """`<source>, line N: [[kind]][i].key: message` — the line of the key, or of the entry's
        `[[kind]]` header when the key is missing (firmware_bridge.toml_reader.line_of, the
        reader of the hub's own config)."""
        path: list[str | int] = [kind, i] if key is None else [kind, i, key]
        line = line_of(text, path)
        where = f"{source}, line {line}" if line else source
        return RegistryError(f"{where}: [[{kind}]][{i}]{'.' + key if key else ''}: {message}")

    def entries(kind: str, keys: tuple[str, ...]) -> list[dict[str, str]]:
        items = raw.get(kind, [])
        if not isinstance(items, list):
            raise RegistryError(f"{source}: {kind} must be an array of tables: [[{kind}]]")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise fail(kind, i, None, "must be a table")
            for key in item:
                if key not in keys:
                    raise fail(kind, i, key, f"unknown key (known keys: {', '.join(keys)})")
            for key in keys:
                if not isinstance(item.get(key), str) or not item[key].strip():
                    raise fail(kind, i, key, "is required (a non-empty string)")
            if len(item["token"]) < MIN_TOKEN_CHARS:
                raise fail(kind, i, "token", f"must be at least {MIN_TOKEN_CHARS} characters")
            if item["token"] in tokens:
                raise fail(kind, i, "token", "already used by another entry")
            tokens.add(item["token"])
            out.append(item)
        return out

    centers = []
    for i, item in enumerate(entries("centers", ("id", "name", "token"))):
        if not CENTER_ID.match(item["id"]):
            raise fail("centers", i, "id", f"lowercase letters, digits, '-' and '_' (≤ 64), "
                                           f"got {item['id']!r}")
        if any(c.id == item["id"] for c in centers):
            raise fail("centers", i, "id", f"{item['id']!r} is listed twice")
        centers.append(Center(item["id"], item["name"], item["token"]))
    readers = [Reader(item["name"], item["token"]) for item in entries("readers", ("name", "token"))]
    return Registry(centers, readers)


def load_registry(path: Path) -> Registry:
    """`parse_registry` of a file; RegistryError when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read: {exc}") from None
    return parse_registry(text, str(path))
