"""Faults injected at the boundary: what a noisy bus, a slow device or a lost frame looks like.

A test (over the simulator's control API) or a technician adds `Fault`s to a bus's `FaultPlan`;
the Modbus server of that bus consults the plan for each request it answers. Every fault that was
actually applied is logged (`applied()`), so a test can check the fault happened rather than pass
because it never did.

Kinds (`Fault.kind`):

| kind | what the master sees |
|---|---|
| `drop_reply` | the device handled the request but its reply is lost (the master times out) |
| `lose_request` | the request never reached the device: nothing changes, no reply |
| `late` | the reply comes `delay_ms` late (after the master's timeout, if long enough) |
| `corrupt_crc` | the reply's CRC is wrong (last byte flipped) |
| `truncate` | only the first half of the reply arrives |
| `wrong_unit` | the reply carries another unit id (CRC recomputed, so only the id is wrong) |
| `noise` | `noise_bytes` random bytes on the line just before the reply |

`on` narrows which requests a fault hits: `poll` (read of the event queue, 0x04 at 16), `ack`
(write to EVENT_ACK, hr 32), `ident` (0x04 at 0), `write` (any other write: displays), `read`
(0x03), or `any`. `unit` narrows it to one device (None: any device of the bus). `times` is how
many matching requests it hits (0: until the plan is cleared).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("drop_reply", "lose_request", "late", "corrupt_crc", "truncate", "wrong_unit", "noise")
TARGETS = ("any", "poll", "ack", "ident", "write", "read")
EVENT_ACK_ADDRESS = 32   # PROTOCOL.md §5.1 (hr 32)
EVENT_QUEUE_ADDRESS = 16  # ir 16


@dataclass
class Fault:
    """One fault; see the module docstring. Raises ValueError on an unknown kind or target."""

    kind: str
    on: str = "any"
    unit: int | None = None
    times: int = 1
    delay_ms: int = 300
    noise_bytes: int = 6

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.on not in TARGETS:
            raise ValueError(f"fault target must be one of {', '.join(TARGETS)}, not {self.on!r}")
        if self.times < 0 or self.delay_ms < 0 or not 0 < self.noise_bytes <= 256:
            raise ValueError("times and delay_ms must be ≥ 0, noise_bytes 1..256")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Fault":
        unknown = set(data) - {"kind", "on", "unit", "times", "delay_ms", "noise_bytes"}
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        if "kind" not in data:
            raise ValueError("a fault needs a kind")
        return cls(**data)

    def matches(self, unit: int, target: str) -> bool:
        return (self.unit is None or self.unit == unit) and self.on in ("any", target)


def target_of(function_code: int, address: int, writing: bool) -> str:
    """Which `on` class a request belongs to."""
    if function_code == 4:
        return "poll" if address == EVENT_QUEUE_ADDRESS else "ident" if address == 0 else "read"
    if writing:
        return "ack" if address == EVENT_ACK_ADDRESS else "write"
    return "read"


@dataclass
class AppliedFault:
    """A fault that hit a request: which, on which unit and request class, when (epoch s)."""

    kind: str
    unit: int
    target: str
    at: float = field(default_factory=time.time)


class FaultPlan:
    """The faults waiting on one bus. Thread-safe (the control API adds, the server takes)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._faults: list[Fault] = []
        self._applied: list[AppliedFault] = []
        self._lock = threading.Lock()
        self.rng = rng or random.Random()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def applied(self) -> list[AppliedFault]:
        with self._lock:
            return list(self._applied)

    def take(self, unit: int, target: str) -> Fault | None:
        """The first fault matching this request, used up by one (None when none matches)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(unit, target):
                    if fault.times == 1:
                        self._faults.remove(fault)
                    elif fault.times > 1:
                        fault.times -= 1
                    self._applied.append(AppliedFault(fault.kind, unit, target))
                    return fault
            return None
