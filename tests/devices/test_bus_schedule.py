"""The bridge's bus master (firmware_bridge.master.BusMaster, in this process) against the simulated
devices (`device-simulator`, a real process on a pty pair): what goes on the wire, in what order.

- PROTOCOL.md §9, two lanes: a write that changes a display's number goes out before the next poll;
  a write whose only change is the waiting count (hr 6) waits for the slow lane — at most one slow
  write per completed poll cycle, so a hall-wide waiting count change never queues N writes ahead
  of the keypads.
- PROTOCOL.md §2, a response timeout per transaction: a 16-row lobby board write (201 bytes, 240 ms
  on a 9600-baud line before the device can even answer) completes, where a flat 100 ms could not.
The frames are taken from the real serial port's writes (a pyserial subclass that keeps a copy)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import serial

from firmware_bridge import profile
from firmware_bridge.config import BusConfig, load_bridge_config
from firmware_bridge.master import BusMaster
from firmware_bridge.outbox import Outbox

from tests.device_rig import eventually

from .conftest import RIG_TOML, RigProcess


class RecordingSerial(serial.Serial):
    """pyserial's port; every frame the master writes is kept as (unit, function, address)."""

    frames: list[tuple[int, int, int]]
    lock = threading.Lock()

    def write(self, data: bytes) -> int | None:  # type: ignore[override]
        b = bytes(data)
        if len(b) >= 4:
            with self.lock:
                self.frames.append((b[0], b[1], (b[2] << 8) | b[3]))
        return super().write(data)


def open_recording(frames: list[tuple[int, int, int]]):  # type: ignore[no-untyped-def]
    def factory(bus: BusConfig) -> serial.Serial:
        port = RecordingSerial(port=bus.port, baudrate=bus.baud, timeout=0.1, write_timeout=1.0)
        port.frames = frames
        return port
    return factory


def block(counter: int, text: str, waiting: int, call_seq: int = 0) -> list[int]:
    mode = profile.MODE_NUMBER if text else profile.MODE_IDLE
    return profile.display_block(mode, text, counter=counter, call_seq=call_seq, blink_s=5,
                                 brightness=80, watchdog_s=60, waiting=waiting)


def start_master(rig: RigProcess, tmp_path: Path, frames: list[tuple[int, int, int]]) -> BusMaster:
    cfg = load_bridge_config(rig.config)
    outbox = Outbox(tmp_path / "presses", 100)
    master = BusMaster(cfg.buses[0], cfg.devices, outbox, poll_ms=cfg.poll_ms, refresh_s=cfg.refresh_s,
                       serial_factory=open_recording(frames))
    master.start()
    return master


def test_a_number_goes_out_before_the_polls_and_waiting_only_changes_one_per_poll_cycle(
        rig_process: RigProcess, tmp_path: Path) -> None:
    frames: list[tuple[int, int, int]] = []
    master = start_master(rig_process, tmp_path, frames)
    try:
        master.show(1, block(1, "", 0))     # the terminal at counter 1
        master.show(2, block(2, "", 0))     # the display at counter 2
        eventually(lambda: rig_process.device(1)["mode"] == "idle" and rig_process.device(2)["mode"] == "idle",
                   "both displays written once")
        with RecordingSerial.lock:
            frames.clear()
        # A call at counter 1: its number (fast lane); the hall's waiting count changes on both.
        master.show(2, block(2, "", 7))
        master.show(1, block(1, "A001", 7, call_seq=1))
        eventually(lambda: rig_process.device(2)["waiting"] == 7, "the waiting count reaches counter 2", 90)
        assert rig_process.device(1)["text"] == "A001"
        with RecordingSerial.lock:
            seen = list(frames)
    finally:
        master.stop()
        master.join(timeout=10)
    writes = [i for i, f in enumerate(seen) if f[1] == 0x10]
    assert seen[writes[0]][0] == 1, seen                     # the number first, ahead of the WAITING-only write
    keyed_units = {1, 3}                                     # the terminal and the rating box poll
    slow = [i for i in writes if seen[i][0] == 2]
    assert slow, seen
    polls_before = {u for (u, fn, addr) in seen[writes[0]:slow[0]] if fn == 4 and addr == profile.EVENTS_ADDRESS}
    # the WAITING-only write waited for a whole poll cycle: every keyed device polled first
    assert polls_before == keyed_units, seen


def test_a_sixteen_row_lobby_board_write_fits_its_own_response_timeout_at_9600_baud(tmp_path: Path) -> None:
    rig = RigProcess(tmp_path / "rig", baud=9600, pace=True, lobby_rows=16).start()
    try:
        frames: list[tuple[int, int, int]] = []
        master = start_master(rig, tmp_path, frames)
        try:
            rows = [(f"A{100 + i:03d}", 1 + i % 3) for i in range(16)]
            master.show(4, profile.lobby_block(profile.MODE_NUMBER, rows, 16, call_seq=1, blink_s=5,
                                               brightness=80, watchdog_s=60))

            def lobby_health() -> dict | None:
                h = next(h for d, h in master.health() if d.unit == 4)
                return h if h["rtt_ms"] is not None and h["rtt_ms"] > 200 else None
            # Only the 16-row write (209 bytes both ways, ≥ 240 ms on a paced 9600 line) takes over
            # 200 ms; a reply the master waited for in full is a good transaction with that RTT.
            health = eventually(lobby_health, "a completed 16-row write")
        finally:
            master.stop()
            master.join(timeout=10)
        assert len(rig.device(4)["rows"]) == 16
        assert health["online"] and health["error"] is None, health
        assert master.response_timeout(209, 8) > (209 + 8) * 11 / 9600 + 0.020
    finally:
        rig.stop()


def test_every_keyed_device_is_polled_once_before_any_is_polled_twice(tmp_path: Path) -> None:
    """Poll order is least recently polled first. Found by bench/bridge_benchmark.py: an index
    kept into the changing list of ready devices (the one just polled waits `poll_ms`, a slower
    bus makes more of them ready) skipped terminals for whole cycles — presses waited 2.4 s at 9600
    baud where one poll cycle is 0.94 s. A paced 19200-baud line (a poll ≈ 22 ms, under the
    50 ms `poll_ms`) makes the ready set change on every turn, as it did there."""
    rig = RigProcess(tmp_path / "rig", baud=19200, pace=True, extra_terminals=6).start()
    try:
        frames: list[tuple[int, int, int]] = []
        master = start_master(rig, tmp_path, frames)
        keyed = {1, 3, *range(11, 17)}   # the terminal, the rating box, six more terminals

        def polls() -> list[int]:
            with RecordingSerial.lock:
                units = [u for (u, fn, addr) in frames if fn == 4 and addr == profile.EVENTS_ADDRESS]
            # a retry (the same request again after a timeout) is the same poll
            return [u for i, u in enumerate(units) if i == 0 or units[i - 1] != u]
        try:
            # every device identified and polled, then 8 whole cycles more
            start = len(eventually(lambda: (p := polls()) and set(p[-len(keyed):]) == keyed and p,
                                   "every keyed device polled"))
            seen = eventually(lambda: (p := polls()) and len(p) >= start + 8 * len(keyed) and p,
                              "eight more poll cycles")[start:]
        finally:
            master.stop()
            master.join(timeout=10)
    finally:
        rig.stop()
    for i in range(len(seen) - len(keyed) + 1):
        window = seen[i:i + len(keyed)]
        assert set(window) == keyed, (i, window, seen)


def test_a_device_that_refuses_every_write_does_not_starve_the_keypads(tmp_path: Path) -> None:
    """Configured as an off-the-shelf numeric LED (the number written into hr 0), but what is
    fitted at unit 5 is one of our counter displays, whose hr 0 is MODE (0..3): it answers every
    write of a number with exception 03. Before, that write stayed first in the fast lane and was
    sent again on every turn — no keypad on the bus was polled again. Now the device is asked
    nothing for a second after an exception (PROTOCOL.md §3)."""
    from firmware_bridge.simulator.rig import read_rig_spec
    from tests.device_rig import DeviceRigThread

    config = tmp_path / "center.toml"   # the rig's own config: unit 5 is a numeric LED
    config.write_text(RIG_TOML.format(port=tmp_path / "rs485" / "bus1", baud=19200, folder=tmp_path,
                                      lobby_rows=4), encoding="utf-8")
    spec = read_rig_spec(config)
    fitted = next(d for d in spec.buses[0].devices if d["unit"] == 5)
    fitted.clear()
    fitted.update({"bus": "bus1", "unit": 5, "kind": "counter-display", "counter": 3})
    devices = DeviceRigThread(spec, tmp_path / "rig", pace=True).start()
    try:
        cfg = load_bridge_config(config)
        outbox = Outbox(tmp_path / "presses", 100)
        master = BusMaster(cfg.buses[0], cfg.devices, outbox, poll_ms=cfg.poll_ms, refresh_s=cfg.refresh_s)
        master.start()
        try:
            master.show(5, [1001])   # the number called at counter 2, as a numeric LED takes it
            refusing = eventually(lambda: next((h for d, h in master.health() if d.unit == 5
                                                and h["exceptions"] > 0), None), "the refusal")
            assert refusing["online"] and "write" in (refusing["error"] or ""), refusing
            devices.device(1).press(profile.KEY_NEXT)
            eventually(lambda: outbox.size() == 1, "the terminal's press taken from the bus", 10)
            time.sleep(2.0)
            exceptions = next(h for d, h in master.health() if d.unit == 5)["exceptions"]
        finally:
            master.stop()
            master.join(timeout=10)
            outbox.close()
    finally:
        devices.stop()
    # asked again once a second, with a retry each time: a handful, not hundreds
    assert exceptions <= 12, exceptions
