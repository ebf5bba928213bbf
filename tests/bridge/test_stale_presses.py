"""A keypad press that waited too long for the hub is not acted on; a rating press always goes
(`[bridge] action_max_age_s`, PROTOCOL.md §5.3 rule 6). The bridge's own queue and hub link
(firmware_bridge.outbox, firmware_bridge.hub) against a real hub process over HTTP; the press's
age is the device's EVENT_AGE (ir 20, tenths of a second) at the moment it was taken."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import requests

from firmware_bridge import profile
from firmware_bridge.config import DeviceConfig
from firmware_bridge.hub import HallView, HubLink
from firmware_bridge.outbox import Outbox
from tests.conftest import DEVICE

TERM = DeviceConfig(bus="bus1", unit=1, kind="counter-terminal", counter=1, name="bus1/1")
BOX = DeviceConfig(bus="bus1", unit=3, kind="rating-box", counter=1, name="bus1/3")
IDENT = profile.Identity(profile.MAGIC, 0x0100, 2, 0x0102, 1, 0x1234ABCD, 8, 0x3F, 16, 0x2F1C)
BOX_IDENT = profile.Identity(profile.MAGIC, 0x0100, 3, 0x0102, 3, 0x1234ABCE, 3, 0x07, 16, 0x1111)


def press(seq: int, key: int, age_s: float, epoch: int = 0x2F1C) -> profile.Event:
    return profile.Event(pending=1, seq=seq, key=key, arg=0, age_ds=round(age_s * 10), overflows=0,
                         epoch=epoch)


def counter(hub, n: int) -> dict:  # type: ignore[no-untyped-def]
    counters = requests.get(f"{hub.url}/api/v1/counters", timeout=10).json()["counters"]
    return next(c for c in counters if c["counter"] == n)


def ticket(hub, ticket_id: str) -> dict:  # type: ignore[no-untyped-def]
    r = requests.get(f"{hub.url}/api/v1/tickets/{ticket_id}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_an_old_keypad_press_is_dropped_and_counted_a_rating_still_goes(hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for _ in range(2):
        r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    box = Outbox(tmp_path, 100)
    # In the device's queue for 130 s (the hub was unreachable): NEXT, too old to act on.
    assert box.take(TERM, IDENT, press(1, profile.KEY_NEXT, 130))
    # Fresh presses behind it: NEXT, FINISH; then a rating pressed 130 s ago (a rating always goes).
    assert box.take(TERM, IDENT, press(2, profile.KEY_NEXT, 2))
    assert box.take(TERM, IDENT, press(3, profile.KEY_FINISH, 1))
    assert box.take(BOX, BOX_IDENT, press(1, 1, 130, epoch=0x1111))
    link = HubLink(hub.url, DEVICE["Authorization"].split()[1], HallView(), box, lambda: None,
                   lambda _device: "received", action_max_age_s=120)
    delivery = threading.Thread(target=link.run_delivery, daemon=True)
    delivery.start()
    try:
        deadline = time.monotonic() + 30
        while box.size() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert box.size() == 0, "the bridge's queue was not emptied"
    finally:
        link.stop()
        delivery.join(timeout=10)
        box.close()
    assert link.expired == 1
    # One NEXT acted, not two: the first ticket was called, finished and rated; the second waits.
    first, second = ticket(hub, ids[0]), ticket(hub, ids[1])
    assert (first["status"], first["rated"]) == ("done", True), first
    assert second["status"] == "waiting", second
    assert counter(hub, 1)["current"] is None


def test_no_limit_sends_every_press(hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE,
                         timeout=10).status_code == 201
    box = Outbox(tmp_path, 100)
    assert box.take(TERM, IDENT, press(1, profile.KEY_NEXT, 3000))
    link = HubLink(hub.url, DEVICE["Authorization"].split()[1], HallView(), box, lambda: None,
                   lambda _device: "received", action_max_age_s=0)
    oldest = box.oldest()
    assert oldest is not None and not link.expired_press(oldest)
    assert link.deliver(oldest)
    box.close()
    assert counter(hub, 1)["current"] is not None   # 3000 s old, and still acted on
