"""Key → hub → display, exactly once, with real processes: a demo hub (`queue-server`), the bridge
(`firmware-bridge`), and an independent pymodbus peer on the far end of a socat pty pair.

No timed assertions: each step waits (with a generous deadline that only turns a hang into a
failure) for the state it needs, then asserts what a user would see."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from firmware_bridge import profile
from firmware_bridge.simulator.ptys import PtyPair
from tests.bridge.peer import Device, Peer
from tests.conftest import DEVICE, ROOT, login

TERMINAL, RATING, LED = 1, 3, 5
SILENT = 9  # configured, but nothing answers at this unit
LOBBY = 7
MISFIT = 8  # a rating box answers where the config says a counter display is


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


class BridgeProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "BridgeProcess":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firmware_bridge.cli", "--config", str(self.config)],
            cwd=ROOT, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
            start_new_session=True)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()



def line(folder: Path) -> PtyPair:
    """The bus as a socat pty pair (the rig's own helper): the bridge opens `.a`, the peer `.b`."""
    folder.mkdir(parents=True, exist_ok=True)
    return PtyPair(folder / "bridge", folder / "devices").start()

@pytest.fixture
def rig(hub, tmp_path: Path) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    ptys = line(tmp_path)
    peer = Peer(str(ptys.b), [Device(TERMINAL, "counter-terminal"),
                               Device(RATING, "rating-box", serial=0x0BADCAFE, epoch=0x0A07),
                               Device(LED, "numeric-led"), Device(LOBBY, "lobby-board", rows=6),
                               Device(MISFIT, "rating-box", serial=0x00C0FFEE)]).start()
    config = tmp_path / "center.toml"
    config.write_text(f"""
[bridge]
hub = "{hub.url}"
token = "demo-device"
data = "{tmp_path / 'bridge-data'}"
health_s = 1
refresh_s = 5

[[bridge.buses]]
name = "bus1"
port = "{ptys.a}"
baud = 9600
timeout_margin_ms = 100

[[bridge.devices]]
bus = "bus1"
unit = {TERMINAL}
kind = "counter-terminal"
counter = 1

[[bridge.devices]]
bus = "bus1"
unit = {RATING}
kind = "rating-box"
counter = 1

[[bridge.devices]]
bus = "bus1"
unit = {LED}
kind = "numeric-led"
counter = 1

[[bridge.devices]]
bus = "bus1"
unit = {SILENT}
kind = "counter-display"
counter = 2
name = "unplugged display"

[[bridge.devices]]
bus = "bus1"
unit = {LOBBY}
kind = "lobby-board"

[[bridge.devices]]
bus = "bus1"
unit = {MISFIT}
kind = "counter-display"
counter = 3
""", encoding="utf-8")
    bridge = BridgeProcess(config, tmp_path / "bridge.log").start()
    manager = login(hub.url, "manager")
    rig = {"hub": hub, "peer": peer, "ptys": ptys, "bridge": bridge, "manager": manager,
           "outbox": tmp_path / "bridge-data" / "presses.sqlite3"}
    try:
        yield rig
    finally:
        rig["bridge"].stop()
        rig["peer"].stop()
        ptys.close()


def issue(hub, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
        assert r.status_code == 201, r.text
        out.append(r.json()["number"])
    return out


def current(hub, n: int = 1) -> str | None:  # type: ignore[no-untyped-def]
    counters = requests.get(f"{hub.url}/api/v1/counters", timeout=10).json()["counters"]
    cur = next(c for c in counters if c["counter"] == n)["current"]
    return cur["number"] if cur else None


def health(rig) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = requests.get(f"{rig['hub'].url}/api/v1/devices", headers=rig["manager"], timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def device(rig, unit: int) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    return next((d for d in health(rig)["devices"] if d["unit"] == unit), None)


def terminal_shows(peer: Peer) -> tuple[int, str]:
    regs = peer.registers(TERMINAL)
    return regs[0], profile.decode_text(regs[8:12])


def settled(rig, unit: int) -> bool:  # type: ignore[no-untyped-def]
    """The device's queue is empty and the bridge has delivered every press: the bridge writes a
    press to its on-disk queue before it acknowledges it, and deletes it once the hub answered,
    so an empty device queue and an empty `presses` table mean every press reached the hub."""
    if rig["peer"].pending(unit):
        return False
    db = rig["outbox"]
    if not db.exists():
        return False
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute("SELECT COUNT(*) FROM presses").fetchone()[0] == 0


def press_and_settle(rig, unit: int, key: int) -> None:  # type: ignore[no-untyped-def]
    rig["peer"].press(unit, key)
    wait_for("the press is taken and delivered", lambda: settled(rig, unit))


def test_next_key_calls_the_next_ticket_and_the_displays_show_it(rig) -> None:  # type: ignore[no-untyped-def]
    hub, peer = rig["hub"], rig["peer"]
    numbers = issue(hub, 2)
    wait_for("the bridge's first health report", lambda: device(rig, TERMINAL) and device(rig, TERMINAL)["online"])
    assert terminal_shows(peer)[0] == profile.MODE_IDLE  # connected, nobody served
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == numbers[0]
    wait_for("the terminal shows the call", lambda: terminal_shows(peer) == (profile.MODE_NUMBER, numbers[0]))
    wait_for("the numeric LED shows its digits",
             lambda: peer.registers(LED, 0, 1) == [profile.numeric_value(numbers[0], 4)])
    term = device(rig, TERMINAL)
    assert term["frames_ok"] > 0 and term["serial"] == "1234abcd" and term["kind"] == "counter-terminal"
    assert term["rtt_ms"] is not None and term["counter"] == 1


def test_rating_key_rates_the_ticket_just_finished(rig) -> None:  # type: ignore[no-untyped-def]
    hub, peer = rig["hub"], rig["peer"]
    issued = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
    ticket_id = issued.json()["id"]
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    press_and_settle(rig, TERMINAL, profile.KEY_FINISH)
    assert requests.get(f"{hub.url}/api/v1/tickets/{ticket_id}", timeout=10).json()["status"] == "done"
    wait_for("the rating box is ready", lambda: peer.registers(RATING, 0, 5)[0] == profile.MODE_NUMBER)
    assert peer.registers(RATING, 0, 5)[4] == 3  # LEVELS: the demo's three levels
    press_and_settle(rig, RATING, 2)
    ticket = requests.get(f"{hub.url}/api/v1/tickets/{ticket_id}", timeout=10).json()
    assert ticket["rated"] is True
    stats = requests.get(f"{hub.url}/api/v1/stats", headers=rig["manager"], timeout=10).json()
    levels = {row["level"]: row["count"] for row in stats["satisfaction"]["levels"]}
    assert levels[2] == 1 and stats["satisfaction"]["total"] == 1, stats["satisfaction"]


def test_dropped_poll_reply_and_dropped_ack_reply_deliver_each_press_once(rig) -> None:  # type: ignore[no-untyped-def]
    hub, peer = rig["hub"], rig["peer"]
    numbers = issue(hub, 4)
    wait_for("terminal online", lambda: device(rig, TERMINAL) and device(rig, TERMINAL)["online"])
    peer.fault(TERMINAL, 4, "drop")   # the poll's reply carrying the event is lost
    peer.fault(TERMINAL, 6, "drop")   # the acknowledgement is applied, its reply lost
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert peer.faults_left() == 0
    assert current(hub) == numbers[0]
    peer.fault(TERMINAL, 6, "drop")
    peer.fault(TERMINAL, 6, "drop")   # the retried acknowledgement's reply lost too
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == numbers[1]  # one call per press: not numbers[2]
    wait_for("the lost replies counted as timeouts", lambda: device(rig, TERMINAL)["timeouts"] >= 3)


def test_corrupted_frames_and_noise_are_counted_and_good_devices_keep_working(rig) -> None:  # type: ignore[no-untyped-def]
    hub, peer = rig["hub"], rig["peer"]
    numbers = issue(hub, 2)
    wait_for("terminal online", lambda: device(rig, TERMINAL) and device(rig, TERMINAL)["online"])
    for kind in ("corrupt_crc", "noise", "truncate", "corrupt_crc"):
        peer.fault(TERMINAL, 4, kind)
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == numbers[0]
    wait_for("bad frames counted", lambda: device(rig, TERMINAL)["frames_bad"] >= 3)
    # The rating box on the same bus answered all along.
    assert device(rig, RATING)["online"]
    peer.fault(TERMINAL, 4, "late")       # an answer after the master gave up: stray bytes
    wait_for("the late answer was counted", lambda: device(rig, TERMINAL)["line_noise"] > 0)
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == numbers[1]
    wait_for("the terminal shows it", lambda: terminal_shows(peer) == (profile.MODE_NUMBER, numbers[1]))


def test_the_bridge_recovers_when_the_port_vanishes_and_comes_back(rig) -> None:  # type: ignore[no-untyped-def]
    hub, peer, ptys = rig["hub"], rig["peer"], rig["ptys"]
    numbers = issue(hub, 2)
    wait_for("terminal online", lambda: device(rig, TERMINAL) and device(rig, TERMINAL)["online"])
    ptys.close()                  # the adapter is pulled: the line vanishes
    peer.stop()
    wait_for("the devices are reported offline", lambda: not device(rig, TERMINAL)["online"])
    assert "port" in (device(rig, TERMINAL)["error"] or "")
    ptys.start()                  # and plugged back
    rig["peer"] = peer = Peer(str(ptys.b), [Device(TERMINAL, "counter-terminal"),
                                             Device(RATING, "rating-box", serial=0x0BADCAFE, epoch=0x0A07),
                                             Device(LED, "numeric-led"), Device(LOBBY, "lobby-board")]).start()
    wait_for("back online", lambda: device(rig, TERMINAL)["online"], timeout=60)
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == numbers[0]
    wait_for("the terminal shows it", lambda: terminal_shows(peer) == (profile.MODE_NUMBER, numbers[0]))


def test_presses_wait_on_disk_while_the_hub_is_down_and_arrive_in_order(rig) -> None:  # type: ignore[no-untyped-def]
    hub, peer = rig["hub"], rig["peer"]
    numbers = issue(hub, 3)
    wait_for("terminal online", lambda: device(rig, TERMINAL) and device(rig, TERMINAL)["online"])
    hub.stop()
    wait_for("the terminal shows the error state", lambda: terminal_shows(peer)[0] == profile.MODE_ERROR)
    peer.press(TERMINAL, profile.KEY_NEXT)
    peer.press(TERMINAL, profile.KEY_NEXT)
    wait_for("the bridge took both presses off the device", lambda: peer.pending(TERMINAL) == 0)
    rig["bridge"].stop()          # and the bridge restarts while they wait on its disk
    rig["bridge"].start()
    hub.start()
    wait_for("both presses delivered", lambda: settled(rig, TERMINAL))
    assert current(hub) == numbers[1]  # two presses, two calls, in order
    wait_for("the terminal shows it", lambda: terminal_shows(peer) == (profile.MODE_NUMBER, numbers[1]))


def test_a_device_reset_keeps_its_presses_and_an_erased_store_is_not_a_repeat(rig) -> None:  # type: ignore[no-untyped-def]
    hub, peer, ptys = rig["hub"], rig["peer"], rig["ptys"]
    numbers = issue(hub, 3)
    wait_for("terminal online", lambda: device(rig, TERMINAL) and device(rig, TERMINAL)["online"])
    terminal = peer.devices[TERMINAL]
    others = [peer.devices[RATING], peer.devices[LED], peer.devices[LOBBY]]
    peer.stop()                               # the terminal powers off…
    terminal.press(profile.KEY_NEXT)          # …with a press in its non-volatile queue
    rig["peer"] = peer = Peer(str(ptys.b), [terminal, *others]).start()   # and boots again
    wait_for("the press kept across the reset is delivered", lambda: settled(rig, TERMINAL), timeout=60)
    assert current(hub) == numbers[0]
    assert terminal.last_acked == 1
    # Its memory is erased (new epoch, sequence numbers from 1 again): seq 1 is a new press.
    peer.stop()
    fresh = Device(TERMINAL, "counter-terminal", epoch=0x1111)
    rig["peer"] = peer = Peer(str(ptys.b), [fresh, *others]).start()
    peer.press(TERMINAL, profile.KEY_NEXT)
    wait_for("the erased terminal's first press is delivered", lambda: settled(rig, TERMINAL), timeout=60)
    assert fresh.last_acked == 1
    assert current(hub) == numbers[1]


def test_a_device_that_never_answers_is_backed_off_and_reported(rig) -> None:  # type: ignore[no-untyped-def]
    hub, peer = rig["hub"], rig["peer"]
    numbers = issue(hub, 1)
    wait_for("the silent display backed off to 4 s or more",
             lambda: (device(rig, SILENT) or {}).get("backoff_s", 0) and device(rig, SILENT)["backoff_s"] >= 4)
    silent = device(rig, SILENT)
    assert silent["online"] is False and silent["frames_ok"] == 0 and silent["timeouts"] >= 3
    assert silent["name"] == "unplugged display" and "no answer" in silent["error"]
    # Meanwhile the devices that answer are served as ever.
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)
    assert current(hub) == numbers[0]
    wait_for("the terminal shows it", lambda: terminal_shows(peer) == (profile.MODE_NUMBER, numbers[0]))


def test_pause_key_toggles_the_counter_and_the_display_says_so(rig) -> None:  # type: ignore[no-untyped-def]
    hub, peer = rig["hub"], rig["peer"]
    wait_for("terminal idle", lambda: terminal_shows(peer)[0] == profile.MODE_IDLE)
    press_and_settle(rig, TERMINAL, profile.KEY_PAUSE)
    counters = requests.get(f"{hub.url}/api/v1/counters", timeout=10).json()["counters"]
    assert next(c for c in counters if c["counter"] == 1)["status"] == "paused"
    wait_for("the terminal shows the pause", lambda: terminal_shows(peer)[0] == profile.MODE_PAUSED)
    press_and_settle(rig, TERMINAL, profile.KEY_PAUSE)
    counters = requests.get(f"{hub.url}/api/v1/counters", timeout=10).json()["counters"]
    assert next(c for c in counters if c["counter"] == 1)["status"] == "open"
    wait_for("the terminal is idle again", lambda: terminal_shows(peer)[0] == profile.MODE_IDLE)


def test_the_lobby_board_lists_the_latest_calls_newest_first(rig) -> None:  # type: ignore[no-untyped-def]
    hub, peer = rig["hub"], rig["peer"]
    numbers = issue(hub, 2)
    press_and_settle(rig, TERMINAL, profile.KEY_NEXT)              # counter 1 by its keypad
    r = requests.post(f"{hub.url}/api/v1/counters/2/next", headers=DEVICE, timeout=10)  # counter 2
    assert r.status_code == 200 and r.json()["number"] == numbers[1]

    def rows() -> list[tuple[int, str]]:
        regs = peer.registers(LOBBY, 0, 16 + 5 * 6)
        return [(regs[16 + 5 * i], profile.decode_text(regs[17 + 5 * i:21 + 5 * i])) for i in range(regs[4])]

    wait_for("both calls on the lobby board", lambda: rows() == [(2, numbers[1]), (1, numbers[0])])
    assert peer.registers(LOBBY, 0, 1) == [profile.MODE_NUMBER]


def test_two_buses_each_with_its_own_thread_and_port(hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "b1").mkdir()
    (tmp_path / "b2").mkdir()
    line1, line2 = line(tmp_path / "b1"), line(tmp_path / "b2")
    keypads = Peer(str(line1.b), [Device(1, "counter-terminal")]).start()
    leds = Peer(str(line2.b), [Device(1, "numeric-led")], baud=19200).start()
    config = tmp_path / "two.toml"
    config.write_text(f"""
[bridge]
hub = "{hub.url}"
token = "demo-device"
data = "{tmp_path / 'data'}"

[[bridge.buses]]
name = "keys"
port = "{line1.a}"

[[bridge.buses]]
name = "leds"
port = "{line2.a}"
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
    bridge = BridgeProcess(config, tmp_path / "two.log").start()
    try:
        (number,) = issue(hub, 1)
        keypads.press(1, profile.KEY_NEXT)
        wait_for("the call on bus 'keys' shows on bus 'leds'",
                 lambda: leds.registers(1, 0, 1) == [profile.numeric_value(number, 4)])
        assert current(hub, 2) == number
    finally:
        bridge.stop()
        keypads.stop()
        leds.stop()
        line1.close()
        line2.close()


def test_a_device_of_another_kind_is_reported_and_never_written(rig) -> None:  # type: ignore[no-untyped-def]
    peer = rig["peer"]
    wait_for("the misfit reported", lambda: "wrong kind" in ((device(rig, MISFIT) or {}).get("error") or ""))
    misfit = peer.devices[MISFIT]
    assert misfit.writes == 0 and misfit.hr[:5] == [0, 0, 0, 0, 0]
    wait_for("the terminal is written all the same", lambda: peer.devices[TERMINAL].writes > 0)
