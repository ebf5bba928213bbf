"""Several kiosks, each with its own printer (`[[printers]]`, chosen by device token), on a real
hub: one printer out of paper stops only its own kiosk; health lists every printer; the default
`[printer]` keeps the spool contract (SPEC §9) and the others spool beside it."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from kiosk_hub_helpers import write_center

from kiosk.fake_printer import FakePrinter, FakeState
from kiosk.runtime import printer_plans
from queue_server.config import ConfigError, parse_config
from queue_server.demo import demo_config_text, with_demo_accounts
from tests.conftest import DEVICE, HubProcess, login

ISSUE = "/api/v1/kiosk/tickets"
KIOSK_2 = {"Authorization": "Bearer kiosk-2-secret"}


def device(device_id: str, token: str) -> str:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f'\n[[devices]]\nid = "{device_id}"\ntoken_sha256 = "{digest}"\nscopes = ["issue"]\n'


def network_entry(printer_id: str, fake: FakePrinter, devices: list[str]) -> str:
    listed = ", ".join(f'"{d}"' for d in devices)
    return (f'\n[[printers]]\nid = "{printer_id}"\ndevices = [{listed}]\nkind = "network"\n'
            f'host = "{fake.host}"\nport = {fake.port}\nstatus_timeout = 0.3\n'
            f'confirm_timeout = 2.0\npoll_seconds = 0\n')


def bins(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.bin")) if folder.exists() else []


def test_each_kiosk_prints_on_its_own_printer_and_a_fault_stops_only_that_one(
    hub_factory: Any, tmp_path: Path, fake_printer: FakePrinter
) -> None:
    config = write_center(tmp_path, extra=device("kiosk-2", "kiosk-2-secret")
                          + network_entry("tang-2", fake_printer, ["kiosk-2"]))
    hub: HubProcess = hub_factory("--demo", "--config", str(config))
    health_events: list[dict[str, Any]] = []
    client = socketio.Client(reconnection=False)
    client.on("device_health", health_events.append)
    client.connect(hub.url, transports=["websocket"], wait_timeout=5)
    spool = hub.data / "printer-spool"
    try:
        # kiosk-2's ticket goes to its network printer, not to the default spool.
        r = requests.post(f"{hub.url}{ISSUE}", json={"service": "ho-tich"}, headers=KIOSK_2, timeout=15)
        assert r.status_code == 201, r.text
        assert fake_printer.wait_for(b"\x1dV", timeout=5)
        assert bins(spool) == []
        # A device reprints on its own printer too.
        reprint = f"{hub.url}/api/v1/tickets/{r.json()['id']}/reprint"
        assert requests.post(reprint, headers=KIOSK_2, timeout=15).status_code == 200
        assert fake_printer.received.count(b"\x1dV") == 2 and bins(spool) == []
        # The demo device has no printer of its own: the default [printer], spooled (SPEC §9).
        r = requests.post(f"{hub.url}{ISSUE}", json={"service": "ho-tich"}, headers=DEVICE, timeout=15)
        assert r.status_code == 201, r.text
        (spooled,) = bins(spool)
        assert spooled.name.startswith(r.json()["number"] + "-")
        assert spooled.with_suffix(".png").exists()

        # kiosk-2's printer runs out of paper: kiosk-2 is told, the other kiosk keeps issuing.
        fake_printer.state = FakeState.PAPER_OUT
        r = requests.post(f"{hub.url}{ISSUE}", json={"service": "dat-dai"}, headers=KIOSK_2, timeout=15)
        assert r.status_code == 503 and r.json()["error"]["code"] == "printer_paper_out"
        r = requests.post(f"{hub.url}{ISSUE}", json={"service": "dat-dai"}, headers=DEVICE, timeout=15)
        assert r.status_code == 201, r.text
        assert r.json()["number"] == "3001", "kiosk-2's refusal issued nothing"

        mine = requests.get(f"{hub.url}/api/v1/kiosk/status", headers=KIOSK_2, timeout=5).json()
        assert mine["printer"]["printer"] == "tang-2" and mine["printer"]["can_print"] is False
        other = requests.get(f"{hub.url}/api/v1/kiosk/status", headers=DEVICE, timeout=5).json()
        assert other["printer"]["printer"] == "default" and other["printer"]["can_print"] is True

        # Device health lists each printer; a kiosk's own GET shows its own at the top.
        health = requests.get(f"{hub.url}/api/v1/printer", headers=KIOSK_2, timeout=5).json()
        assert health["printer"] == "tang-2" and health["status"] == "paper_out"
        staff = login(hub.url, "admin")
        health = requests.get(f"{hub.url}/api/v1/printer", headers=staff, timeout=5).json()
        assert health["printer"] == "default" and health["status"] == "ok"
        listed = {p["printer"]: p for p in health["printers"]}
        assert set(listed) == {"default", "tang-2"}
        assert listed["tang-2"]["status"] == "paper_out" and listed["tang-2"]["kind"] == "network"
        assert listed["tang-2"]["devices"] == ["kiosk-2"] and listed["tang-2"]["simulated"] is False
        assert listed["default"]["tickets_printed"] == 2 and listed["tang-2"]["tickets_printed"] == 1
        assert listed["tang-2"]["reprints"] == 1 and listed["default"]["reprints"] == 0
        assert "detail" in listed["tang-2"], "staff see the technical detail"
        one = requests.get(f"{hub.url}/api/v1/printer?printer=tang-2", timeout=5).json()
        assert one["printer"] == "tang-2" and "detail" not in one
        r = requests.get(f"{hub.url}/api/v1/printer?printer=nope", timeout=5)
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_printer"

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
                e.get("printer") == "tang-2" and e["status"] == "paper_out" for e in health_events):
            time.sleep(0.02)
        assert any(e.get("printer") == "tang-2" and e["status"] == "paper_out" for e in health_events)
        assert all(e.get("printer") in ("default", "tang-2") for e in health_events)

        # The simulation API addresses the default printer unless told; a real one refuses.
        r = requests.post(f"{hub.url}/api/v1/printer/simulate", headers=staff, timeout=5,
                          json={"state": "ok", "printer": "tang-2"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_simulated"
        r = requests.post(f"{hub.url}/api/v1/printer/simulate", headers=staff, timeout=5,
                          json={"state": "cover_open"})
        assert r.status_code == 200 and r.json()["printer"] == "default"
        r = requests.post(f"{hub.url}{ISSUE}", json={"service": "ho-tich"}, headers=DEVICE, timeout=15)
        assert r.status_code == 503 and r.json()["error"]["code"] == "printer_cover_open"
        fake_printer.state = FakeState.OK
        r = requests.post(f"{hub.url}{ISSUE}", json={"service": "ho-tich"}, headers=KIOSK_2, timeout=15)
        assert r.status_code == 201, "kiosk-2 is not held back by the default printer"
    finally:
        threading.Thread(target=client.disconnect, daemon=True).start()


def test_another_simulated_printer_spools_beside_the_default(hub_factory: Any, tmp_path: Path) -> None:
    extra = device("kiosk-2", "kiosk-2-secret") + (
        '\n[[printers]]\nid = "tang-2"\ndevices = ["kiosk-2"]\nkind = "simulated"\nwidth = 384\n'
        'profile = "POS-5890"\n')
    hub: HubProcess = hub_factory("--demo", "--config", str(write_center(tmp_path, extra=extra)))
    r = requests.post(f"{hub.url}{ISSUE}", json={"service": "ho-tich"}, headers=KIOSK_2, timeout=15)
    assert r.status_code == 201, r.text
    (spooled,) = bins(hub.data / "printer-spool-tang-2")
    assert spooled.name.startswith(r.json()["number"] + "-") and spooled.with_suffix(".png").exists()
    assert b"\x1d(k" not in spooled.read_bytes(), "its profile has no native QR"
    assert bins(hub.data / "printer-spool") == []


def _config(extra: str) -> Any:
    return with_demo_accounts(parse_config(demo_config_text() + extra, "center.toml"))


@pytest.mark.parametrize(("extra", "key", "words"), [
    ('\n[[printers]]\nid = "b"\ndevices = ["ghost"]\n', "printers[0].devices", "not a [[devices]] id"),
    ('\n[[printers]]\nid = "default"\n', "printers[0].id", "used twice"),
    ('\n[[printers]]\nid = "b"\ndevices = ["demo-device"]\n[[printers]]\nid = "c"\n'
     'devices = ["demo-device"]\n', "printers[1].devices", "already prints on printer 'b'"),
    ('\n[[printers]]\nid = "b"\nkind = "network"\n', "printers[0].host", "required"),
    ('\n[[printers]]\nid = "b"\npoll_seconds = -1\n', "printers[0].poll_seconds", ">= 0"),
])
def test_printer_config_mistakes_name_their_key(tmp_path: Path, extra: str, key: str, words: str) -> None:
    from kiosk.runtime import check_kiosk_config

    config = _config(extra)
    with pytest.raises(ConfigError) as err:
        check_kiosk_config(config)
    assert err.value.key == key and words in str(err.value)


@pytest.mark.parametrize(("extra", "key"), [
    ('\n[[printers]]\nid = "Bad Id"\n', "printers[0].id"),
    ('\n[[printers]]\nid = "b"\nport = "9100"\n', "printers[0].port"),
    ('\n[[printers]]\nid = "b"\ncolour = "red"\n', "printers[0].colour"),
    ('\nprinters = 3\n', "printers"),
])
def test_printer_entries_are_type_checked_when_the_file_is_read(extra: str, key: str) -> None:
    text = demo_config_text()
    text = extra + text if not extra.startswith("\n[[") else text + extra
    with pytest.raises(ConfigError) as err:
        parse_config(text, "center.toml")
    assert err.value.key == key


def test_plans_keep_the_default_printer_first(tmp_path: Path) -> None:
    config = _config('\n[[printers]]\nid = "tang-2"\ndevices = ["demo-device"]\n')
    plans = printer_plans(config, tmp_path)
    assert [(p.id, p.devices, p.spool_dir.name) for p in plans] == [
        ("default", (), "printer-spool"), ("tang-2", ("demo-device",), "printer-spool-tang-2")]


@pytest.mark.browser
def test_two_kiosk_screens_each_follow_their_own_printer(
    browser: Any, hub_factory: Any, tmp_path: Path, fake_printer: FakePrinter
) -> None:
    from playwright.sync_api import expect

    from kiosk.printers import PrinterStatus

    config = write_center(tmp_path, extra=device("kiosk-2", "kiosk-2-secret")
                          + network_entry("tang-2", fake_printer, ["kiosk-2"]))
    hub: HubProcess = hub_factory("--demo", "--config", str(config))
    pages = {}
    for token in ("demo-device", "kiosk-2-secret"):
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{hub.url}/kiosk?token={token}")
        page.locator('[data-service="ho-tich"]').wait_for(state="visible")
        pages[token] = page
    try:
        fake_printer.state = FakeState.PAPER_OUT
        deadline = time.monotonic() + 5  # a fresh reading of tang-2 is pushed as device_health
        while requests.get(f"{hub.url}/api/v1/printer?printer=tang-2&refresh=1",
                           timeout=5).json()["status"] != "paper_out":
            assert time.monotonic() < deadline, "tang-2 never read paper_out"
            time.sleep(0.1)
        mine = pages["kiosk-2-secret"]
        expect(mine.locator("#printer-banner-text")).to_contain_text(
            PrinterStatus.PAPER_OUT.message_vi)
        assert not mine.locator('[data-service="ho-tich"]').is_enabled()

        other = pages["demo-device"]
        tile = other.locator('[data-service="ho-tich"]')
        assert tile.is_enabled() and other.locator("#printer-banner").is_hidden(), \
            "another kiosk's paper-out is not this screen's"
        tile.click()
        other.locator("#overlay-result").wait_for(state="visible")
        assert other.locator("#result-number").inner_text() == "1001"
        assert other.locator("#printer-banner").is_hidden()
    finally:
        for page in pages.values():
            page.close()


def test_the_example_config_passes_every_start_up_check_of_the_kiosk(tmp_path: Path) -> None:
    """config/example.toml, and the same file with its commented [[printers]] example switched
    on, are accepted by the checks `queue-server --check` and start-up make."""
    from kiosk.runtime import check_kiosk_config
    from tests.conftest import ROOT

    text = (ROOT / "config" / "example.toml").read_text(encoding="utf-8")
    check_kiosk_config(parse_config(text, "example.toml"))
    block = text[text.index("# [[printers]]"):text.index("# profile = \"POS-5890\"")]
    block += '# profile = "POS-5890"\n'
    enabled = "\n".join(line[2:] if line.startswith("# ") else line for line in block.splitlines())
    enabled = enabled.replace('devices = ["kiosk-tang-2"]', 'devices = ["kiosk-sanh"]')
    config = parse_config(text + "\n" + enabled + "\n", "example.toml")
    check_kiosk_config(config)
    assert [p.id for p in printer_plans(config, tmp_path)] == ["default", "tang-2"]
