"""The kiosk API on a real hub process: a printer that answers DLE EOT like a real one (the TCP
fake, configured as a `network` printer), print failures, rate limits, reprints, simulation."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from kiosk_hub_helpers import (
    network_printer,
    shared_hub,
    ticket_events,
    ticket_id_by_number,
    write_center,
)

from kiosk.escpos_ticket import ticket_bytes
from kiosk.fake_printer import FakePrinter, FakeState
from kiosk.printers import PrinterStatus
from kiosk.ticket import TicketContent
from tests.conftest import DEVICE, ROOT, HubProcess, login

CENTER = "Trung tâm Phục vụ hành chính công xã Kim Thành"
ISSUE = "/api/v1/kiosk/tickets"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: Any) -> Iterator[HubProcess]:
    """One demo hub for the tests below that need no special config; each keeps to its own field
    (print failure: Đất đai; reprint: Hộ tịch at counter 1)."""
    process = shared_hub(tmp_path_factory, "--demo")
    yield process
    process.stop()


def waiting_total(hub: HubProcess) -> int:
    return sum(requests.get(f"{hub.url}/api/v1/state", timeout=5).json()["waiting"].values())


def totals(hub: HubProcess, manager: dict[str, str] | None = None) -> dict[str, Any]:
    r = requests.get(f"{hub.url}/api/v1/stats", headers=manager or login(hub.url, "manager"), timeout=5)
    return r.json()["totals"]  # type: ignore[no-any-return]


def content_of(body: dict[str, Any]) -> TicketContent:
    """The ticket the hub must have printed, rebuilt from its answer."""
    return TicketContent(center_name=CENTER, field_name=body["service_name"], number=body["number"],
                         waiting_ahead=body["waiting_ahead"], est_wait_min=body["est_wait_min"],
                         issued_at=datetime.fromisoformat(body["issued_at"]),
                         status_url=body["status_url"], priority=body["priority"])


def test_printer_faults_issue_nothing_and_near_end_warns(
    hub_factory: Any, tmp_path: Path, fake_printer: FakePrinter
) -> None:
    hub: HubProcess = hub_factory("--demo", "--config", str(write_center(tmp_path, network_printer(fake_printer))))
    health_events: list[dict[str, Any]] = []
    client = socketio.Client(reconnection=False)
    client.on("device_health", health_events.append)
    client.connect(hub.url, transports=["websocket"], wait_timeout=5)
    try:
        expected = {FakeState.PAPER_OUT: PrinterStatus.PAPER_OUT,
                    FakeState.COVER_OPEN: PrinterStatus.COVER_OPEN,
                    FakeState.SILENT: PrinterStatus.OFFLINE,
                    FakeState.ERROR: PrinterStatus.ERROR}
        for state, status in expected.items():
            fake_printer.state = state
            r = requests.post(f"{hub.url}{ISSUE}", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
            assert r.status_code == 503, (state, r.text)
            error = r.json()["error"]
            assert error["code"] == f"printer_{status.value}"
            assert error["message"] == status.message_vi and error["message_en"] == status.message_en
            health = requests.get(f"{hub.url}/api/v1/printer", timeout=5).json()
            assert health["status"] == status.value and health["can_print"] is False
        assert waiting_total(hub) == 0
        assert totals(hub)["issued"] == 0, "no phantom ticket, not even a cancelled one"
        assert ticket_events(hub.data) == []
        assert b"\x1d\x76\x30" not in fake_printer.received, "no raster data went to the printer"

        fake_printer.state = FakeState.NEAR_END
        r = requests.post(f"{hub.url}{ISSUE}", json={"service": "dat-dai"}, headers=DEVICE, timeout=10)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["number"] == "3001" and body["printed"] is True
        assert body["printer"]["status"] == "paper_near_end"
        assert body["printer"]["warning"] == PrinterStatus.PAPER_NEAR_END.message_vi
        assert fake_printer.wait_for(ticket_bytes(content_of(body)), timeout=5), "the exact bytes went out"
        health = requests.get(f"{hub.url}/api/v1/printer", timeout=5).json()
        assert health["status"] == "paper_near_end" and health["can_print"] is True
        assert health["tickets_printed"] == 1 and health["refusals"] == 4
        deadline = time.monotonic() + 5
        while not any(e["status"] == "paper_near_end" for e in health_events) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(e["status"] == "paper_near_end" for e in health_events), health_events
        assert {e["status"] for e in health_events} >= {"paper_out", "cover_open", "offline", "error"}
    finally:
        threading.Thread(target=client.disconnect, daemon=True).start()  # never wait on the close

    # A real printer cannot be put in a simulated state.
    admin = login(hub.url, "admin")
    r = requests.post(f"{hub.url}/api/v1/printer/simulate", json={"state": "ok"}, headers=admin, timeout=5)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_simulated"


def test_a_print_that_fails_after_issue_leaves_a_cancelled_ticket(hub: HubProcess) -> None:
    manager = login(hub.url, "manager")
    before = totals(hub, manager)
    blocker = hub.data / "printer-spool"
    if blocker.exists():
        blocker.rename(hub.data / "printer-spool.kept")
    blocker.write_bytes(b"")  # a file where the spool folder should be: the write fails
    try:
        r = requests.post(f"{hub.url}{ISSUE}", json={"service": "dat-dai"}, headers=DEVICE, timeout=10)
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "print_failed"
        assert error["details"] == {"number": "3001", "cancelled": True}
        assert "3001" in error["message"] and "hủy" in error["message"]

        assert requests.get(f"{hub.url}/api/v1/state", timeout=5).json()["waiting"]["dat-dai"] == 0
        after = totals(hub, manager)
        # the citizen holds no paper: no visit, no cancellation, one failed print
        assert (after["issued"], after["cancelled"]) == (before["issued"], before["cancelled"])
        assert after["print_failed"] - before["print_failed"] == 1
        ticket_id = ticket_id_by_number(hub.data, "3001")
        kinds = [(kind, data.get("reason")) for kind, data in ticket_events(hub.data, ticket_id)]
        assert kinds == [("issued", None), ("cancelled", "print_failed")]
        assert requests.get(f"{hub.url}/api/v1/tickets/{ticket_id}", timeout=5).json()["status"] == "cancelled"
        health = requests.get(f"{hub.url}/api/v1/printer", timeout=5).json()
        assert health["print_failures"] >= 1 and health["last_error"]["code"] == "print_failed"
        assert "detail" not in health, "technical detail is for staff"
        staff = requests.get(f"{hub.url}/api/v1/printer", headers=manager, timeout=5).json()
        assert "printer-spool" in staff["detail"]
    finally:
        blocker.unlink()
        if (hub.data / "printer-spool.kept").exists():
            (hub.data / "printer-spool.kept").rename(blocker)
    r = requests.post(f"{hub.url}{ISSUE}", json={"service": "dat-dai"}, headers=DEVICE, timeout=10)
    assert r.status_code == 201 and r.json()["number"] == "3002", "a number is never reused"


def test_public_issuing_is_limited_per_screen_but_not_for_devices(hub_factory: Any, tmp_path: Path) -> None:
    config = write_center(tmp_path, kiosk="[kiosk]\npublic_issuing = true\nrate_limit_per_minute = 3\n")
    hub: HubProcess = hub_factory("--demo", "--config", str(config))
    with requests.Session() as screen:
        codes = [screen.post(f"{hub.url}{ISSUE}", json={"service": "tu-phap"}, timeout=10).status_code
                 for _ in range(3)]
        assert codes == [201, 201, 201]
        r = screen.post(f"{hub.url}{ISSUE}", json={"service": "tu-phap"}, timeout=10)
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert "Vui lòng chờ" in r.json()["error"]["message"]
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        # The hub's own public API shares the screen's budget.
        r = screen.post(f"{hub.url}/api/v1/tickets", json={"service": "tu-phap"}, timeout=10)
        assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
        # A device token (and a staff login) is never throttled.
        for _ in range(6):
            assert screen.post(f"{hub.url}{ISSUE}", json={"service": "tu-phap"}, headers=DEVICE,
                               timeout=10).status_code == 201
        staff = login(hub.url, "staff5")
        assert screen.post(f"{hub.url}/api/v1/tickets", json={"service": "tu-phap"}, headers=staff,
                           timeout=10).status_code == 201
    assert requests.get(f"{hub.url}/api/v1/state", timeout=5).json()["waiting"]["tu-phap"] == 10
    status = requests.get(f"{hub.url}/api/v1/kiosk/status", timeout=5).json()
    assert status["authorized"] is True and status["public_issuing"] is True


def test_issuing_needs_a_device_token_unless_public(hub: HubProcess) -> None:
    r = requests.post(f"{hub.url}{ISSUE}", json={"service": "ho-tich"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "device_token_required"
    assert "chưa được cấp quyền" in r.json()["error"]["message"]
    bad = {"Authorization": "Bearer not-a-token"}
    assert requests.post(f"{hub.url}{ISSUE}", json={"service": "ho-tich"}, headers=bad, timeout=10).status_code == 401
    assert requests.get(f"{hub.url}/api/v1/kiosk/status", headers=bad, timeout=5).status_code == 401
    status = requests.get(f"{hub.url}/api/v1/kiosk/status", headers=DEVICE, timeout=5).json()
    assert status["authorized"] is True and status["device"] == "demo-device"
    assert requests.get(f"{hub.url}/api/v1/kiosk/status", timeout=5).json()["authorized"] is False
    for body, code in [({"service": "nha-dat"}, "unknown_service"), ({}, "invalid_field"),
                       ({"service": "ho-tich", "priority_group": "vip"}, "unknown_priority_group"),
                       ({"service": "ho-tich", "extra": 1}, "unknown_field")]:
        r = requests.post(f"{hub.url}{ISSUE}", json=body, headers=DEVICE, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text


def test_reprint_and_simulate(hub: HubProcess) -> None:
    r = requests.post(f"{hub.url}{ISSUE}", json={"service": "ho-tich", "priority": True}, headers=DEVICE, timeout=10)
    ticket = r.json()
    reprint = f"{hub.url}/api/v1/tickets/{ticket['id']}/reprint"
    assert requests.post(reprint, timeout=10).status_code == 401
    staff1 = login(hub.url, "staff1")
    r = requests.post(reprint, headers=staff1, timeout=10)
    assert r.status_code == 200 and r.json()["reprint"] is True and r.json()["number"] == ticket["number"]
    assert requests.post(reprint, headers=DEVICE, timeout=10).status_code == 200
    assert len(list((hub.data / "printer-spool").glob(f"{ticket['number']}-*.bin"))) == 3
    assert requests.get(f"{hub.url}/api/v1/printer", timeout=5).json()["reprints"] == 2
    assert requests.post(f"{hub.url}/api/v1/tickets/nope/reprint", headers=staff1, timeout=10).status_code == 404

    # The simulated printer's state: admin only; faults refuse issuing and reprinting alike.
    simulate = f"{hub.url}/api/v1/printer/simulate"
    assert requests.post(simulate, json={"state": "paper_out"}, headers=staff1, timeout=5).status_code == 403
    press = f"{hub.url}/api/v1/buttons/press"
    r = requests.post(press, json={"pin": 17}, headers=staff1, timeout=5)
    assert r.status_code == 403 and "quản trị viên" in r.json()["error"]["message"]
    assert requests.post(press, json={"pin": 17}, timeout=5).status_code == 401
    admin = login(hub.url, "admin")
    assert requests.post(simulate, json={"state": "jammed"}, headers=admin, timeout=5).status_code == 400
    r = requests.post(simulate, json={"state": "paper_out"}, headers=admin, timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "paper_out"
    r = requests.post(reprint, headers=staff1, timeout=10)
    assert r.status_code == 503 and r.json()["error"]["code"] == "printer_paper_out"
    r = requests.post(f"{hub.url}{ISSUE}", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
    assert r.status_code == 503 and r.json()["error"]["message"] == PrinterStatus.PAPER_OUT.message_vi
    requests.post(simulate, json={"state": "ok"}, headers=admin, timeout=5)

    requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff1, timeout=5)
    requests.post(f"{hub.url}/api/v1/counters/1/finish", json={"outcome": "guidance"}, headers=staff1, timeout=5)
    r = requests.post(reprint, headers=staff1, timeout=10)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_reprintable"
    assert requests.get(f"{hub.url}/api/v1/state", timeout=5).json()["waiting"]["ho-tich"] == 0


@pytest.mark.parametrize(
    ("printer", "key"),
    [('[printer]\nkind = "network"\n', "printer.host"),
     ('[printer]\nkind = "simulated"\nsimulate = "jammed"\n', "printer.simulate"),
     ('[printer]\nkind = "network"\nhost = "10.0.0.9"\nsimulate = "ok"\n', "printer.simulate"),
     ('[printer]\nkind = "laser"\n', "printer.kind"),
     ('[printer]\nkind = "simulated"\npoll_seconds = -1\n', "printer.poll_seconds")],
)
def test_a_bad_printer_config_names_the_key(tmp_path: Path, printer: str, key: str) -> None:
    from queue_server.app import create_hub
    from queue_server.config import ConfigError, load_config

    with pytest.raises(ConfigError) as err:
        create_hub(load_config(write_center(tmp_path, printer)), tmp_path / "data")
    assert err.value.key == key and "center.toml" in str(err.value)


def test_the_cli_stops_on_a_bad_printer_config(tmp_path: Path) -> None:
    config = write_center(tmp_path, '[printer]\nkind = "network"\n')
    run = subprocess.run([sys.executable, "-m", "queue_server", "--demo", "--config", str(config),
                          "--data", str(tmp_path / "data"), "--port", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert run.returncode == 2, run.stderr
    assert "printer.host" in run.stderr and "Traceback" not in run.stderr
