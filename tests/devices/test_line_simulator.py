"""The line simulator paces bytes as an RS485 line would: asserted on its recorded schedule."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from firmware_bridge.simulator.line import TO_DEVICES, TO_MASTER, LineSimulator, LineTiming

from .conftest import open_raw, read_exactly

ROOT = Path(__file__).resolve().parents[2]


def rig(pty_pair, baud: int, turnaround_ms: float = 5.0):  # type: ignore[no-untyped-def]
    master = pty_pair("master")     # a: the bridge's end, b: the relay's
    devices = pty_pair("devices")   # a: the relay's end, b: the devices' end
    line = LineSimulator(str(master.b), str(devices.a), LineTiming(baud, turnaround_ms)).start()
    return master, devices, line


def test_character_time_and_gap_match_the_protocol_table() -> None:
    # PROTOCOL.md §2: t_char 1.146 ms at 9600, 0.095 ms at 115200; t3.5 4.010 ms and 1.750 ms.
    assert round(LineTiming(9600).character_s * 1000, 3) == 1.146
    assert round(LineTiming(115200).character_s * 1000, 3) == 0.095
    assert round(LineTiming(9600).inter_frame_s * 1000, 3) == 4.010
    assert round(LineTiming(19200).inter_frame_s * 1000, 3) == 2.005
    assert round(LineTiming(115200).inter_frame_s * 1000, 3) == 1.750
    with pytest.raises(ValueError):
        LineTiming(0)


@pytest.mark.parametrize("baud", [9600, 115200])
def test_bytes_arrive_in_order_no_closer_than_one_character(pty_pair, baud: int) -> None:  # type: ignore[no-untyped-def]
    master, devices, line = rig(pty_pair, baud)
    bridge_end, device_end = open_raw(master.a), open_raw(devices.b)
    try:
        payload = bytes(range(256)) + bytes(range(255, -1, -1))
        for i in range(0, len(payload), 37):  # in uneven chunks, as a master's writes come
            os.write(bridge_end, payload[i:i + 37])
        assert read_exactly(device_end, len(payload)) == payload
        schedule = line.schedule()
        assert [d.byte for d in schedule] == list(payload)
        assert {d.direction for d in schedule} == {TO_DEVICES}
        character = LineTiming(baud).character_s
        gaps = [b.due - a.due for a, b in zip(schedule, schedule[1:])]
        assert min(gaps) >= character - 1e-9
        assert all(d.written >= d.due for d in schedule)  # never handed over before the wire would
        assert line.busy_s(TO_DEVICES) == pytest.approx(len(payload) * character)
        assert line.byte_count() == len(payload)
    finally:
        line.close()
        os.close(bridge_end)
        os.close(device_end)


def frames(schedule: list) -> list[list]:  # type: ignore[type-arg]
    """The bytes on the wire grouped into runs of one direction, in order of their due times."""
    runs: list[list] = []  # type: ignore[type-arg]
    for d in sorted(schedule, key=lambda d: d.due):
        if runs and runs[-1][0].direction == d.direction:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


def test_the_line_is_shared_and_a_reply_waits_for_the_turnaround(pty_pair) -> None:  # type: ignore[no-untyped-def]
    master, devices, line = rig(pty_pair, 9600, turnaround_ms=7.0)
    bridge_end, device_end = open_raw(master.a), open_raw(devices.b)
    try:
        request, reply = bytes.fromhex("01 04 00 10 00 07 B0 0D"), bytes.fromhex("01 04 0E 00 00")
        os.write(bridge_end, request)
        assert read_exactly(device_end, len(request)) == request
        os.write(device_end, reply)   # a device answering at once, sooner than its turnaround
        assert read_exactly(bridge_end, len(reply)) == reply
        schedule = line.schedule()
        dues = sorted(d.due for d in schedule)
        timing = LineTiming(9600, 7.0)
        assert min(b - a for a, b in zip(dues, dues[1:])) >= timing.character_s - 1e-9
        down, up = frames(schedule)
        assert (down[0].direction, up[0].direction) == (TO_DEVICES, TO_MASTER)
        assert up[0].due - down[-1].due >= 0.007 + timing.character_s - 1e-9
    finally:
        line.close()
        os.close(bridge_end)
        os.close(device_end)


def test_the_master_is_not_charged_a_device_turnaround(pty_pair) -> None:  # type: ignore[no-untyped-def]
    """A request the master sends while a reply is still on the wire follows the reply's last
    byte directly: the turnaround is the device's (before a reply), the master's t3.5 is kept by
    the master itself (PROTOCOL.md §2). Before, every transaction paid two turnarounds."""
    master, devices, line = rig(pty_pair, 9600, turnaround_ms=7.0)
    bridge_end, device_end = open_raw(master.a), open_raw(devices.b)
    try:
        request, reply = bytes.fromhex("01 04 00 10 00 07 B0 0D"), bytes(range(200))  # 229 ms of reply
        os.write(bridge_end, request)
        assert read_exactly(device_end, len(request)) == request
        os.write(device_end, reply)
        assert read_exactly(bridge_end, 1) == reply[:1]
        os.write(bridge_end, request)   # the next request, while the reply is still arriving
        assert read_exactly(bridge_end, len(reply) - 1) == reply[1:]
        assert read_exactly(device_end, len(request)) == request
        first, answer, second = frames(line.schedule())
        assert second[0].direction == TO_DEVICES
        character = LineTiming(9600, 7.0).character_s
        assert answer[0].due - first[-1].due >= 0.007 + character - 1e-9    # the device's turnaround
        assert second[0].due - answer[-1].due == pytest.approx(character)   # none for the master
    finally:
        line.close()
        os.close(bridge_end)
        os.close(device_end)


def test_noise_is_put_on_the_wire_and_recorded(pty_pair) -> None:  # type: ignore[no-untyped-def]
    master, devices, line = rig(pty_pair, 115200)
    bridge_end = open_raw(master.a)
    try:
        line.inject(TO_MASTER, b"\xff\x00\x55")
        assert read_exactly(bridge_end, 3) == b"\xff\x00\x55"
        assert [d.noise for d in line.schedule()] == [True, True, True]
        with pytest.raises(ValueError):
            line.inject("sideways", b"x")
    finally:
        line.close()
        os.close(bridge_end)


def test_the_relay_picks_up_a_pty_pair_that_was_restarted(pty_pair) -> None:  # type: ignore[no-untyped-def]
    master, devices, line = rig(pty_pair, 115200)
    bridge_end = open_raw(master.a)
    try:
        devices.restart(down_s=0.2)   # the devices' cable unplugged and plugged back
        device_end = open_raw(devices.b)
        try:
            # bytes sent while the relay has not reopened its end yet may be lost, as on a cut
            # cable; once reopened, everything written arrives
            got = b""
            for _ in range(200):
                os.write(bridge_end, b"\x42")
                try:
                    got = read_exactly(device_end, 1, deadline_s=0.1)
                    break
                except pytest.fail.Exception:
                    continue
            assert got == b"\x42"
            os.write(bridge_end, b"after")
            data = b""
            while not data.endswith(b"after"):
                data += read_exactly(device_end, 1)
            assert set(data[:-5]) <= {0x42}   # only earlier probes may come first
        finally:
            os.close(device_end)
    finally:
        line.close()
        os.close(bridge_end)


def test_an_unpaced_line_passes_bytes_at_once_and_still_counts_their_line_time(pty_pair) -> None:  # type: ignore[no-untyped-def]
    master = pty_pair("master")
    devices = pty_pair("devices")
    timing = LineTiming(9600, paced=False)
    line = LineSimulator(str(master.b), str(devices.a), timing).start()
    bridge_end, device_end = open_raw(master.a), open_raw(devices.b)
    try:
        os.write(bridge_end, b"0123456789")
        assert read_exactly(device_end, 10) == b"0123456789"
        schedule = line.schedule()
        assert timing.wire_character_s == 0
        assert all(b.due == a.due for a, b in zip(schedule, schedule[1:]) if a.written == b.written)
        assert line.busy_s() == pytest.approx(10 * timing.character_s)
    finally:
        line.close()
        os.close(bridge_end)
        os.close(device_end)
