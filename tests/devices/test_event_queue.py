"""The device's half of the exactly-once key event queue, rule by rule (PROTOCOL.md §5.2)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from firmware_bridge.simulator.event_queue import ILLEGAL_DATA_VALUE, KeyEventQueue, Refused


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_presses_get_rising_sequence_numbers_and_the_head_is_the_oldest(tmp_path: Path) -> None:
    clock = Clock()
    q = KeyEventQueue(16, tmp_path / "store.json", clock, epoch=0x2F1C)
    assert q.press(1) == 1 and q.press(2) == 2 and q.press(6, 4) == 3
    clock.now += 0.3
    # PENDING, EVENT_SEQ, EVENT_KEY, EVENT_ARG, EVENT_AGE (100 ms), OVERFLOWS, EPOCH
    assert q.registers() == [3, 1, 1, 0, 3, 0, 0x2F1C]
    q.acknowledge(1)
    assert q.registers()[:4] == [2, 2, 2, 0]
    q.acknowledge(2)
    assert q.registers()[:4] == [1, 3, 6, 4]


def test_a_repeated_ack_changes_nothing_and_any_other_is_refused(tmp_path: Path) -> None:
    q = KeyEventQueue(16, tmp_path / "store.json", Clock())
    q.press(1)
    q.press(2)
    q.acknowledge(1)
    q.acknowledge(1)          # the master repeating an ack whose reply was lost
    assert q.registers()[:2] == [1, 2]
    for bad in (0, 3, 65535):
        with pytest.raises(Refused) as e:
            q.acknowledge(bad)
        assert e.value.code == ILLEGAL_DATA_VALUE
    assert q.registers()[:2] == [1, 2]


def test_a_full_queue_counts_the_press_and_drops_nothing_queued(tmp_path: Path) -> None:
    q = KeyEventQueue(8, tmp_path / "store.json", Clock())
    assert [q.press(1) for _ in range(8)] == list(range(1, 9))
    assert q.press(2) is None
    assert q.registers()[0] == 8 and q.registers()[5] == 1
    q.acknowledge(1)
    assert q.press(3) == 9


def test_a_reset_presents_the_same_queue_and_a_new_process_reads_the_store(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    q = KeyEventQueue(16, path, Clock())
    q.press(1)
    q.press(4, 2)
    q.press(99)               # an overflow count is volatile
    q.acknowledge(1)
    epoch = q.epoch
    q.reset()
    assert q.registers()[:4] == [2, 2, 4, 2] and q.epoch == epoch
    again = KeyEventQueue(16, path, Clock())  # the device powered up in another process
    assert again.registers()[:4] == [2, 2, 4, 2] and again.epoch == epoch
    assert again.last_acked == 1
    again.acknowledge(1)      # the old ack repeated after the reset: still harmless
    assert again.press(1) == 4   # NEXT_SEQ was stored too


def test_sequence_numbers_wrap_to_1_never_0(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    KeyEventQueue(16, path, Clock())
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "next_seq": 65535}))
    q = KeyEventQueue(16, path, Clock())
    assert q.press(1) == 65535 and q.press(1) == 1


def test_an_erased_or_corrupt_store_starts_a_new_epoch_from_1(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    q = KeyEventQueue(16, path, Clock(), rng=random.Random(7))
    q.press(1)
    old = q.epoch
    q.erase()
    assert q.epoch != old and q.registers()[0] == 0 and q.press(2) == 1
    path.write_text("{not json")
    fresh = KeyEventQueue(16, path, Clock())
    assert 1 <= fresh.epoch <= 65535 and fresh.registers()[0] == 0 and fresh.next_seq == 1


def test_capacity_outside_the_profile_is_refused() -> None:
    for bad in (1, 7, 256):
        with pytest.raises(ValueError):
            KeyEventQueue(bad)
