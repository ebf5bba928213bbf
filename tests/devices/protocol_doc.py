"""Reading firmware_bridge/PROTOCOL.md as data: its register tables and its worked frames.

The document is the contract; the simulated devices keep their own tables (registers.py), so these
tests compare the two. The document lands with the `bridge` branch: until it is in the tree, the
tests that need it skip (QUAYSO_PROTOCOL_MD may point at another copy)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def protocol_path() -> Path:
    path = Path(os.environ.get("QUAYSO_PROTOCOL_MD") or ROOT / "firmware_bridge" / "PROTOCOL.md")
    if not path.exists():
        pytest.skip(f"{path} is not in this tree yet (it comes with the bridge branch)")
    return path


@dataclass(frozen=True)
class Row:
    section: str      # the heading the table sits under, e.g. "6.1 Counter display (KIND = 1)"
    table: str        # "ir" or "hr"
    address: str      # as written: "16", "6..15", "16 + 5·i"
    name: str
    range: str
    default: str


def register_rows() -> list[Row]:
    rows: list[Row] = []
    section = ""
    for line in protocol_path().read_text(encoding="utf-8").splitlines():
        m = re.match(r"^#{2,4}\s+(.*)", line)
        if m:
            section = m.group(1).strip()
            continue
        cells = ([c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
                 if line.startswith("|") else [])
        if len(cells) >= 7 and cells[0] in ("ir", "hr"):
            # | table | address | name | access | range | unit | default | meaning |
            rows.append(Row(section, cells[0], cells[1], cells[2], cells[4], cells[6]))
    return rows


@dataclass(frozen=True)
class Frame:
    name: str
    unit: int
    function: int
    kind: str
    fields: str
    data: bytes


def frames() -> dict[str, Frame]:
    text = protocol_path().read_text(encoding="utf-8")
    out: dict[str, Frame] = {}
    for block in re.findall(r"```frame\n(.*?)```", text, flags=re.S):
        kv = dict(line.split(":", 1) for line in block.strip().splitlines())
        kv = {k.strip(): v.strip() for k, v in kv.items()}
        out[kv["name"]] = Frame(kv["name"], int(kv["unit"]), int(kv["function"]), kv["kind"],
                                kv.get("fields", ""), bytes.fromhex(kv["bytes"]))
    return out


def modbus_crc(frame: bytes) -> bytes:
    """CRC-16/MODBUS, low byte first, written from the Modbus over Serial Line guide (§6.2.2),
    independently of pymodbus (which the simulated devices use) and minimalmodbus (the bridge)."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")
