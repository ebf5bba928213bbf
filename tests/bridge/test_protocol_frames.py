"""Every worked frame of firmware_bridge/PROTOCOL.md, byte for byte, against two Modbus
implementations nobody here wrote: pymodbus builds each frame from its `fields` line (and computes
its CRC), and minimalmodbus — the bridge's own master — produces each request and decodes each reply
over a real pseudo-terminal. The register tables and firmware_bridge.profile are checked against
each other too."""

from __future__ import annotations

import os
import threading

import minimalmodbus
import pytest
import serial
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteMultipleRegistersResponse,
    WriteSingleRegisterRequest,
)

from firmware_bridge import profile
from tests.protocol_doc import frames, register_tables

FRAMES = frames()
BY_NAME = {f.name: f for f in FRAMES}


def test_the_document_has_the_frames_the_brief_asks_for() -> None:
    kinds = {f.kind for f in FRAMES}
    assert {"read-request", "read-reply", "write-single", "write-multiple", "write-multiple-reply",
            "exception"} <= kinds
    assert len(FRAMES) >= 12


def _pymodbus_pdu(f):  # type: ignore[no-untyped-def]
    if f.kind == "read-request":
        cls = ReadInputRegistersRequest if f.function == 4 else ReadHoldingRegistersRequest
        return cls(dev_id=f.unit, address=f.number("address"), count=f.number("count"))
    if f.kind == "read-reply":
        return ReadInputRegistersResponse(dev_id=f.unit, registers=f.values())
    if f.kind == "write-single":
        return WriteSingleRegisterRequest(dev_id=f.unit, address=f.number("address"),
                                          registers=[f.number("value")])
    if f.kind == "write-multiple":
        return WriteMultipleRegistersRequest(dev_id=f.unit, address=f.number("address"),
                                             registers=f.values())
    if f.kind == "write-multiple-reply":
        return WriteMultipleRegistersResponse(dev_id=f.unit, address=f.number("address"),
                                              count=f.number("count"))
    if f.kind == "exception":
        return ExceptionResponse(f.function, f.number("code"), device_id=f.unit)
    raise AssertionError(f.kind)


@pytest.mark.parametrize("frame", FRAMES, ids=[f.name for f in FRAMES])
def test_pymodbus_builds_the_documented_bytes(frame) -> None:  # type: ignore[no-untyped-def]
    body, crc = frame.data[:-2], frame.data[-2:]
    assert FramerRTU.compute_CRC(body).to_bytes(2, "big") == crc, "CRC (low byte first)"
    framer = FramerRTU(DecodePDU(frame.kind.endswith("request") or frame.kind.startswith("write-")
                                 and not frame.kind.endswith("reply")))
    assert framer.buildFrame(_pymodbus_pdu(frame)) == frame.data


class PtyDevice:
    """The far end of a pseudo-terminal: records what the master sends, answers a given reply."""

    def __init__(self) -> None:
        self.master_fd, slave_fd = os.openpty()
        self.path = os.ttyname(slave_fd)
        os.close(slave_fd)
        self.received = b""

    def answer(self, expected_len: int, reply: bytes) -> threading.Thread:
        def run() -> None:
            got = b""
            while len(got) < expected_len:
                got += os.read(self.master_fd, 256)
            self.received = got
            os.write(self.master_fd, reply)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def close(self) -> None:
        os.close(self.master_fd)


@pytest.fixture
def pty_master():  # type: ignore[no-untyped-def]
    dev = PtyDevice()
    port = serial.Serial(dev.path, 9600, timeout=0.5)
    yield dev, port
    port.close()
    dev.close()


# (request frame, how minimalmodbus sends it) for every reply in the document
REQUEST_OF = {
    "ident-reply": "ident-request",
    "poll-reply-event": "poll-request",
    "poll-reply-empty": "poll-request",
    "ack-refused": "ack-request",
    "display-write-reply": "display-write",
    "numeric-led-16-reply": "numeric-led-16",
}


def _send(inst: minimalmodbus.Instrument, f) -> object:  # type: ignore[no-untyped-def]
    if f.kind == "read-request":
        return inst.read_registers(f.number("address"), f.number("count"), functioncode=f.function)
    if f.kind == "write-single":
        return inst.write_register(f.number("address"), f.number("value"), functioncode=6)
    if f.kind == "write-multiple":
        return inst.write_registers(f.number("address"), f.values())
    raise AssertionError(f.kind)


@pytest.mark.parametrize("frame", [f for f in FRAMES if f.kind in ("read-request", "write-single", "write-multiple")],
                         ids=lambda f: f.name)
def test_minimalmodbus_sends_the_documented_request(frame, pty_master) -> None:  # type: ignore[no-untyped-def]
    dev, port = pty_master
    inst = minimalmodbus.Instrument(port, frame.unit)
    reply = next((BY_NAME[r].data for r, q in REQUEST_OF.items() if q == frame.name
                  and BY_NAME[r].kind != "exception"), frame.data)  # a write-single reply is the echo
    t = dev.answer(len(frame.data), reply)
    _send(inst, frame)
    t.join(2)
    assert dev.received == frame.data


@pytest.mark.parametrize("reply_name", sorted(REQUEST_OF))
def test_minimalmodbus_decodes_the_documented_reply(reply_name, pty_master) -> None:  # type: ignore[no-untyped-def]
    dev, port = pty_master
    reply, request = BY_NAME[reply_name], BY_NAME[REQUEST_OF[reply_name]]
    inst = minimalmodbus.Instrument(port, reply.unit)
    dev.answer(len(request.data), reply.data)
    if reply.kind == "exception":
        with pytest.raises(minimalmodbus.IllegalRequestError):  # 0x03 ILLEGAL DATA VALUE
            _send(inst, request)
        assert reply.number("code") == 3
        return
    got = _send(inst, request)
    if reply.kind == "read-reply":
        assert got == reply.values()


def test_illegal_address_reply_is_decoded_as_a_slave_exception(pty_master) -> None:  # type: ignore[no-untyped-def]
    dev, port = pty_master
    reply = BY_NAME["display-illegal-address"]
    inst = minimalmodbus.Instrument(port, reply.unit)
    dev.answer(8, reply.data)
    with pytest.raises(minimalmodbus.IllegalRequestError):
        inst.read_registers(profile.EVENT_ACK_REGISTER, 1, functioncode=3)
    assert dev.received[:6] == bytes([reply.unit, 3, 0, 32, 0, 1])


def test_the_examples_mean_what_the_profile_encodes() -> None:
    ident = profile.Identity.from_registers(BY_NAME["ident-reply"].values())
    assert ident.problem("counter-terminal", 1) is None
    assert ident.serial == 0x1234ABCD and ident.queue_epoch == 0x2F1C
    event = profile.Event.from_registers(BY_NAME["poll-reply-event"].values())
    assert (event.pending, event.seq, event.key) == (1, 5, profile.KEY_NEXT)
    assert BY_NAME["ack-request"].number("value") == event.seq
    assert BY_NAME["ack-request"].number("address") == profile.EVENT_ACK_REGISTER
    block = profile.display_block(profile.MODE_NUMBER, "A023", counter=3, call_seq=7, blink_s=5,
                                  brightness=80, watchdog_s=60, waiting=12)
    assert block == BY_NAME["display-write"].values()
    assert profile.decode_text(block[8:12]) == "A023"
    assert profile.numeric_value("1023", 4) == BY_NAME["numeric-led-06"].number("value")
    assert profile.numeric_value("A023", 4) == 23
    assert profile.numeric_value("AB12345", 4) == 2345


def test_register_tables_match_the_profile_constants() -> None:
    tables = register_tables()
    ident = tables["4. Identification (every kind of this profile)"]
    assert [r.address for r in ident] == [str(i) for i in range(profile.IDENT_COUNT)]
    assert ident[0].name == "MAGIC" and int(ident[0].default, 0) == profile.MAGIC
    events = tables["5.1 Registers"]
    ir = [r for r in events if r.table == "ir"]
    assert [int(r.address) for r in ir] == list(range(profile.EVENTS_ADDRESS,
                                                      profile.EVENTS_ADDRESS + profile.EVENTS_COUNT))
    assert [r.name for r in ir] == ["PENDING", "EVENT_SEQ", "EVENT_KEY", "EVENT_ARG", "EVENT_AGE",
                                    "OVERFLOWS", "EPOCH"]
    ack = [r for r in events if r.table == "hr"]
    assert [(r.address, r.name) for r in ack] == [(str(profile.EVENT_ACK_REGISTER), "EVENT_ACK")]
    display = tables["6.1 Counter display (KIND = 1)"]
    assert len(display) == profile.DISPLAY_BLOCK
    assert [r.name for r in display][:7] == ["MODE", "BLINK_S", "BRIGHTNESS", "WATCHDOG_S", "COUNTER",
                                             "CALL_SEQ", "WAITING"]
    rating = tables["6.3 Rating box (KIND = 3)"]
    assert len(rating) == profile.RATING_BLOCK
    for regs in tables.values():
        for r in regs:
            assert r.table in ("ir", "hr") and r.access in ("R", "RW"), r
