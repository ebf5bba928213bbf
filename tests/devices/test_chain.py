"""The whole chain with real processes: hub, firmware-bridge, and the simulated devices on a pty
pair. A key on a simulated terminal calls the next ticket; the TV page and the simulated LED both
show it; a rating key records the rating of the ticket just finished; presses survive lost frames.

firmware-bridge is the `bridge` branch's: until it is in the tree these tests skip."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date

import pytest
import requests

from tests.conftest import ROOT, HubProcess, login

from .conftest import RigProcess

pytestmark = pytest.mark.skipif(importlib.util.find_spec("firmware_bridge.cli") is None,
                                reason="firmware-bridge is not in this tree yet (bridge branch)")
DEVICE = {"Authorization": "Bearer demo-device"}


def eventually(check, what: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """Poll `check` until it returns something truthy (a guard against hanging, not a timing test)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"never happened: {what}")


@pytest.fixture
def chain(hub_factory, rig_process: RigProcess) -> Iterator[tuple[HubProcess, RigProcess]]:  # type: ignore[no-untyped-def]
    hub = hub_factory("--demo")
    log = open(rig_process.folder / "firmware-bridge.log", "ab")  # noqa: SIM115
    bridge = subprocess.Popen([sys.executable, "-m", "firmware_bridge.cli", "--config", str(rig_process.config),
                               "--hub", hub.url, "--demo"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        # the bridge has reached the devices once it has written the displays out of their error mode
        eventually(lambda: rig_process.device(2)["mode"] != "error", "the bridge's first display write")
        yield hub, rig_process
    finally:
        bridge.send_signal(signal.SIGTERM)
        try:
            bridge.wait(timeout=10)
        except subprocess.TimeoutExpired:
            bridge.kill()
            bridge.wait()


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
    eventually(lambda: rig.device(3)["mode"] == "ready", "the rating box is made ready")
    assert rig.press(3, 2) is not None                           # "Hài lòng"
    manager = login(hub.url, "manager")
    today = date.today().isoformat()

    def rated() -> dict | None:
        stats = requests.get(f"{hub.url}/api/v1/stats", params={"from": today, "to": today},
                             headers=manager, timeout=5).json()
        return stats["satisfaction"] if stats["satisfaction"]["total"] else None
    satisfaction = eventually(rated, "the rating reaches the hub")
    assert satisfaction["total"] == 1 and satisfaction["levels"][1]["count"] == 1


def test_presses_whose_frames_are_lost_reach_the_hub_exactly_once(chain: tuple[HubProcess, RigProcess]) -> None:
    hub, rig = chain
    tickets = [issue(hub) for _ in range(4)]
    rig.fault(kind="drop_reply", on="poll", unit=1, times=2)      # the press read, its reply lost
    rig.fault(kind="drop_reply", on="ack", unit=1)                # acknowledged, reply lost
    rig.fault(kind="lose_request", on="ack", unit=1)              # the ack never arrives
    for _ in range(3):
        assert rig.press(1, 1) is not None
    eventually(lambda: rig.device(1)["pending"] == 0, "the terminal's queue drains")
    statuses = eventually(lambda: (s := [requests.get(f"{hub.url}/api/v1/tickets/{t['id']}", timeout=5).json()["status"]
                                         for t in tickets]) and s.count("waiting") == 1 and s, "three calls")
    # three NEXT presses: the first two tickets done (each NEXT finishes the one before), the third
    # called, the fourth still waiting — not one press lost, not one repeated
    assert statuses == ["done", "done", "called", "waiting"]
    kinds = sorted(a["kind"] for a in rig.applied())
    assert kinds == ["drop_reply", "drop_reply", "drop_reply", "lose_request"]


def test_noise_and_bad_frames_on_the_bus_leave_the_other_devices_working(chain: tuple[HubProcess, RigProcess]) -> None:
    hub, rig = chain
    ticket = issue(hub)
    for kind in ("corrupt_crc", "truncate", "wrong_unit", "noise"):
        rig.fault(kind=kind, on="any", unit=2, times=3)           # the display at counter 2 misbehaves
    requests.post(f"{rig.api}/api/buses/bus1/noise", json={"bytes": 32}, timeout=5).raise_for_status()
    assert rig.press(1, 1) is not None
    shown = eventually(lambda: (d := rig.device(1))["mode"] == "number" and d, "counter 1's LED shows the call")
    assert shown["text"] == ticket["number"]
    # counter 2's display is written again when its waiting count changes (the slow lane,
    # PROTOCOL.md §9) or its refresh comes: the faults hit those writes, the bus goes on
    eventually(lambda: len(rig.applied()) >= 1, "a fault on counter 2's display", timeout=60)
    second = issue(hub)
    assert rig.press(1, 1) is not None                           # and counter 1 is served still
    eventually(lambda: rig.device(1)["text"] == second["number"], "counter 1's LED shows the next call")


def test_the_bridge_picks_up_its_adapter_unplugged_and_plugged_back(chain: tuple[HubProcess, RigProcess]) -> None:
    hub, rig = chain
    first, second = issue(hub), issue(hub)
    assert rig.press(1, 1) is not None
    eventually(lambda: rig.device(1)["text"] == first["number"], "the first call on the LED")
    r = requests.post(f"{rig.api}/api/buses/bus1/unplug", json={"down_s": 1.0}, timeout=15)
    assert r.status_code == 200
    assert rig.press(1, 1) is not None                           # pressed while the cable is out
    eventually(lambda: rig.device(1)["text"] == second["number"], "the second call on the LED", timeout=60)
