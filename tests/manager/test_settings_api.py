"""Configuration in the browser, over HTTP against a real hub (queue_server/settings.py): the
file's rules refuse bad input with a 4xx and nothing changes; a good change is in effect at once
(kiosk services, display state, logins), survives a restart, and is in the audit log."""

from __future__ import annotations

import copy
import sqlite3
from typing import Any

import pytest
import requests

from tests.conftest import DEVICE, HubProcess, login


def config_of(hub: HubProcess, admin: dict[str, str]) -> dict[str, Any]:
    r = requests.get(f"{hub.url}/api/v1/config", headers=admin, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def put(hub: HubProcess, who: dict[str, str], section: str, value: Any) -> requests.Response:
    return requests.put(f"{hub.url}/api/v1/config/{section}", json={"value": value}, headers=who, timeout=10)


def names(hub: HubProcess) -> dict[str, str]:
    services = requests.get(f"{hub.url}/api/v1/services", timeout=10).json()["services"]
    return {s["id"]: s["name"] for s in services}


def audit(hub: HubProcess, who: dict[str, str]) -> list[dict[str, Any]]:
    r = requests.get(f"{hub.url}/api/v1/config/audit", headers=who, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def test_rename_is_live_survives_restart_and_is_audited(hub: HubProcess) -> None:
    admin = login(hub.url, "admin")
    fields = config_of(hub, admin)["sections"]["fields"]
    before = copy.deepcopy(fields)
    fields[0]["name"] = "Hộ tịch – Quốc tịch"
    r = put(hub, admin, "fields", fields)
    assert r.status_code == 200, r.text
    assert r.json()["from_browser"] == ["fields"]
    # the kiosk's services and the displays' state carry the new name without a restart
    assert names(hub)["ho-tich"] == "Hộ tịch – Quốc tịch"
    state = requests.get(f"{hub.url}/api/v1/state", timeout=10).json()
    assert {s["id"]: s["name"] for s in state["services"]}["ho-tich"] == "Hộ tịch – Quốc tịch"
    # a ticket of that field is printed and shown with the new name
    ticket = requests.post(f"{hub.url}/api/v1/kiosk/tickets", json={"service": "ho-tich"},
                           headers=DEVICE, timeout=10)
    assert ticket.status_code == 201, ticket.text
    assert ticket.json()["service_name"] == "Hộ tịch – Quốc tịch"

    entry = audit(hub, login(hub.url, "manager"))[0]  # managers read the log too
    assert (entry["actor"], entry["action"], entry["target"]) == ("admin", "replace", "fields")
    assert entry["before"] == before and entry["after"] == fields

    hub.restart()
    assert names(hub)["ho-tich"] == "Hộ tịch – Quốc tịch"
    admin = login(hub.url, "admin")
    assert config_of(hub, admin)["from_browser"] == ["fields"]
    # back to the file: the file's name again, and that is audited as well
    r = requests.delete(f"{hub.url}/api/v1/config/fields", headers=admin, timeout=10)
    assert r.status_code == 200 and r.json()["from_browser"] == []
    assert names(hub)["ho-tich"] == "Hộ tịch"
    assert audit(hub, admin)[0]["action"] == "revert_to_file"


BAD_CHANGES = [
    # (section, value, what the refusal names)
    ("fields", [{"id": "Ho Tich", "name": "Hộ tịch"}], "fields[0].id"),
    ("fields", [{"id": "ho-tich", "name": "  "}], "fields[0].name"),
    ("fields", [{"id": "ho-tich", "name": "A", "prefix": "abc"}], "fields[0].prefix"),
    ("fields", [{"id": "ho-tich", "name": "A", "colour": "red"}], "fields[0].colour"),
    ("fields", [], "fields"),
    ("counters", [{"number": 1, "fields": ["no-such-field"]}], "counters[0].fields"),
    ("counters", [{"number": 1, "fields": [{"a": 1}]}], "counters[0].fields"),
    ("counters", [{"number": 1, "fields": ["ho-tich"]}, {"number": 1, "fields": ["ho-tich"]}], "counters[1].number"),
    ("counters", [{"number": 0, "fields": ["ho-tich"]}], "counters[0].number"),
    ("hours", {"sat": ["11:30-07:30"]}, "hours.sat"),
    ("hours", {"mon": ["07:30-11:30", "11:00-12:00"]}, "hours.mon"),
    ("hours", {"sat": "07:30-11:30"}, "hours.sat"),
    ("hours", {"closed_dates": ["2026-13-01"]}, "hours.closed_dates"),
    ("ratings", {"levels": ["Tốt", "", "Kém"]}, "ratings.levels"),
    ("ratings", {"levels": ["Tốt", "Được", "Kém"], "window_minutes": 0}, "ratings.window_minutes"),
]


@pytest.mark.parametrize(("section", "value", "key"), BAD_CHANGES)
def test_bad_configuration_is_refused_and_changes_nothing(hub: HubProcess, section: str, value: Any,
                                                          key: str) -> None:
    admin = login(hub.url, "admin")
    before = config_of(hub, admin)
    services = names(hub)
    r = put(hub, admin, section, value)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_config"
    assert key in error["message"] and key in error["message_en"]
    assert "không hợp lệ" in error["message"]
    assert config_of(hub, admin) == before and names(hub) == services
    assert audit(hub, admin) == []


def test_malformed_requests_are_4xx(hub: HubProcess) -> None:
    admin = login(hub.url, "admin")
    url = f"{hub.url}/api/v1/config"
    cases = [
        requests.put(f"{url}/fields", data=b"{", headers={**admin, "Content-Type": "application/json"}, timeout=10),
        requests.put(f"{url}/fields", json={"value": "x"}, headers=admin, timeout=10),
        requests.put(f"{url}/fields", json={"value": [], "extra": 1}, headers=admin, timeout=10),
        requests.put(f"{url}/fields", headers=admin, timeout=10),
        requests.put(f"{url}/server", json={"value": {}}, headers=admin, timeout=10),
        requests.put(f"{url}/staff", json={"value": []}, headers=admin, timeout=10),
        requests.delete(f"{url}/nonsense", headers=admin, timeout=10),
        requests.post(f"{url}/staff", json={"username": "x y", "role": "staff", "password": "12345678"}, headers=admin, timeout=10),
        requests.post(f"{url}/staff", json={"username": "new1", "role": "boss", "password": "12345678"}, headers=admin, timeout=10),
        requests.post(f"{url}/staff", json={"username": "new1", "role": "staff", "password": "short"}, headers=admin, timeout=10),
        requests.post(f"{url}/staff", json={"username": "new1", "role": "staff", "password": "12345678"}, headers=admin, timeout=10),  # no counter
        requests.post(f"{url}/staff", json={"username": "new1", "role": "staff", "counter": 99, "password": "12345678"}, headers=admin, timeout=10),
        requests.post(f"{url}/staff", json={"username": "staff1", "role": "staff", "counter": 1, "password": "12345678"}, headers=admin, timeout=10),
        requests.patch(f"{url}/staff/nobody", json={"disabled": True}, headers=admin, timeout=10),
        requests.patch(f"{url}/staff/staff1", json={}, headers=admin, timeout=10),
        requests.patch(f"{url}/staff/staff1", json={"counter": 42}, headers=admin, timeout=10),
        requests.get(f"{url}/audit?limit=abc", headers=admin, timeout=10),
        requests.get(f"{hub.url}/api/v1/forecast?share=1.5", headers=admin, timeout=10),
        requests.get(f"{hub.url}/api/v1/forecast?weeks=0", headers=admin, timeout=10),
        requests.get(f"{hub.url}/api/v1/forecast?target_min=nan", headers=admin, timeout=10),
        requests.get(f"{hub.url}/api/v1/forecast?weeks=%ED%A0%80", headers=admin, timeout=10),
        requests.get(f"{url}/audit?limit=99999999999999999999999", headers=admin, timeout=10),
        requests.patch(f"{url}/staff/%ED%A0%80", json={"disabled": True}, headers=admin, timeout=10),
        requests.put(f"{url}/%ED%A0%80", json={"value": []}, headers=admin, timeout=10),
    ]
    for r in cases:
        assert 400 <= r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text)
        error = r.json()["error"]
        assert error["message"] and error["message_en"], r.text
    assert audit(hub, admin) == []
    assert requests.post(f"{hub.url}/api/v1/auth/login", json={"username": "new1", "password": "12345678"},
                         timeout=10).status_code == 401


def test_who_may_see_and_change(hub: HubProcess) -> None:
    staff, manager = login(hub.url, "staff1"), login(hub.url, "manager")
    for who, expected in ((None, 401), (staff, 403), (manager, 403)):
        headers = who or {}
        assert requests.get(f"{hub.url}/api/v1/config", headers=headers, timeout=10).status_code == expected
        assert put(hub, headers, "fields", [{"id": "a", "name": "A"}]).status_code == expected
    for who, expected in ((None, 401), (staff, 403), (manager, 200)):
        headers = who or {}
        assert requests.get(f"{hub.url}/api/v1/manager/hall", headers=headers, timeout=10).status_code == expected
        assert requests.get(f"{hub.url}/api/v1/forecast", headers=headers, timeout=10).status_code == expected
        assert requests.get(f"{hub.url}/api/v1/config/audit", headers=headers, timeout=10).status_code == expected


def test_staff_accounts_create_disable_reset(hub: HubProcess) -> None:
    admin = login(hub.url, "admin")
    url = f"{hub.url}/api/v1/config/staff"
    r = requests.post(url, json={"username": "staff7", "name": "Nguyễn Thị Bảy", "role": "staff", "counter": 3,
                                 "password": "mat-khau-7"}, headers=admin, timeout=10)
    assert r.status_code == 201, r.text
    assert "password_hash" not in r.json()
    seven = login(hub.url, "staff7", "mat-khau-7")
    assert requests.post(f"{hub.url}/api/v1/counters/3/resume", headers=seven, timeout=10).status_code == 200
    assert requests.post(f"{hub.url}/api/v1/counters/1/resume", headers=seven, timeout=10).status_code == 403

    r = requests.patch(f"{url}/staff7", json={"disabled": True}, headers=admin, timeout=10)
    assert r.status_code == 200 and r.json()["disabled"] is True
    # its login and the token it already holds are refused at once
    assert requests.post(f"{hub.url}/api/v1/auth/login", json={"username": "staff7", "password": "mat-khau-7"},
                         timeout=10).status_code == 401
    assert requests.post(f"{hub.url}/api/v1/counters/3/resume", headers=seven, timeout=10).status_code == 401

    assert requests.patch(f"{url}/staff7", json={"disabled": False}, headers=admin, timeout=10).status_code == 200
    r = requests.post(f"{url}/staff7/password", json={"password": "mat-khau-moi"}, headers=admin, timeout=10)
    assert r.status_code == 200, r.text
    assert requests.post(f"{hub.url}/api/v1/auth/login", json={"username": "staff7", "password": "mat-khau-7"},
                         timeout=10).status_code == 401
    login(hub.url, "staff7", "mat-khau-moi")

    entries = audit(hub, admin)
    assert [(e["action"], e["target"]) for e in entries] == [
        ("reset_password", "staff7"), ("enable_account", "staff7"), ("disable_account", "staff7"),
        ("create_account", "staff7")]
    assert "hash" not in str(entries) and "mat-khau" not in str(entries)
    staff = {a["username"]: a for a in config_of(hub, admin)["sections"]["staff"]}
    assert staff["staff7"]["name"] == "Nguyễn Thị Bảy" and "password_hash" not in staff["staff7"]
    hub.restart()
    login(hub.url, "staff7", "mat-khau-moi")


def test_rules_the_running_hub_cannot_take(hub: HubProcess) -> None:
    admin = login(hub.url, "admin")
    sections = config_of(hub, admin)["sections"]
    # rating labels can be renamed, their number is fixed while running
    ratings = {"levels": ["Rất hài lòng", "Hài lòng", "Chưa hài lòng", "Không hài lòng"]}
    r = put(hub, admin, "ratings", ratings)
    assert r.status_code == 400 and r.json()["error"]["code"] == "rating_levels_count"
    assert put(hub, admin, "ratings", {"levels": ["Rất hài lòng", "Hài lòng", "Không hài lòng"]}).status_code == 200
    assert requests.get(f"{hub.url}/rate/1", timeout=10).text.count("Không hài lòng") >= 1
    # a field with citizens waiting today cannot be removed; once nobody waits, it can
    assert requests.post(f"{hub.url}/api/v1/tickets", json={"service": "tu-phap"}, headers=DEVICE,
                         timeout=10).status_code == 201
    fields = [f for f in sections["fields"] if f["id"] != "tu-phap"]
    counters = [{**c, "fields": [f for f in c["fields"] if f != "tu-phap"]} for c in sections["counters"]]
    assert put(hub, admin, "counters", counters).status_code == 200
    r = put(hub, admin, "fields", fields)
    assert r.status_code == 409 and r.json()["error"]["code"] == "field_in_use", r.text
    assert "tu-phap" in names(hub)


def test_hours_and_saturday_sessions_take_effect_and_are_stored(hub: HubProcess) -> None:
    admin = login(hub.url, "admin")
    closed = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    assert put(hub, admin, "hours", closed).status_code == 200
    services = requests.get(f"{hub.url}/api/v1/services", timeout=10).json()["services"]
    assert not any(s["issuing"] for s in services)
    r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
    assert r.status_code == 409, r.text

    hours = {**{day: ["00:00-23:59"] for day in closed}, "sat": ["00:00-11:30", "12:00-23:59"]}
    r = put(hub, admin, "hours", hours)
    assert r.status_code == 200, r.text
    assert config_of(hub, admin)["sections"]["hours"] == hours
    db = sqlite3.connect(hub.data / "queue.sqlite3")
    try:
        stored = db.execute("SELECT section, updated_by FROM config_sections").fetchall()
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM config_audit")
    finally:
        db.close()
    assert stored == [("hours", "admin")]


TWO_FIELDS = """
[center]
name = "Trung tâm Phục vụ hành chính công xã Kim Thành"

[[fields]]
id = "ho-tich"
name = "Hộ tịch"

[[fields]]
id = "dat-dai"
name = "Đất đai"

[[counters]]
number = 1
fields = ["ho-tich", "dat-dai"]
"""


def test_a_saved_section_the_file_no_longer_fits_falls_back_to_the_file(hub_factory: Any, tmp_path: Any) -> None:
    """The browser's counters serve a field the file later drops: the hub still starts, with the
    file's counters, says why in its log, and keeps the other sections saved in the browser."""
    config = tmp_path / "center.toml"
    config.write_text(TWO_FIELDS, encoding="utf-8")
    hub = hub_factory("--demo", "--config", str(config))
    admin = login(hub.url, "admin")
    counters = [{"number": 1, "name": "Quầy Đất đai", "fields": ["dat-dai"]}]
    assert put(hub, admin, "counters", counters).status_code == 200
    assert put(hub, admin, "ratings", {"levels": ["Tốt", "Được", "Chưa tốt"]}).status_code == 200
    assert requests.get(f"{hub.url}/api/v1/counters", timeout=10).json()["counters"][0]["name"] == "Quầy Đất đai"

    config.write_text(TWO_FIELDS.replace('[[fields]]\nid = "dat-dai"\nname = "Đất đai"\n', "")
                      .replace('["ho-tich", "dat-dai"]', '["ho-tich"]'), encoding="utf-8")
    hub.restart()
    admin = login(hub.url, "admin")
    # the counters fall back to the file's; the ratings, which still fit, stay the browser's
    assert config_of(hub, admin)["from_browser"] == ["ratings"]
    assert requests.get(f"{hub.url}/api/v1/counters", timeout=10).json()["counters"][0]["name"] == "Quầy 1"
    assert "Chưa tốt" in requests.get(f"{hub.url}/rate/1", timeout=10).text
    assert [e["target"] for e in audit(hub, admin)] == ["ratings", "counters"]
    log = (hub.data.parent / f"hub-{hub.port}.log").read_text(encoding="utf-8")
    assert "the counters saved in the browser no longer fit the config file" in log
    assert "counters[0].fields" in log


def test_the_last_admin_cannot_be_disabled(hub: HubProcess) -> None:
    admin = login(hub.url, "admin")
    url = f"{hub.url}/api/v1/config/staff"
    for change in ({"disabled": True}, {"role": "manager"}):
        r = requests.patch(f"{url}/admin", json=change, headers=admin, timeout=10)
        assert r.status_code == 409 and r.json()["error"]["code"] == "last_admin", r.text
    # with a second admin, the first may step down
    assert requests.post(url, json={"username": "admin2", "role": "admin", "password": "mat-khau-2"},
                         headers=admin, timeout=10).status_code == 201
    assert requests.patch(f"{url}/admin", json={"disabled": True}, headers=admin, timeout=10).status_code == 200
    assert requests.get(f"{hub.url}/api/v1/config", headers=admin, timeout=10).status_code == 401
    login(hub.url, "admin2", "mat-khau-2")
