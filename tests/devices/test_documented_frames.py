"""Every worked frame of PROTOCOL.md §8, sent to the simulated devices (pymodbus) over a pty pair:
the device answers byte for byte what the document says."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from firmware_bridge.simulator.devices import CounterDisplay, CounterTerminal, NumericLed, RatingBox
from firmware_bridge.simulator.event_queue import KeyEventQueue
from firmware_bridge.simulator.modbus import BusServer
from firmware_bridge.simulator.ptys import PtyPair
from tests.conftest import run_in_own_loop

from .conftest import RawMaster
from tests.protocol_doc import frames_by_name


class Clock:
    now = 5000.0

    def __call__(self) -> float:
        return self.now


def store(path: Path, epoch: int, next_seq: int, last_acked: int) -> Path:
    path.write_text(json.dumps({"epoch": epoch, "next_seq": next_seq, "last_acked": last_acked, "events": []}))
    return path


def test_the_simulated_devices_answer_every_worked_frame_byte_for_byte(tmp_path: Path) -> None:
    doc = frames_by_name()
    clock = Clock()
    # the devices exactly as §8 describes them
    terminal = CounterTerminal(1, size=8, firmware=0x0102, serial=0x1234ABCD, clock=clock,
                               queue=KeyEventQueue(16, store(tmp_path / "t.json", 0x2F1C, 5, 4), clock))
    display = CounterDisplay(2, size=4, clock=clock)
    rating = RatingBox(3, size=3, clock=clock,
                       queue=KeyEventQueue(16, store(tmp_path / "r.json", 0x0A07, 41, 40), clock))
    led = NumericLed(5, digits=4, clock=clock)
    pair = PtyPair(tmp_path / "master", tmp_path / "devices").start()

    def request(name: str) -> bytes:
        return doc[name].data[:-2]   # RawMaster adds the CRC again (its own implementation)

    async def scenario() -> None:
        bus = BusServer("bus1", str(pair.b), 9600, {1: terminal, 2: display, 3: rating, 5: led})
        await bus.start()
        master = RawMaster(pair.a)
        loop = asyncio.get_running_loop()

        async def ask(name: str) -> bytes:
            return await loop.run_in_executor(None, master.transact, request(name))
        try:
            assert await ask("ident-request") == doc["ident-reply"].data
            assert await ask("poll-request") == doc["poll-reply-empty"].data
            assert terminal.press(1) == 5
            clock.now += 0.3
            assert await ask("poll-request") == doc["poll-reply-event"].data
            assert await ask("ack-request") == doc["ack-request"].data       # echoed
            assert await ask("ack-request") == doc["ack-request"].data       # repeated: harmless
            assert terminal.press(2) == 6
            terminal.queue.acknowledge(6)                                    # now LAST_ACKED = 6
            assert await ask("ack-request") == doc["ack-refused"].data       # 5: neither head nor last

            assert await ask("display-write") == doc["display-write-reply"].data
            assert display.view()["shows"] == "A023" and display.view()["blinking"]
            illegal = bytes([2, 3, 0, 32, 0, 1])                             # read hr 32 of a display
            assert await loop.run_in_executor(None, master.transact, illegal) == doc["display-illegal-address"].data

            assert rating.write_holding(0, [1, 3, 80, 60, 3]) is None       # ready: keys lit
            assert rating.press(2) == 41
            clock.now += 1.2
            assert await loop.run_in_executor(None, master.transact, bytes([3, 4, 0, 16, 0, 7])) \
                == doc["rating-poll-reply"].data
            assert await ask("rating-ack") == doc["rating-ack"].data
            assert rating.queue is not None and rating.queue.registers()[0] == 0

            assert await ask("numeric-led-06") == doc["numeric-led-06"].data
            assert led.view()["shows"] == "1023"
            led.write_holding(0, [0])
            assert await ask("numeric-led-16") == doc["numeric-led-16-reply"].data
            assert led.view()["shows"] == "1023"
        finally:
            master.close()
            await bus.stop()

    try:
        run_in_own_loop(scenario)
    finally:
        pair.close()
