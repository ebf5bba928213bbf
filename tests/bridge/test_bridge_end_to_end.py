"""Key → hub → display, exactly once, with real processes: a demo hub (`queue-server`), the bridge
(`firmware-bridge`), and the device simulator (firmware_bridge/simulator: pymodbus, a different
Modbus implementation from the bridge's minimalmodbus) on the far end of socat pty pairs.

The simulator's devices are read straight from their models (`DeviceRigThread`); faults are put
in the bus's `FaultPlan`, and every test that injects one asserts from `applied()` that it hit.
No timed assertions: each step waits (with a generous deadline that only turns a hang into a
failure) for the state it needs, then asserts what a user would see."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from firmware_bridge import profile
from firmware_bridge.simulator.faults import Fault
from firmware_bridge.simulator.line import TO_MASTER
from firmware_bridge.simulator.rig import read_rig_spec
from tests.conftest import DEVICE, login
from tests.device_rig import BridgeProcess, DeviceRigThread, eventually

TERMINAL, RATING, LED = 1, 3, 5
SILENT = 9  # configured, but nothing answers at this unit
LOBBY = 7
MISFIT = 8  # a rating box answers where the config says a counter display is

CENTER = """
[bridge]
hub = "{hub}"
token = "demo-device"
data = "{folder}/bridge-data"
health_s = 1
refresh_s = 5

[[bridge.buses]]
name = "bus1"
port = "{folder}/rs485/bus1"
baud = 9600
timeout_margin_ms = 100

[[bridge.devices]]
bus = "bus1"
unit = 1
kind = "counter-terminal"
counter = 1

[[bridge.devices]]
bus = "bus1"
unit = 3
kind = "rating-box"
counter = 1

[[bridge.devices]]
bus = "bus1"
unit = 5
kind = "numeric-led"
counter = 1

[[bridge.devices]]
bus = "bus1"
unit = 9
kind = "counter-display"
counter = 2
name = "unplugged display"

[[bridge.devices]]
bus = "bus1"
unit = 7
kind = "lobby-board"
rows = 6

[[bridge.devices]]
bus = "bus1"
unit = 8
kind = "counter-display"
counter = 3
"""


@pytest.fixture
def rig(hub, tmp_path: Path) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The center's config drives the bridge and the simulator alike, except on the bus itself:
    nothing is fitted at unit 9, and a rating box sits at unit 8."""
    config = tmp_path / "center.toml"
    config.write_text(CENTER.format(hub=hub.url, folder=tmp_path), encoding="utf-8")
    spec = read_rig_spec(config)
    fitted = spec.buses[0]
    fitted.devices = [d for d in fitted.devices if d["unit"] != SILENT]
    next(d for d in fitted.devices if d["unit"] == MISFIT)["kind"] = "rating-box"
    devices = DeviceRigThread(spec, tmp_path / "device-simulator").start()
    bridge = BridgeProcess(config, tmp_path / "bridge.log").start()
    rig = {"hub": hub, "devices": devices, "bridge": bridge, "manager": login(hub.url, "manager"),
           "outbox": tmp_path / "bridge-data" / "presses.sqlite3"}
    try:
        yield rig
    finally:
        bridge.stop()
        devices.stop()


def issue(hub, n: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


def statuses(hub, tickets: list[dict[str, Any]]) -> list[str]:  # type: ignore[no-untyped-def]
    return [requests.get(f"{hub.url}/api/v1/tickets/{t['id']}", timeout=10).json()["status"] for t in tickets]


def current(hub, n: int = 1) -> str | None:  # type: ignore[no-untyped-def]
    counters = requests.get(f"{hub.url}/api/v1/counters", timeout=10).json()["counters"]
    cur = next(c for c in counters if c["counter"] == n)["current"]
    return cur["number"] if cur else None


def health(rig) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = requests.get(f"{rig['hub'].url}/api/v1/devices", headers=rig["manager"], timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def device(rig, unit: int) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    """The hub's health report of `unit` (None until the bridge has reported it)."""
    return next((d for d in health(rig)["devices"] if d["unit"] == unit), None)


def online(rig, unit: int) -> bool:  # type: ignore[no-untyped-def]
    return bool((device(rig, unit) or {}).get("online"))


def shows(rig, unit: int = TERMINAL) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """What a simulated counter display or terminal shows: its mode and its text."""
    view = rig["devices"].device(unit).view()
    return view["mode"], view["text"]


def settled(rig, unit: int) -> bool:  # type: ignore[no-untyped-def]
    """The device's queue is empty and the bridge has delivered every press: the bridge writes a
    press to its on-disk queue before it acknowledges it, and deletes it once the hub answered,
    so an empty device queue and an empty `presses` table mean every press reached the hub."""
    if rig["devices"].device(unit).view()["pending"]:
        return False
    db = rig["outbox"]
    if not db.exists():
        return False
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute("SELECT COUNT(*) FROM presses").fetchone()[0] == 0


def press_and_settle(rig, unit: int, key: int) -> int:  # type: ignore[no-untyped-def]
    seq = rig["devices"].device(unit).press(key)
    assert seq is not None, f"unit {unit} refused key {key}"
    eventually(lambda: settled(rig, unit), "the press is taken and delivered")
    return seq


def applied(rig) -> list[str]:  # type: ignore[no-untyped-def]
    """The kinds of the faults that hit a request on bus1, sorted."""
    return sorted(a.kind for a in rig["devices"].bus().faults.applied())


def test_next_key_calls_the_next_ticket_the_numeric_led_shows_it_and_health_is_reported(rig) -> None:  # type: ignore[no-untyped-def]
    hub = rig["hub"]
    numbers = [t["number"] for t in issue(hub, 2)]
    eventually(lambda: online(rig, TERMINAL), "the bridge's first health report")
    assert shows(rig)[0] == "idle"  # connected, nobody served
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == numbers[0]
    eventually(lambda: shows(rig) == ("number", numbers[0]), "the terminal shows the call")
    led = rig["devices"].device(LED)
    eventually(lambda: led.view()["shows"] == numbers[0][-4:].rjust(4), "the numeric LED shows its digits")
    term = device(rig, TERMINAL)
    assert term["frames_ok"] > 0 and term["kind"] == "counter-terminal" and term["counter"] == 1
    assert term["serial"] == f"{rig['devices'].device(TERMINAL).serial:08x}" and term["rtt_ms"] is not None


def test_lost_poll_replies_acks_and_ack_replies_deliver_each_press_once(rig) -> None:  # type: ignore[no-untyped-def]
    hub, faults = rig["hub"], rig["devices"].bus().faults
    tickets = issue(hub, 4)
    eventually(lambda: online(rig, TERMINAL), "terminal online")
    faults.add(Fault("drop_reply", on="poll", unit=TERMINAL))   # the reply carrying the event is lost
    faults.add(Fault("drop_reply", on="ack", unit=TERMINAL))    # the ack is applied, its reply lost
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == tickets[0]["number"]
    faults.add(Fault("lose_request", on="ack", unit=TERMINAL))  # the ack never arrives: polled again
    faults.add(Fault("drop_reply", on="ack", unit=TERMINAL))    # and the repeated ack's reply is lost
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    eventually(lambda: faults.pending() == [], "every fault hit")
    assert applied(rig) == ["drop_reply", "drop_reply", "drop_reply", "lose_request"]
    # two NEXT presses, two calls: the first ticket done, the second called, none skipped
    assert statuses(hub, tickets) == ["done", "called", "waiting", "waiting"]
    assert current(hub) == tickets[1]["number"]
    eventually(lambda: device(rig, TERMINAL)["timeouts"] >= 4, "the lost replies counted as timeouts")


def test_corrupted_frames_and_noise_are_counted_and_good_devices_keep_working(rig) -> None:  # type: ignore[no-untyped-def]
    hub, bus = rig["hub"], rig["devices"].bus()
    numbers = [t["number"] for t in issue(hub, 2)]
    eventually(lambda: online(rig, TERMINAL), "terminal online")
    assert device(rig, TERMINAL)["line_noise"] == 0
    bus.faults.add(Fault("late", on="poll", unit=TERMINAL, delay_ms=400))  # after the master gave up
    eventually(lambda: device(rig, TERMINAL)["line_noise"] > 0, "the late answer counted as stray bytes")
    assert applied(rig) == ["late"]
    bad = ["corrupt_crc", "noise", "truncate", "wrong_unit", "corrupt_crc"]
    for kind in bad:
        bus.faults.add(Fault(kind, on="poll", unit=TERMINAL))
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == numbers[0]
    assert applied(rig) == sorted([*bad, "late"])
    eventually(lambda: device(rig, TERMINAL)["frames_bad"] >= len(bad), "bad frames counted")
    assert online(rig, RATING)  # the rating box on the same bus answered all along
    bus.line.inject(TO_MASTER, bytes(random.randrange(256) for _ in range(32)))  # noise between frames
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == numbers[1]
    eventually(lambda: shows(rig) == ("number", numbers[1]), "the terminal shows it")


def test_the_bridge_recovers_when_the_port_vanishes_and_comes_back(rig) -> None:  # type: ignore[no-untyped-def]
    hub, cable = rig["hub"], rig["devices"].bus().master_pair
    numbers = [t["number"] for t in issue(hub, 2)]
    eventually(lambda: online(rig, TERMINAL), "terminal online")
    cable.close()                 # the adapter is pulled: the line vanishes
    eventually(lambda: not online(rig, TERMINAL), "the devices are reported offline")
    assert "port" in (device(rig, TERMINAL)["error"] or "")
    cable.start()                 # and plugged back
    eventually(lambda: online(rig, TERMINAL), "back online")
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == numbers[0]
    eventually(lambda: shows(rig) == ("number", numbers[0]), "the terminal shows it")


def test_presses_wait_on_disk_while_the_hub_is_down_and_arrive_in_order(rig) -> None:  # type: ignore[no-untyped-def]
    hub, terminal = rig["hub"], rig["devices"].device(TERMINAL)
    numbers = [t["number"] for t in issue(hub, 3)]
    eventually(lambda: online(rig, TERMINAL), "terminal online")
    hub.stop()
    eventually(lambda: shows(rig)[0] == "error", "the terminal shows the error state")
    assert terminal.press(profile.KEY_NEXT) is not None
    assert terminal.press(profile.KEY_NEXT) is not None
    eventually(lambda: terminal.view()["pending"] == 0, "the bridge took both presses off the device")
    rig["bridge"].stop()          # and the bridge restarts while they wait on its disk
    rig["bridge"].start()
    hub.start()
    eventually(lambda: settled(rig, TERMINAL), "both presses delivered")
    assert current(hub) == numbers[1]  # two presses, two calls, in order
    eventually(lambda: shows(rig) == ("number", numbers[1]), "the terminal shows it")


@pytest.mark.parametrize("outage", ["stop", "kill9"])
def test_the_bridge_reconnects_on_its_own_when_the_hub_comes_back(rig, outage: str) -> None:  # type: ignore[no-untyped-def]
    """Only the hub goes away and comes back; the bridge keeps running. A hub that stops
    (SIGTERM) closes the bridge's Socket.IO connection itself, which python-socketio's client
    never reconnects by itself: the LEDs stayed in the error state until the bridge was restarted
    (found by a new user). A killed hub (no close) drops the transport instead."""
    hub, terminal = rig["hub"], rig["devices"].device(TERMINAL)
    numbers = [t["number"] for t in issue(hub, 2)]

    def terminal_shows(mode: str, what: str) -> None:
        try:
            eventually(lambda: shows(rig)[0] == mode, what)
        except pytest.fail.Exception:  # say what it showed instead, and the bridge's view of it
            pytest.fail(f"never happened: {what}; the terminal shows {shows(rig)}, its health "
                        f"{device(rig, TERMINAL) if hub.proc and hub.proc.poll() is None else '?'}")

    terminal_shows("idle", "the terminal is connected and idle")
    for _ in range(2):  # twice: a reconnected link must survive the next outage too
        hub.kill9() if outage == "kill9" else hub.stop()
        terminal_shows("error", "the terminal shows the error state")
        hub.start()
        terminal_shows("idle", "the terminal leaves the error state")
    assert terminal.press(profile.KEY_NEXT) is not None
    eventually(lambda: shows(rig) == ("number", numbers[0]), "the terminal shows the call")
    # and the bridge's health says so again within a report or two ([bridge] health_s)
    eventually(lambda: any(b["hub_reachable"] and b["error"] is None for b in health(rig)["bridges"]),
               "the bridge reports the hub reachable again", 30)


def test_a_device_reset_keeps_its_presses_and_an_erased_store_is_not_a_repeat(rig) -> None:  # type: ignore[no-untyped-def]
    hub, faults = rig["hub"], rig["devices"].bus().faults
    terminal = rig["devices"].device(TERMINAL)
    store = terminal.queue
    assert store is not None and store.path is not None and store.path.exists()
    numbers = [t["number"] for t in issue(hub, 3)]
    eventually(lambda: online(rig, TERMINAL), "terminal online")

    def power_off() -> None:
        """The terminal stops answering (nothing it hears is done) until power_on()."""
        hits = len(faults.applied())
        faults.add(Fault("lose_request", unit=TERMINAL, times=0))
        eventually(lambda: len(faults.applied()) > hits, "the bridge finds the terminal silent")

    def power_on() -> None:
        terminal.reset()          # volatile registers to their defaults, the store read from its file
        faults.clear()

    power_off()
    seq = terminal.press(profile.KEY_NEXT)   # pressed as the power failed: in its non-volatile queue
    epoch = store.epoch
    power_on()
    assert (store.epoch, terminal.view()["pending"]) == (epoch, 1)
    eventually(lambda: settled(rig, TERMINAL), "the press kept across the reset is delivered")
    assert current(hub) == numbers[0]
    assert store.last_acked == seq == 1
    eventually(lambda: shows(rig) == ("number", numbers[0]), "the reset terminal is written again")
    # Its memory is erased (the store's file is gone: a new epoch, sequence numbers from 1 again),
    # so its seq 1 is a new press, not the one acknowledged before.
    power_off()
    store.path.unlink()
    power_on()
    assert store.epoch != epoch and store.last_acked == 0
    assert terminal.press(profile.KEY_NEXT) == 1
    eventually(lambda: settled(rig, TERMINAL), "the erased terminal's first press is delivered")
    assert store.last_acked == 1
    assert current(hub) == numbers[1]
    assert set(applied(rig)) == {"lose_request"}


def test_a_device_that_never_answers_is_backed_off_and_reported(rig) -> None:  # type: ignore[no-untyped-def]
    hub = rig["hub"]
    numbers = [t["number"] for t in issue(hub, 1)]
    eventually(lambda: ((device(rig, SILENT) or {}).get("backoff_s") or 0) >= 4,
               "the silent display backed off to 4 s or more")
    silent = device(rig, SILENT)
    assert silent is not None and SILENT not in rig["devices"].bus().devices
    assert silent["online"] is False and silent["frames_ok"] == 0 and silent["timeouts"] >= 3
    assert silent["name"] == "unplugged display" and "no answer" in silent["error"]
    # Meanwhile the devices that answer are served as ever.
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == numbers[0]
    eventually(lambda: shows(rig) == ("number", numbers[0]), "the terminal shows it")


def test_pause_key_toggles_the_counter_and_the_display_says_so(rig) -> None:  # type: ignore[no-untyped-def]
    hub = rig["hub"]

    def status() -> str:
        counters = requests.get(f"{hub.url}/api/v1/counters", timeout=10).json()["counters"]
        return str(next(c for c in counters if c["counter"] == 1)["status"])

    eventually(lambda: shows(rig)[0] == "idle", "terminal idle")
    press_and_settle(rig, TERMINAL, profile.KEY_PAUSE)
    assert status() == "paused"
    eventually(lambda: shows(rig)[0] == "paused", "the terminal shows the pause")
    press_and_settle(rig, TERMINAL, profile.KEY_PAUSE)
    assert status() == "open"
    eventually(lambda: shows(rig)[0] == "idle", "the terminal is idle again")


def test_the_lobby_board_lists_the_latest_calls_newest_first(rig) -> None:  # type: ignore[no-untyped-def]
    hub, board = rig["hub"], rig["devices"].device(LOBBY)
    numbers = [t["number"] for t in issue(hub, 2)]
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)              # counter 1 by its keypad
    r = requests.post(f"{hub.url}/api/v1/counters/2/next", headers=DEVICE, timeout=10)  # counter 2
    assert r.status_code == 200 and r.json()["number"] == numbers[1]
    newest_first = [{"counter": 2, "number": numbers[1]}, {"counter": 1, "number": numbers[0]}]
    eventually(lambda: board.view()["rows"] == newest_first, "both calls on the lobby board")
    assert board.view()["mode"] == "rows" and board.size == 6


def test_two_buses_each_with_its_own_thread_and_port(hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "two.toml"
    config.write_text(f"""
[bridge]
hub = "{hub.url}"
token = "demo-device"
data = "{tmp_path / 'data'}"

[[bridge.buses]]
name = "keys"
port = "{tmp_path / 'rs485' / 'keys'}"

[[bridge.buses]]
name = "leds"
port = "{tmp_path / 'rs485' / 'leds'}"
baud = 19200

[[bridge.devices]]
bus = "keys"
unit = 1
kind = "counter-terminal"
counter = 2

[[bridge.devices]]
bus = "leds"
unit = 1
kind = "numeric-led"
counter = 2
""", encoding="utf-8")
    devices = DeviceRigThread(read_rig_spec(config), tmp_path / "device-simulator").start()
    bridge = BridgeProcess(config, tmp_path / "two.log").start()
    try:
        (ticket,) = issue(hub, 1)
        assert devices.device(1, "keys").press(profile.KEY_NEXT) is not None
        led = devices.device(1, "leds")
        eventually(lambda: led.view()["shows"] == ticket["number"][-4:].rjust(4),
                   "the call on bus 'keys' shows on bus 'leds'")
        assert current(hub, 2) == ticket["number"]
        assert devices.bus("leds").server.baud == 19200 and devices.bus("leds").server.frames_in > 0
    finally:
        bridge.stop()
        devices.stop()


def test_a_device_of_another_kind_is_reported_and_never_written(rig) -> None:  # type: ignore[no-untyped-def]
    misfit = rig["devices"].device(MISFIT)
    eventually(lambda: "wrong kind" in ((device(rig, MISFIT) or {}).get("error") or ""), "the misfit reported")
    assert misfit.kind_name == "rating-box"
    assert misfit.writes == 0 and misfit.last_write_at is None
    eventually(lambda: rig["devices"].device(TERMINAL).writes > 0, "the terminal is written all the same")
