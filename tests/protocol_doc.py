"""Reads firmware_bridge/PROTOCOL.md as data — its worked frames (```frame blocks) and its register
tables (Markdown rows `| ir | …` / `| hr | …` under the columns `| table | address | name | access |
range | unit | default | meaning |`) — so the document, the bridge's profile (firmware_bridge/profile.py)
and the simulated devices' own tables (firmware_bridge/simulator/registers.py) cannot drift apart.
The one parser of the document for tests/bridge and tests/devices. Also the CRC-16/MODBUS of the
serial-line guide, written here independently of pymodbus and minimalmodbus."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def protocol_path() -> Path:
    """The document (QUAYSO_PROTOCOL_MD may point at another copy)."""
    return Path(os.environ.get("QUAYSO_PROTOCOL_MD") or ROOT / "firmware_bridge" / "PROTOCOL.md")


@dataclass(frozen=True)
class Frame:
    """One ```frame block: `name`, `unit`, `function`, `kind`, `fields` (key=value words), `bytes`."""

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
    """Every worked frame, in the document's order."""
    text = protocol_path().read_text(encoding="utf-8") if text is None else text
    out = []
    for block in re.findall(r"```frame\n(.*?)```", text, re.S):
        kv = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in block.strip().splitlines())}
        fields = dict(item.split("=", 1) for item in kv.get("fields", "").split())
        out.append(Frame(kv["name"], int(kv["unit"]), int(kv["function"]), kv["kind"], fields,
                         bytes.fromhex(kv["bytes"])))
    return out


def frames_by_name(text: str | None = None) -> dict[str, Frame]:
    return {f.name: f for f in frames(text)}


@dataclass(frozen=True)
class Register:
    """One row of a register table, cells as written ("16", "6..15", "16 + 5·i")."""

    section: str      # the heading the table sits under, e.g. "6.1 Counter display (KIND = 1)"
    table: str        # "ir" or "hr"
    address: str
    name: str
    access: str
    range: str
    unit: str
    default: str
    meaning: str


def registers(text: str | None = None) -> list[Register]:
    """Every register row, in the document's order."""
    text = protocol_path().read_text(encoding="utf-8") if text is None else text
    out: list[Register] = []
    section = ""
    for line in text.splitlines():
        m = re.match(r"^#{1,4}\s+(.*)", line)
        if m:
            section = m.group(1).strip()
            continue
        if line.startswith("| ir |") or line.startswith("| hr |"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            out.append(Register(section, *cells[:7], " | ".join(cells[7:])))
    return out


def register_tables(text: str | None = None) -> dict[str, list[Register]]:
    """Register rows by the heading they sit under."""
    out: dict[str, list[Register]] = {}
    for r in registers(text):
        out.setdefault(r.section, []).append(r)
    return out


def modbus_crc(frame: bytes) -> bytes:
    """CRC-16/MODBUS, low byte first, from the Modbus over Serial Line guide (§6.2.2)."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")
