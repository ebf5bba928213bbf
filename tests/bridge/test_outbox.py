"""The bridge's on-disk press queue (firmware_bridge/outbox.py) on a real SQLite file: an event taken
twice (a lost acknowledgement) is one press, a full queue refuses without losing what it holds, and
what was taken survives a restart of the bridge."""

from __future__ import annotations

from pathlib import Path

from firmware_bridge import profile
from firmware_bridge.config import DeviceConfig
from firmware_bridge.outbox import Outbox

TERM = DeviceConfig(bus="bus1", unit=1, kind="counter-terminal", counter=4, name="bus1/1")
IDENT = profile.Identity(profile.MAGIC, 0x0100, 2, 0x0102, 1, 0x1234ABCD, 8, 0x3F, 16, 0x2F1C)


def event(seq: int, key: int = profile.KEY_NEXT, epoch: int = 0x2F1C) -> profile.Event:
    return profile.Event(pending=1, seq=seq, key=key, arg=0, age_ds=0, overflows=0, epoch=epoch)


def test_the_same_head_read_twice_is_one_press(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 10)
    assert box.take(TERM, IDENT, event(5))
    assert box.take(TERM, IDENT, event(5))  # the ack was lost: acknowledge again, queue nothing
    assert box.size() == 1
    press = box.oldest()
    assert press is not None
    assert (press.key, press.counter, press.code, press.kind) == ("rs485-1234abcd-2f1c-5", 4, 1, "counter-terminal")


def test_a_new_event_store_is_not_taken_for_a_repeat(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 10)
    assert box.take(TERM, IDENT, event(1))
    assert box.take(TERM, IDENT, event(1, epoch=0x0001))  # memory erased: seq 1 again, new epoch
    assert box.size() == 2


def test_a_full_queue_refuses_and_keeps_what_it_has(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 10)
    for seq in range(1, 11):
        assert box.take(TERM, IDENT, event(seq))
    assert not box.take(TERM, IDENT, event(11))
    assert box.size() == 10 and box.refused == 1
    first = box.oldest()
    assert first is not None and first.key.endswith("-1")
    box.done(first)
    assert box.take(TERM, IDENT, event(11))  # room again: the device's event is taken


def test_presses_survive_a_restart_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path, 10)
    for seq in (7, 8, 9):
        box.take(TERM, IDENT, event(seq))
    box.close()
    again = Outbox(tmp_path, 10)
    assert again.take(TERM, IDENT, event(9))   # still known as the last taken
    order = []
    while (p := again.oldest()) is not None:
        order.append(p.key.rsplit("-", 1)[1])
        again.done(p)
    assert order == ["7", "8", "9"]
