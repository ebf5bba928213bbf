"""A minimal independent peer for the bridge's end-to-end tests: Quầy số devices (PROTOCOL.md) as
Modbus RTU slaves served by pymodbus — a different Modbus implementation from the bridge's master
(minimalmodbus) — on the far end of a socat pty pair.

Written from the document, not from the bridge's code. Only pymodbus's public extension points:
`SimDevice(action=...)` for the register model, `trace_packet` for injected faults (a dropped,
corrupted or noisy reply). The `devices` branch ships the full emulators (firmware_bridge/simulator);
this one exists so the bridge's tests stand on their own.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerRTU, FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

KIND_CODE = {"counter-display": 1, "counter-terminal": 2, "rating-box": 3, "lobby-board": 4}


@dataclass
class Device:
    """One device's registers and, for keyed kinds, its event queue (PROTOCOL.md §5.2; kept in
    memory: this peer's 'non-volatile memory' is the test process)."""

    unit: int
    kind: str
    serial: int = 0x1234ABCD
    epoch: int = 0x2F1C
    hr: list[int] = field(default_factory=lambda: [0] * 96)
    queue: list[tuple[int, int, int]] = field(default_factory=list)  # (seq, key, arg)
    next_seq: int = 1
    last_acked: int = 0
    writes: int = 0
    capacity: int = 16
    rows: int = 6  # lobby board: rows it has (ir 7 SIZE)

    @property
    def keyed(self) -> bool:
        return self.kind in ("counter-terminal", "rating-box")

    def ident(self) -> list[int]:
        if self.kind == "numeric-led":
            raise LookupError
        size = {"rating-box": 5, "lobby-board": self.rows}.get(self.kind, 8)
        return [0x5153, 0x0100, KIND_CODE[self.kind], 0x0100, self.unit, self.serial >> 16,
                self.serial & 0xFFFF, size,
                0x3F if self.kind == "counter-terminal" else (0x1F if self.kind == "rating-box" else 0),
                self.capacity if self.keyed else 0, self.epoch if self.keyed else 0]

    @property
    def holding_size(self) -> int:
        """Holding registers below hr 32 this kind has (PROTOCOL.md §6-§7)."""
        return {"counter-display": 12, "counter-terminal": 12, "rating-box": 5,
                "lobby-board": 16 + 5 * self.rows, "numeric-led": 1}[self.kind]

    def events(self) -> list[int]:
        if not self.queue:
            return [0, 0, 0, 0, 0, 0, self.epoch]
        seq, key, arg = self.queue[0]
        return [len(self.queue), seq, key, arg, 0, 0, self.epoch]

    def press(self, key: int, arg: int = 0) -> int:
        seq = self.next_seq
        self.next_seq = self.next_seq % 65535 + 1
        self.queue.append((seq, key, arg))
        return seq

    def ack(self, value: int) -> ExcCodes | None:
        if self.queue and value == self.queue[0][0]:
            self.queue.pop(0)
            self.last_acked = value
            return None
        if value == self.last_acked and value != 0:
            return None
        return ExcCodes.ILLEGAL_VALUE


class Peer:
    """Devices of one bus served by pymodbus on `port` (a thread with its own event loop).
    Thread-safe: `press`, `registers`, `fault`, `pending`."""

    def __init__(self, port: str, devices: list[Device], baud: int = 9600) -> None:
        self.port = port
        self.baud = baud
        self.devices = {d.unit: d for d in devices}
        self.lock = threading.Lock()
        self.faults: list[tuple[int, int, str]] = []  # (unit, function, kind) for the next reply
        self.injected = 0
        self._request: tuple[int, int] = (0, 0)
        self._loop = asyncio.new_event_loop()
        self._server: ModbusSerialServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # -------------------------------------------------------------- control from the test
    def start(self) -> "Peer":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._server is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(10)
            except TimeoutError:
                pass  # its port is gone already; the loop stops below
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def press(self, unit: int, key: int, arg: int = 0) -> int:
        with self.lock:
            return self.devices[unit].press(key, arg)

    def pending(self, unit: int) -> int:
        with self.lock:
            return len(self.devices[unit].queue)

    def registers(self, unit: int, first: int = 0, count: int = 12) -> list[int]:
        with self.lock:
            return list(self.devices[unit].hr[first:first + count])

    def fault(self, unit: int, function: int, kind: str) -> None:
        """The next reply of `unit` to `function` gets `kind`: drop | corrupt_crc | noise | truncate | late."""
        with self.lock:
            self.faults.append((unit, function, kind))

    def faults_left(self) -> int:
        with self.lock:
            return len(self.faults)

    # -------------------------------------------------------------- pymodbus side
    async def _start(self) -> None:
        sims = [SimDevice(unit, simdata=(
            [SimData(0, values=False, datatype=DataType.BITS)],
            [SimData(0, values=False, datatype=DataType.BITS)],
            [SimData(0, count=96, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=23, values=0, datatype=DataType.REGISTERS)]),
            action=self._action(dev)) for unit, dev in sorted(self.devices.items())]
        self._server = ModbusSerialServer(sims, framer=FramerType.RTU, port=self.port, baudrate=self.baud,
                                          ignore_missing_devices=True, broadcast_enable=False,
                                          reconnect_delay=0.1, trace_packet=self._trace_packet)
        await self._server.serve_forever(background=True)

    def _action(self, dev: Device):  # type: ignore[no-untyped-def]
        async def action(function_code: int, start_address: int, address: int, count: int,
                         current: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
            with self.lock:
                if function_code not in (3, 4, 6, 16):
                    return ExcCodes.ILLEGAL_FUNCTION
                if set_values is not None:
                    values = [int(v) for v in set_values]
                    if dev.keyed and address == 32 and len(values) == 1:
                        return dev.ack(values[0])
                    if address + len(values) > dev.holding_size or (dev.keyed and address <= 32 < address + len(values)):
                        return ExcCodes.ILLEGAL_ADDRESS
                    dev.hr[address:address + len(values)] = values
                    dev.writes += 1
                    return None
                if function_code == 4:
                    if address == 0 and count == 11 and dev.kind != "numeric-led":
                        values = dev.ident()
                    elif address == 16 and count == 7 and dev.keyed:
                        values = dev.events()
                    else:
                        return ExcCodes.ILLEGAL_ADDRESS
                else:
                    if dev.keyed and address == 32 and count == 1:
                        values = [dev.last_acked]
                    else:
                        values = dev.hr[address:address + count]
                offset = address - start_address
                current[offset:offset + count] = values
                return None
        return action

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            if len(data) >= 2:
                self._request = (data[0], data[1])
            return data
        if not data:
            return data
        unit = data[0]
        if unit not in self.devices:
            return b""
        with self.lock:
            for i, (fu, ff, kind) in enumerate(self.faults):
                if fu == unit and ff == (data[1] & 0x7F) and self._request[1] == ff:
                    del self.faults[i]
                    self.injected += 1
                    if kind == "drop":
                        return b""
                    if kind == "corrupt_crc":
                        return data[:-1] + bytes([data[-1] ^ 0xFF])
                    if kind == "truncate":
                        return data[: len(data) // 2]
                    if kind == "noise":
                        return bytes(random.randrange(256) for _ in range(7)) + data
                    if kind == "late":  # answer after the master's timeout (the line is blocked meanwhile)
                        time.sleep(0.4)
                        return data
        return data


def crc(body: bytes) -> bytes:
    return FramerRTU.compute_CRC(body).to_bytes(2, "big")
