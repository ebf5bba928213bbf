"""Reads firmware_bridge/PROTOCOL.md as data: the worked frames (```frame blocks) and the register
tables (Markdown tables whose header starts `| table | address | name |`). Used by the tests, so
the document and the code cannot drift apart."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PROTOCOL = Path(__file__).resolve().parents[2] / "firmware_bridge" / "PROTOCOL.md"


@dataclass(frozen=True)
class Frame:
    name: str
    unit: int
    function: int
    kind: str
    fields: dict[str, str]
    data: bytes

    def values(self, key: str = "values") -> list[int]:
        return [int(v, 0) for v in self.fields[key].split(",")]

    def number(self, key: str) -> int:
        return int(self.fields[key], 0)


def frames(text: str | None = None) -> list[Frame]:
    text = PROTOCOL.read_text(encoding="utf-8") if text is None else text
    out = []
    for block in re.findall(r"```frame\n(.*?)```", text, re.S):
        lines = dict(line.split(": ", 1) for line in block.strip().splitlines())
        fields = dict(item.split("=", 1) for item in lines.get("fields", "").split())
        out.append(Frame(lines["name"], int(lines["unit"]), int(lines["function"]), lines["kind"],
                         fields, bytes.fromhex(lines["bytes"])))
    return out


@dataclass(frozen=True)
class Register:
    table: str
    address: str
    name: str
    access: str
    range: str
    unit: str
    default: str
    meaning: str


def register_tables(text: str | None = None) -> dict[str, list[Register]]:
    """Register tables by the heading (### or ##) they sit under."""
    text = PROTOCOL.read_text(encoding="utf-8") if text is None else text
    out: dict[str, list[Register]] = {}
    heading = ""
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("| ir |") or line.startswith("| hr |"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            out.setdefault(heading, []).append(Register(*cells[:7], " | ".join(cells[7:])))
    return out
