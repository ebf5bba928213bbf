"""PUT /api/v1/devices/health (a bridge's device token) and GET /api/v1/devices (manager, admin):
the shape the manager page reads, bad reports refused with a bilingual reason and nothing kept."""

from __future__ import annotations

import requests

from tests.conftest import DEVICE, login

REPORT = {
    "bridge": {"id": "bridge", "reported_at": "2026-12-01T00:00:00+00:00", "hub_reachable": True,
               "queued_presses": 0, "queue_max": 1000, "refused_presses": 0, "error": None,
               "buses": [{"name": "bus1", "port": "/dev/ttyUSB0", "baud": 9600}]},
    "devices": [{"id": "bus1/1", "bus": "bus1", "unit": 1, "kind": "counter-terminal", "counter": 1,
                 "name": "bus1/1", "online": True, "last_seen": "2026-12-01T00:00:00+00:00",
                 "frames_ok": 120, "frames_bad": 2, "timeouts": 1, "exceptions": 0, "rtt_ms": 31.5,
                 "error": None, "firmware": "1.2", "serial": "1234abcd", "pending_events": 0,
                 "overflows": 0, "line_noise": 7}],
}


def test_a_report_is_served_to_managers_in_the_documented_shape(hub) -> None:  # type: ignore[no-untyped-def]
    r = requests.put(f"{hub.url}/api/v1/devices/health", json=REPORT, headers=DEVICE, timeout=10)
    assert r.status_code == 200, r.text
    view = requests.get(f"{hub.url}/api/v1/devices", headers=login(hub.url, "manager"), timeout=10).json()
    (bridge,) = view["bridges"]
    assert bridge["id"] == "bridge" and bridge["hub_reachable"] is True and bridge["stale"] is False
    assert bridge["reported_at"] == REPORT["bridge"]["reported_at"] and bridge["received_at"]
    (dev,) = view["devices"]
    for key in ("id", "bus", "unit", "kind", "counter", "online", "last_seen", "frames_ok",
                "frames_bad", "timeouts", "exceptions", "rtt_ms", "error"):
        assert dev[key] == REPORT["devices"][0][key], key
    assert dev["bridge"] == "bridge"


def test_who_may_read_and_report(hub) -> None:  # type: ignore[no-untyped-def]
    staff = login(hub.url, "staff1")
    assert requests.get(f"{hub.url}/api/v1/devices", headers=staff, timeout=10).status_code == 403
    assert requests.get(f"{hub.url}/api/v1/devices", headers=DEVICE, timeout=10).status_code == 403
    assert requests.get(f"{hub.url}/api/v1/devices", timeout=10).status_code == 401
    assert requests.put(f"{hub.url}/api/v1/devices/health", json=REPORT, timeout=10).status_code == 401
    assert requests.put(f"{hub.url}/api/v1/devices/health", json=REPORT,
                        headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401


def test_bad_reports_are_refused_and_change_nothing(hub) -> None:  # type: ignore[no-untyped-def]
    manager = login(hub.url, "manager")
    bad_reports = [
        {**REPORT, "devices": [{**REPORT["devices"][0], "unit": 300}]},
        {**REPORT, "devices": [{**REPORT["devices"][0], "kind": "toaster"}]},
        {**REPORT, "devices": [{**REPORT["devices"][0], "frames_ok": -1}]},
        {**REPORT, "bridge": {**REPORT["bridge"], "id": "Bad Id"}},
        {"bridge": REPORT["bridge"]},
        {**REPORT, "extra": 1},
    ]
    for body in bad_reports:
        r = requests.put(f"{hub.url}/api/v1/devices/health", json=body, headers=DEVICE, timeout=10)
        assert r.status_code == 400, (body, r.text)
        err = r.json()["error"]
        assert err["message"] and err["message_en"]
    r = requests.put(f"{hub.url}/api/v1/devices/health", data=b"\xff\xfe", headers={**DEVICE, "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400
    assert requests.get(f"{hub.url}/api/v1/devices", headers=manager, timeout=10).json() == {"bridges": [], "devices": []}


def test_a_silent_bridge_turns_stale_and_its_devices_offline() -> None:
    from queue_server.devices import STALE_S, DeviceHealthBoard
    now = [1000.0]
    board = DeviceHealthBoard(clock=lambda: now[0])
    assert board.report(REPORT)
    assert board.view()["devices"][0]["online"] is True
    now[0] += STALE_S + 1
    view = board.view()
    assert view["bridges"][0]["stale"] is True
    assert view["devices"][0]["online"] is False and "silent" in view["devices"][0]["error"]


def test_a_device_error_quoting_whole_frames_still_reaches_the_hub(hub) -> None:  # type: ignore[no-untyped-def]
    """minimalmodbus quotes whole frames in its messages; a report carrying one was refused (400:
    longer than 300 characters), so health went stale exactly while devices failed."""
    from firmware_bridge.master import ERROR_TEXT_MAX, Health

    frame = "\\x01\\x03\\x16" * 60
    message = f"Checksum error in rtu mode: 'ab' instead of 'cd' . The response is: '{frame}'\n(plain: {frame})"
    failing = Health(online=False, frames_bad=137, error=message).as_json()
    assert len(failing["error"]) <= ERROR_TEXT_MAX and failing["error"].startswith("Checksum error in rtu mode")
    report = {**REPORT, "devices": [{**REPORT["devices"][0], **failing}]}
    r = requests.put(f"{hub.url}/api/v1/devices/health", json=report, headers=DEVICE, timeout=10)
    assert r.status_code == 200, r.text
    (dev,) = requests.get(f"{hub.url}/api/v1/devices", headers=login(hub.url, "manager"), timeout=10).json()["devices"]
    assert dev["online"] is False and dev["error"] == failing["error"]
