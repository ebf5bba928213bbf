"""The simulated devices of one bus as Modbus RTU slaves, served by pymodbus.

pymodbus is a different Modbus implementation from the bridge's master (minimalmodbus): framing,
CRC and the request/response rules here are pymodbus's own, so the bridge is checked against an
independent peer. Only pymodbus's public extension points are used:

- `SimDevice(id, simdata, action=...)`: one per unit id; the `action` coroutine is called for every
  request that touches the device's registers, fills the registers to be read from the device model
  (`devices.py`) or hands it the values written, and returns an exception code when the model
  refuses (PROTOCOL.md §3);
- `trace_pdu`: a reply to a function code the profile does not have (pymodbus answers diagnostics
  and device identification by itself) becomes ILLEGAL FUNCTION (§3);
- `trace_packet`: the bytes of each reply, where the bus's `FaultPlan` drops, delays, corrupts or
  rewrites them, and where a reply for a unit id nobody on the bus has is withheld (a real bus has
  nobody to answer; pymodbus would answer SERVER DEVICE FAILURE).

One `BusServer` serves one serial port (normally the far end of a socat pty pair) at one baud rate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerRTU, FramerType
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from .devices import NumericLed, SimulatedDevice
from .event_queue import Refused
from .faults import Fault, FaultPlan, target_of

log = logging.getLogger(__name__)

PROFILE_FUNCTIONS = frozenset({3, 4, 6, 16})   # PROTOCOL.md §3
ERROR_FLAG = 0x80


def crc(frame: bytes) -> bytes:
    """CRC-16/MODBUS of `frame`, low byte first as sent (pymodbus's own CRC)."""
    return FramerRTU.compute_CRC(frame).to_bytes(2, "big")


class BusServer:
    """The devices of one bus (`devices`: unit id → device) on `port` at `baud`, 8N1 unless told.

    `start()` / `stop()` are coroutines run on the simulator's event loop. `faults` is the bus's
    FaultPlan. `frames_in`/`frames_out` count the requests handled and the replies sent."""

    def __init__(self, name: str, port: str, baud: int, devices: Mapping[int, SimulatedDevice], *,
                 faults: FaultPlan | None = None, parity: str = "N", stopbits: int = 1) -> None:
        self.name = name
        self.port = port
        self.baud = baud
        self.parity = parity
        self.stopbits = stopbits
        self.devices = dict(devices)
        self.faults = faults or FaultPlan()
        self._server: ModbusSerialServer | None = None
        self._reply_faults: dict[int, Fault] = {}
        self._request_functions: dict[int, int] = {}
        self._last_request_function = 0
        self.frames_in = 0
        self.frames_out = 0

    # ---- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        sims = [SimDevice(unit, simdata=_simdata_for(dev), action=self._action_for(dev))
                for unit, dev in sorted(self.devices.items())]
        self._server = ModbusSerialServer(
            sims, framer=FramerType.RTU, port=self.port, baudrate=self.baud, parity=self.parity,
            stopbits=self.stopbits, ignore_missing_devices=True, broadcast_enable=False,
            reconnect_delay=0.1, trace_packet=self._trace_packet, trace_pdu=self._trace_pdu)
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()

    # ---- pymodbus hooks --------------------------------------------------------------------------
    def _action_for(self, device: SimulatedDevice) -> Any:
        async def action(function_code: int, start_address: int, address: int, count: int,
                         current_registers: list[int], set_values: list[int] | list[bool] | None,
                         ) -> ExcCodes | None:
            return await self._handle(device, function_code, start_address, address, count,
                                      current_registers, set_values)
        return action

    async def _handle(self, device: SimulatedDevice, function_code: int, start_address: int,
                      address: int, count: int, current_registers: list[int],
                      set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        writing = set_values is not None
        if function_code not in PROFILE_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        if isinstance(device, NumericLed) and writing and function_code not in device.functions:
            return ExcCodes.ILLEGAL_FUNCTION
        first_pass = writing or function_code in (3, 4)  # 0x06 reads back after it writes
        if first_pass:
            self.frames_in += 1
            fault = self.faults.take(device.unit, target_of(function_code, address, writing))
            if fault is not None:
                self._reply_faults[device.unit] = fault
                if fault.kind == "late":
                    await asyncio.sleep(fault.delay_ms / 1000)
                if fault.kind == "lose_request":
                    return None   # not applied; its reply is withheld in _trace_packet
        elif self._reply_faults.get(device.unit) is not None \
                and self._reply_faults[device.unit].kind == "lose_request":
            return None
        try:
            if writing:
                device.write_holding(address, [int(v) for v in set_values or ()])
                return None
            values = (device.read_input(address, count) if function_code == 4
                      else device.read_holding(address, count))
        except Refused as refusal:
            return ExcCodes(refusal.code)
        offset = address - start_address
        current_registers[offset:offset + count] = values
        return None

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            self._request_functions[pdu.dev_id] = pdu.function_code
            return pdu
        function = self._request_functions.get(pdu.dev_id, pdu.function_code & 0x7F)
        if function not in PROFILE_FUNCTIONS and not pdu.function_code & ERROR_FLAG:
            return ExceptionResponse(function, ExcCodes.ILLEGAL_FUNCTION,
                                     device_id=pdu.dev_id, transaction=pdu.transaction_id)
        return pdu

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            if len(data) >= 2:
                self._last_request_function = data[1]
            return data
        if not data:
            return data
        unit = data[0]
        if len(data) == 5 and data[1] == ERROR_FLAG and self._last_request_function in PROFILE_FUNCTIONS:
            # pymodbus cannot decode a read of 0 or more than 125 registers and answers function
            # 0x00; PROTOCOL.md §3 (after the Modbus Application Protocol V1.1b3 §6.3/§6.4/§6.12)
            # wants ILLEGAL DATA VALUE (0x03) under the request's function code
            body = bytes([unit, self._last_request_function | ERROR_FLAG, 0x03])
            data = body + crc(body)
        if unit not in self.devices:
            return b""   # nobody at that unit id on a real bus: no answer
        fault = self._reply_faults.pop(unit, None)
        if fault is None:
            self.frames_out += 1
            return data
        kind = fault.kind
        if kind in ("drop_reply", "lose_request"):
            return b""
        self.frames_out += 1
        if kind == "corrupt_crc":
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        if kind == "truncate":
            return data[: max(1, len(data) // 2)]
        if kind == "wrong_unit":
            body = bytes([(unit % 247) + 1]) + data[1:-2]
            return body + crc(body)
        if kind == "noise":
            return bytes(self.faults.rng.randrange(256) for _ in range(fault.noise_bytes)) + data
        return data   # late: already delayed


def _simdata_for(device: SimulatedDevice) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
    """The address blocks pymodbus checks before calling the action: hr 0..the device's last
    holding register (33 for keypads: hr 32 is EVENT_ACK), ir 0..22. Gaps inside them are
    refused by the device model (ILLEGAL DATA ADDRESS). Coils and discrete inputs: one placeholder
    each (pymodbus needs a block); the action refuses them with ILLEGAL FUNCTION."""
    last_hr = max(device.holding_table) if device.holding_table else 0
    if device.queue is not None:
        last_hr = max(last_hr, 32)
    bits = [SimData(0, values=False, datatype=DataType.BITS)]
    return (
        bits, list(bits),
        [SimData(0, count=last_hr + 1, values=0, datatype=DataType.REGISTERS)],
        [SimData(0, count=23, values=0, datatype=DataType.REGISTERS)],
    )
