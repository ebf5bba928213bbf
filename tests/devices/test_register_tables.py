"""The simulated devices' register tables (registers.py, written by hand) against PROTOCOL.md's
tables, and the CRC of every worked frame of the document."""

from __future__ import annotations

import re

import pytest

from firmware_bridge.simulator import registers as R

from tests.protocol_doc import frames_by_name, modbus_crc, registers


def _number(text: str) -> int:
    return int(text, 0)


def _range(text: str) -> tuple[int, int] | None:
    if " or " in text:   # "0 or 8..255": the span of the alternatives
        parts = [_range(t) for t in text.split(" or ")]
        if any(p is None for p in parts):
            return None
        return min(p[0] for p in parts if p), max(p[1] for p in parts if p)
    m = re.fullmatch(r"(0x[0-9A-Fa-f]+|\d+)(?:\.\.(0x[0-9A-Fa-f]+|\d+|QUEUE_CAPACITY))?", text)
    if not m:
        return None
    low = _number(m.group(1))
    high = m.group(2)
    if high == "QUEUE_CAPACITY":
        return low, 255
    return low, _number(high) if high else low


def _ours(section: str) -> tuple[R.Register, ...]:
    if section.startswith("4."):
        return R.IDENTIFICATION
    if section.startswith("5.1"):
        return (*R.EVENT_QUEUE, R.EVENT_ACK)
    if section.startswith("6.1"):
        return R.COUNTER_DISPLAY
    if section.startswith("6.3"):
        return R.RATING_BOX
    if section.startswith("6.4"):
        return (*R.LOBBY_BOARD_HEADER, *R.lobby_board_rows(1))
    raise AssertionError(f"PROTOCOL.md has a register table under {section!r} the simulator lacks")


def test_every_documented_register_is_the_simulators_with_the_same_name_range_and_default() -> None:
    rows = registers()
    assert len(rows) >= 40, "the document's tables were not found"
    for row in rows:
        ours = {(r.table, r.address): r for r in _ours(row.section)}
        addresses: list[int]
        if ".." in row.address and "·" not in row.address:
            a, b = row.address.split("..")
            addresses = list(range(int(a), int(b) + 1))
        elif "·" in row.address:   # lobby rows: "16 + 5·i" and "17 + 5·i .. 20 + 5·i", for row 0
            first = [int(x.split("+")[0]) for x in row.address.split("..")]
            addresses = list(range(first[0], first[-1] + 1))
        else:
            addresses = [int(row.address)]
        for address in addresses:
            reg = ours.get((row.table, address))
            assert reg is not None, f"{row.section}: {row.table} {address} {row.name} missing"
            assert reg.name == row.name, f"{row.section}: {row.table} {address}: {reg.name} vs {row.name}"
            documented = _range(row.range)
            if documented is not None and not reg.ascii:
                assert (reg.low, reg.high) == documented, f"{row.section}: {row.name} range"
            if row.default not in ("-", "") and reg.default is not None:
                assert reg.default == _number(row.default), f"{row.section}: {row.name} default"
    # and the other way round: nothing of ours that the document does not have
    documented_names = {(r.table, r.name) for r in rows}
    for table in (R.IDENTIFICATION, R.EVENT_QUEUE, (R.EVENT_ACK,), R.COUNTER_DISPLAY, R.RATING_BOX,
                  R.LOBBY_BOARD_HEADER, R.lobby_board_rows(1)):
        for reg in table:
            assert (reg.table, reg.name) in documented_names, f"{reg.name} is not in PROTOCOL.md"


def test_every_worked_frame_carries_a_correct_crc() -> None:
    found = frames_by_name()
    assert len(found) >= 10
    for frame in found.values():
        assert frame.data[-2:] == modbus_crc(frame.data[:-2]), frame.name
        assert frame.data[0] == frame.unit and frame.data[1] & 0x7F == frame.function, frame.name


def test_the_documented_text_example_is_how_the_simulator_reads_text() -> None:
    # PROTOCOL.md §6: "A023" → registers 0x4130 0x3233 0x0000 0x0000
    assert R.text_to_registers("A023") == [0x4130, 0x3233, 0, 0]
    assert R.text_from_registers([0x4130, 0x3233, 0, 0]) == "A023"
    assert R.shown_on("AB1023", 4) == "1023" and R.shown_on("12", 4) == "  12"


@pytest.mark.parametrize("value, ok", [(0x4130, True), (0x3200, True), (0x6130, False), (0x412E, False)])
def test_text_registers_accept_only_the_profiles_characters(value: int, ok: bool) -> None:
    assert R.COUNTER_DISPLAY[8].accepts(value) is ok
