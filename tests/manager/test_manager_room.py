"""The manager-only Socket.IO room (queue_server/hall.py) against a real hub with
python-socketio clients: a manager's token joins it and gets the live hall as it changes; an
anonymous client, a bad token and a staff token are refused and never get a `hall` event."""

from __future__ import annotations

from typing import Any

import requests

from tests.conftest import DEVICE, HubProcess, login
from tests.hub.test_hub_server import Listener


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]


def counter(picture: dict[str, Any], n: int) -> dict[str, Any]:
    return next(c for c in picture["counters"] if c["counter"] == n)


def test_only_managers_get_the_hall(hub: HubProcess) -> None:
    staff1 = login(hub.url, "staff1")
    anonymous, bad, staff, manager = (Listener(hub.url) for _ in range(4))
    try:
        anonymous.client.emit("manager_join", {})
        bad.client.emit("manager_join", {"token": "not-a-token"})
        staff.client.emit("manager_join", {"token": token_of(staff1)})
        manager.client.emit("manager_join", {"token": token_of(login(hub.url, "manager"))})
        assert anonymous.wait_for("error")[0]["code"] == "login_required"
        assert bad.wait_for("error")[0]["code"] == "bad_token"
        refusal = staff.wait_for("error")[0]
        assert refusal["code"] == "forbidden" and refusal["message"] and refusal["message_en"]

        first = manager.wait_for("hall")[0]
        assert counter(first, 1)["state"] == "idle"
        assert counter(first, 1)["staff"] == [{"username": "staff1", "name": "Cán bộ quầy 1", "logged_in": True}]

        # a staff action through the API: the manager sees counter 1 serving, with who serves
        issued = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
        assert issued.status_code == 201
        call = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff1, timeout=10)
        assert call.status_code == 200, call.text
        serving = manager.wait_until("hall", lambda p: counter(p, 1)["state"] == "serving")
        one = counter(serving, 1)
        assert one["current"]["number"] == issued.json()["number"]
        assert one["serving_staff"] == "staff1" and one["serving_staff_name"] == "Cán bộ quầy 1"
        assert serving["totals"]["issued"] == 1

        # the others were connected all along: they got the public call, never the hall
        for client in (anonymous, bad, staff):
            client.wait_for("ticket_called")
            assert client.of("hall") == []
    finally:
        for client in (anonymous, bad, staff, manager):
            client.close()


def test_pause_and_waiting_reach_the_hall(hub: HubProcess) -> None:
    manager = Listener(hub.url)
    try:
        manager.client.emit("manager_join", {"token": token_of(login(hub.url, "admin"))})
        manager.wait_for("hall")
        for _ in range(2):
            assert requests.post(f"{hub.url}/api/v1/tickets", json={"service": "dat-dai"}, headers=DEVICE,
                                 timeout=10).status_code == 201
        staff3 = login(hub.url, "staff3")
        r = requests.post(f"{hub.url}/api/v1/counters/3/pause", json={"reason": "meeting", "minutes": 30},
                          headers=staff3, timeout=10)
        assert r.status_code == 200, r.text
        picture = manager.wait_until("hall", lambda p: counter(p, 3)["state"] == "paused")
        three = counter(picture, 3)
        assert three["pause_reason"] == "meeting" and three["pause_label"] == "Họp đột xuất"
        assert three["paused_until"] is not None
        land = next(f for f in picture["fields"] if f["id"] == "dat-dai")
        assert land["waiting"] == 2 and land["oldest_issued_at"] is not None
        assert picture["totals"]["waiting"] == 2
        # one of them called at counter 4: one citizen still waits to be called
        assert requests.post(f"{hub.url}/api/v1/counters/4/next", headers=login(hub.url, "staff4"),
                             timeout=10).status_code == 200
        picture = manager.wait_until("hall", lambda p: counter(p, 4)["state"] == "serving")
        assert next(f for f in picture["fields"] if f["id"] == "dat-dai")["waiting"] == 1
        assert picture["totals"]["waiting"] == 1 and picture["totals"]["issued"] == 2
        assert picture["printers"] and picture["printers"][0]["can_print"] is True
    finally:
        manager.close()


def test_a_configuration_change_reaches_every_display_at_once(hub: HubProcess) -> None:
    """A renamed field and a new counter in a new zone: every connected display gets the new
    `state` without reconnecting, and the new zone's room can be joined and gets its events."""
    everyone = Listener(hub.url)
    try:
        everyone.wait_for("state")
        admin = login(hub.url, "admin")
        sections = requests.get(f"{hub.url}/api/v1/config", headers=admin, timeout=10).json()["sections"]
        fields = [{**f, "name": "Đất đai – Môi trường"} if f["id"] == "dat-dai" else f for f in sections["fields"]]
        assert requests.put(f"{hub.url}/api/v1/config/fields", json={"value": fields}, headers=admin,
                            timeout=10).status_code == 200
        renamed = everyone.wait_until("state", lambda s: any(
            x["name"] == "Đất đai – Môi trường" for x in s["services"]))
        assert len(renamed["counters"]) == 6

        counters = [*sections["counters"], {"number": 7, "name": "Quầy 7", "fields": ["dat-dai"], "zone": "tang-2"}]
        assert requests.put(f"{hub.url}/api/v1/config/counters", json={"value": counters}, headers=admin,
                            timeout=10).status_code == 200
        everyone.wait_until("state", lambda s: len(s["counters"]) == 7)
        upstairs = Listener(hub.url, auth={"zone": "tang-2"})
        try:
            zone_state = upstairs.wait_for("state")[0]
            assert [c["counter"] for c in zone_state["counters"]] == [7]
            assert requests.post(f"{hub.url}/api/v1/tickets", json={"service": "dat-dai"}, headers=DEVICE,
                                 timeout=10).status_code == 201
            assert requests.post(f"{hub.url}/api/v1/counters/7/next", headers=admin, timeout=10).status_code == 200
            call = upstairs.wait_for("ticket_called")[0]
            assert call["counter"] == 7 and call["zone"] == "tang-2"
            upstairs.wait_until("queue_changed", lambda q: q["waiting"].get("dat-dai") == 0)
        finally:
            upstairs.close()
    finally:
        everyone.close()


def test_a_logout_ends_the_pictures(hub: HubProcess) -> None:
    """The room is rechecked before each picture: a manager who logged out (or was disabled, or
    whose login expired) gets no more, while another manager still does."""
    leaving, staying = Listener(hub.url), Listener(hub.url)
    try:
        leaving_token = login(hub.url, "manager")
        leaving.client.emit("manager_join", {"token": token_of(leaving_token)})
        staying.client.emit("manager_join", {"token": token_of(login(hub.url, "admin"))})
        leaving.wait_for("hall")
        staying.wait_for("hall")
        assert requests.post(f"{hub.url}/api/v1/auth/logout", headers=leaving_token, timeout=10).status_code == 200
        before = len(leaving.of("hall"))
        assert requests.post(f"{hub.url}/api/v1/tickets", json={"service": "tu-phap"}, headers=DEVICE,
                             timeout=10).status_code == 201
        staying.wait_until("hall", lambda p: p["totals"]["issued"] == 1)
        # one round trip on the leaving socket: a picture sent to it would have arrived before
        states = len(leaving.of("state"))
        leaving.client.emit("sync", {})
        leaving.wait_for("state", states + 1)
        assert len(leaving.of("hall")) == before
    finally:
        leaving.close()
        staying.close()
