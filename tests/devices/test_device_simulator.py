"""`device-simulator` as a real process: its devices on the bus, its faults seen on the wire by a
raw master, a pty unplugged and plugged back, and its control API refusing bad input."""

from __future__ import annotations

import os
import time

import pytest
import requests

from firmware_bridge.simulator.registers import text_to_registers

from .conftest import RawMaster, RigProcess, valid

POLL = bytes([1, 4, 0, 16, 0, 7])        # read ir 16..22 of the terminal at unit 1


def ack(seq: int) -> bytes:
    return bytes([1, 6, 0, 32]) + seq.to_bytes(2, "big")


def head(reply: bytes) -> tuple[int, int, int]:
    """PENDING, EVENT_SEQ, EVENT_KEY of a poll reply."""
    assert valid(reply) and reply[:3] == b"\x01\x04\x0e", reply.hex(" ")
    regs = [int.from_bytes(reply[3 + 2 * i:5 + 2 * i], "big") for i in range(7)]
    return regs[0], regs[1], regs[2]


@pytest.fixture
def master(rig_process: RigProcess):  # type: ignore[no-untyped-def]
    m = RawMaster(rig_process.port)
    yield m
    m.close()


def test_a_display_write_shows_on_the_simulated_led_and_a_key_press_waits_in_the_queue(
        rig_process: RigProcess, master: RawMaster) -> None:
    values = [1, 5, 80, 60, 2, 9, 3, 0, *text_to_registers("1023")]
    frame = bytes([2, 16, 0, 0, 0, 12, 24]) + b"".join(v.to_bytes(2, "big") for v in values)
    assert master.transact(frame)[:6] == bytes([2, 16, 0, 0, 0, 12])
    shown = rig_process.device(2)
    assert shown["shows"] == "1023" and shown["mode"] == "number" and shown["waiting"] == 3

    seq = rig_process.press(1, 1)
    assert seq is not None
    assert head(master.transact(POLL)) == (1, seq, 1)
    assert master.transact(ack(seq)) == ack(seq) + master_crc(ack(seq))
    assert head(master.transact(POLL))[0] == 0


def master_crc(frame: bytes) -> bytes:
    from tests.protocol_doc import modbus_crc
    return modbus_crc(frame)


def test_a_request_for_a_unit_nobody_has_and_a_broadcast_get_no_answer(master: RawMaster) -> None:
    assert master.transact(bytes([9, 4, 0, 0, 0, 11]), first_s=0.5) == b""
    assert master.transact(bytes([0, 6, 0, 0, 0, 1]), first_s=0.5) == b""


def test_a_lost_ack_request_leaves_the_head_and_a_lost_ack_reply_is_made_good_by_repeating(
        rig_process: RigProcess, master: RawMaster) -> None:
    first, second = rig_process.press(1, 1), rig_process.press(1, 3)
    assert head(master.transact(POLL)) == (2, first, 1)
    rig_process.fault(kind="lose_request", on="ack", unit=1)
    assert master.transact(ack(first), first_s=0.5) == b""
    assert head(master.transact(POLL)) == (2, first, 1)          # the device never saw it
    rig_process.fault(kind="drop_reply", on="ack", unit=1)
    assert master.transact(ack(first), first_s=0.5) == b""
    assert head(master.transact(POLL)) == (1, second, 3)         # it did see this one
    assert master.transact(ack(first)) == ack(first) + master_crc(ack(first))  # the repeat: harmless
    assert head(master.transact(POLL)) == (1, second, 3)
    assert [a["kind"] for a in rig_process.applied()] == ["lose_request", "drop_reply"]


@pytest.mark.parametrize("kind", ["corrupt_crc", "truncate", "wrong_unit", "noise", "drop_reply", "late"])
def test_each_reply_fault_shows_on_the_wire_once_and_the_next_reply_is_good(
        rig_process: RigProcess, master: RawMaster, kind: str) -> None:
    rig_process.fault(kind=kind, on="poll", unit=1, delay_ms=400)
    bad = master.transact(POLL, quiet_s=0.1, first_s=1.5)
    if kind == "corrupt_crc":
        assert len(bad) == 19 and not valid(bad)
    elif kind == "truncate":
        assert 0 < len(bad) < 19
    elif kind == "wrong_unit":
        assert valid(bad) and bad[0] != 1 and bad[1:3] == b"\x04\x0e"
    elif kind == "noise":
        assert len(bad) > 19 and valid(bad[-19:]) and bad[-19] == 1
    elif kind == "drop_reply":
        assert bad == b""
    else:   # late: the reply comes, complete (how late is the benchmark's business, not a test's)
        assert valid(bad)
    assert [a["kind"] for a in rig_process.applied()] == [kind]
    assert head(master.transact(POLL))[0] == 0


def test_noise_on_the_wire_does_not_stop_the_devices_answering(rig_process: RigProcess, master: RawMaster) -> None:
    os.write(master.fd, bytes(range(0xF0, 0x100)))        # garbage from the master's side
    time.sleep(0.05)                                       # the t3.5 silence that ends it
    seq = rig_process.press(1, 2)
    assert head(master.transact(POLL)) == (1, seq, 2)
    r = requests.post(f"{rig_process.api}/api/buses/bus1/noise", json={"bytes": 16}, timeout=5)
    assert r.json() == {"injected": 16}
    assert len(master.collect(first_s=2)) == 16
    assert head(master.transact(POLL)) == (1, seq, 2)


def test_a_device_reset_presents_the_same_queue_and_shows_error_until_written(
        rig_process: RigProcess, master: RawMaster) -> None:
    seq = rig_process.press(1, 4, 2)
    requests.post(f"{rig_process.api}/api/buses/bus1/devices/1/reset", timeout=5).raise_for_status()
    assert head(master.transact(POLL)) == (1, seq, 4)
    assert rig_process.device(1)["mode"] == "error"


def test_the_simulator_process_keeps_the_queue_across_its_own_restart(rig_process: RigProcess) -> None:
    seq = rig_process.press(1, 1)
    rig_process.stop()
    rig_process.start()
    m = RawMaster(rig_process.port)
    try:
        assert head(m.transact(POLL)) == (1, seq, 1)
    finally:
        m.close()


def test_unplugging_the_adapter_fails_the_open_port_and_the_path_comes_back(
        rig_process: RigProcess, master: RawMaster) -> None:
    r = requests.post(f"{rig_process.api}/api/buses/bus1/unplug", json={"down_s": 0.3}, timeout=10)
    assert r.status_code == 200
    with pytest.raises(OSError):
        for _ in range(3):   # the old pty is gone: writing or reading it fails
            os.write(master.fd, b"\x01")
            os.read(master.fd, 1)
    assert os.path.exists(rig_process.port)   # (socat may hand out the same pts number again)
    master.reopen()
    seq = rig_process.press(1, 1)
    for _ in range(50):      # the relay reopens its end within ~50 ms
        reply = master.transact(POLL, first_s=0.2)
        if reply:
            break
    assert head(reply) == (1, seq, 1)


@pytest.mark.parametrize("method, path, body, status", [
    ("post", "/api/buses/bus1/devices/1/press", {"key": "1"}, 400),
    ("post", "/api/buses/bus1/devices/1/press", {"key": True}, 400),
    ("post", "/api/buses/bus9/devices/1/press", {"key": 1}, 404),
    ("post", "/api/buses/bus1/devices/99/press", {"key": 1}, 404),
    ("post", "/api/buses/bus1/faults", {"kind": "explode"}, 400),
    ("post", "/api/buses/bus1/faults", {"kind": "late", "delay_ms": -1}, 400),
    ("post", "/api/buses/bus1/faults", {"kind": "late", "colour": "red"}, 400),
    ("post", "/api/buses/bus1/noise", {"bytes": 0}, 400),
    ("post", "/api/buses/bus1/unplug", {"down_s": 99}, 400),
    ("get", "/api/nothing", None, 404),
])
def test_bad_control_requests_are_refused_in_both_languages_and_change_nothing(
        rig_process: RigProcess, method: str, path: str, body: dict | None, status: int) -> None:
    before = rig_process.device(1)
    r = getattr(requests, method)(f"{rig_process.api}{path}", json=body, timeout=5)
    assert r.status_code == status
    assert r.json()["message"] and r.json()["message_en"]
    assert rig_process.device(1) == before
    assert requests.get(f"{rig_process.api}/api/buses/bus1/faults", timeout=5).json()["pending"] == []


def test_a_body_that_is_not_json_is_refused(rig_process: RigProcess) -> None:
    r = requests.post(f"{rig_process.api}/api/buses/bus1/devices/1/press", data=b"\xff{", timeout=5)
    assert r.status_code == 400 and r.json()["message_en"] == "body is not valid JSON"


@pytest.mark.parametrize("function,count", [(4, 0), (4, 126), (3, 0), (3, 126)])
def test_a_read_of_zero_or_more_than_125_registers_is_refused_with_illegal_data_value(
        master: RawMaster, function: int, count: int) -> None:
    # Modbus Application Protocol V1.1b3 §6.3/§6.4: quantity outside 1..125 → exception code 03
    # (ILLEGAL DATA VALUE), not 02; PROTOCOL.md §3 says the same.
    request = bytes([1, function, 0, 0]) + count.to_bytes(2, "big")
    reply = master.transact(request)
    assert valid(reply) and reply[:3] == bytes([1, function | 0x80, 0x03]), reply.hex(" ")


def test_a_write_of_more_than_123_registers_is_refused_with_illegal_data_value(master: RawMaster) -> None:
    count = 124
    frame = bytes([2, 16, 0, 0]) + count.to_bytes(2, "big") + bytes([2 * count]) + bytes(2 * count)
    reply = master.transact(frame)
    assert valid(reply) and reply[:3] == bytes([2, 0x90, 0x03]), reply.hex(" ")
