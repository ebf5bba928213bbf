"""The whole chain with real processes, as `make run` has it: hub, firmware-bridge, and the
`device-simulator` process driven through its control API, both reading one center file. A key on
a simulated terminal calls the next ticket; the TV page and the simulated LED both show it; a
rating key records the rating of the ticket just finished.

Lost and corrupted frames, noise, a vanishing port and the rest are tested end to end in
tests/bridge/test_bridge_end_to_end.py, on the same simulator in-process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
import requests

from tests.conftest import DEVICE, HubProcess, login
from tests.device_rig import BridgeProcess, eventually

from .conftest import RigProcess


@pytest.fixture
def chain(hub_factory, rig_process: RigProcess) -> Iterator[tuple[HubProcess, RigProcess]]:  # type: ignore[no-untyped-def]
    hub = hub_factory("--demo")
    bridge = BridgeProcess(rig_process.config, rig_process.folder / "firmware-bridge.log",
                           "--hub", hub.url, "--demo").start()
    try:
        # the bridge has reached the devices once it has written the displays out of their error mode
        eventually(lambda: rig_process.device(2)["mode"] != "error", "the bridge's first display write")
        yield hub, rig_process
    finally:
        bridge.stop()


def issue(hub: HubProcess) -> dict:
    r = requests.post(f"{hub.url}/api/v1/kiosk/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
    r.raise_for_status()
    return r.json()


def test_a_key_calls_the_next_ticket_the_tv_and_the_led_show_it_and_a_rating_key_rates_it(
        chain: tuple[HubProcess, RigProcess], browser) -> None:  # type: ignore[no-untyped-def]
    hub, rig = chain
    ticket = issue(hub)
    context = browser.new_context()
    tv = context.new_page()
    try:
        tv.goto(f"{hub.url}/display")
        assert rig.press(1, 1) is not None                       # NEXT on counter 1's keypad
        shown = eventually(lambda: (d := rig.device(1))["mode"] == "number" and d, "the LED shows a number")
        assert shown["text"] == ticket["number"]
        tv.wait_for_selector(f'[data-counter="1"]:has-text("{ticket["number"]}")')
        assert requests.get(f"{hub.url}/api/v1/tickets/{ticket['id']}", timeout=5).json()["status"] == "called"
    finally:
        context.close()

    assert rig.press(1, 4) is not None                           # FINISH
    eventually(lambda: requests.get(f"{hub.url}/api/v1/tickets/{ticket['id']}", timeout=5).json()["status"] == "done",
               "the ticket is done")
    ready = eventually(lambda: (d := rig.device(3))["mode"] == "ready" and d, "the rating box is made ready")
    assert ready["levels"] == 3                                  # the demo center's three levels
    assert rig.press(3, 2) is not None                           # "Hài lòng"
    manager = login(hub.url, "manager")
    today = date.today().isoformat()

    def rated() -> dict | None:
        stats = requests.get(f"{hub.url}/api/v1/stats", params={"from": today, "to": today},
                             headers=manager, timeout=5).json()
        return stats["satisfaction"] if stats["satisfaction"]["total"] else None
    satisfaction = eventually(rated, "the rating reaches the hub")
    assert satisfaction["total"] == 1 and satisfaction["levels"][1]["count"] == 1
    assert requests.get(f"{hub.url}/api/v1/tickets/{ticket['id']}", timeout=5).json()["rated"] is True
