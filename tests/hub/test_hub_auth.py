"""Who may act on which ticket, over HTTP against a real hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from queue_server.demo import demo_config_text
from tests.conftest import DEVICE, HubProcess, login



def issue(hub: HubProcess, service: str) -> dict[str, Any]:
    r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": service}, headers=DEVICE, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def status_of(hub: HubProcess, ticket_id: str) -> str:
    return requests.get(f"{hub.url}/api/v1/tickets/{ticket_id}", timeout=10).json()["status"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ ticket actions
def test_staff_cannot_cancel_or_requeue_another_counters_ticket(hub: HubProcess) -> None:
    staff1, staff2, manager = login(hub.url, "staff1"), login(hub.url, "staff2"), login(hub.url, "manager")
    first = issue(hub, "ho-tich")
    r = requests.post(f"{hub.url}/api/v1/counters/2/next", headers=staff2, timeout=10)
    assert r.status_code == 200 and r.json()["id"] == first["id"]

    # the issue's case: staff1 cancels the ticket counter 2 is serving
    r = requests.post(f"{hub.url}/api/v1/tickets/{first['id']}/cancel", headers=staff1, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "foreign_counter"
    assert r.json()["error"]["message"] and r.json()["error"]["message_en"]
    assert status_of(hub, first["id"]) == "called", "a refused cancel changes nothing"

    # a no-show at counter 2 is counter 2's to put back
    r = requests.post(f"{hub.url}/api/v1/counters/2/no-show", headers=staff2, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "no_show"
    r = requests.post(f"{hub.url}/api/v1/tickets/{first['id']}/requeue", headers=staff1, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "foreign_counter"
    assert status_of(hub, first["id"]) == "no_show"
    r = requests.post(f"{hub.url}/api/v1/tickets/{first['id']}/requeue", headers=staff2, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "waiting"

    # a waiting ticket belongs to the counters serving its field: land (dat-dai) is not counter 1's
    land = issue(hub, "dat-dai")
    r = requests.post(f"{hub.url}/api/v1/tickets/{land['id']}/cancel", headers=staff1, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "foreign_ticket"
    assert status_of(hub, land["id"]) == "waiting"
    # … civil status (ho-tich) is, and the manager may cancel anything
    r = requests.post(f"{hub.url}/api/v1/tickets/{first['id']}/cancel", headers=staff1,
                      json={"reason": "left"}, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = requests.post(f"{hub.url}/api/v1/tickets/{land['id']}/cancel", headers=manager, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_a_ticket_transferred_to_a_counter_is_that_counters(hub: HubProcess) -> None:
    staff1, staff3 = login(hub.url, "staff1"), login(hub.url, "staff3")
    ticket = issue(hub, "ho-tich")
    assert requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff1, timeout=10).status_code == 200
    r = requests.post(f"{hub.url}/api/v1/counters/1/transfer", headers=staff1, json={"counter": 3}, timeout=10)
    assert r.status_code == 200 and r.json()["target_counter"] == 3
    r = requests.post(f"{hub.url}/api/v1/tickets/{ticket['id']}/cancel", headers=staff1, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "foreign_counter"
    r = requests.post(f"{hub.url}/api/v1/tickets/{ticket['id']}/cancel", headers=staff3, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_a_kiosk_token_without_the_counter_scope_cannot_cancel(hub_factory: Any, tmp_path: Path) -> None:
    # sha256("kiosk-only") and sha256("rating-box-1"): a kiosk (issue) and a rating box for counter 1
    extra = """
[[devices]]
id = "kiosk-hall"
token_sha256 = "{kiosk}"
scopes = ["issue"]

[[devices]]
id = "rating-box-1"
kind = "rating-box"
token_sha256 = "{box}"
scopes = ["rate"]
counters = [1]
"""
    import hashlib

    sha = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in (("kiosk", "kiosk-only"), ("box", "rating-box-1"))}
    path = tmp_path / "center.toml"
    path.write_text(demo_config_text() + extra.format(**sha), encoding="utf-8")
    hub = hub_factory("--demo", "--config", str(path))
    kiosk = {"Authorization": "Bearer kiosk-only"}
    box = {"Authorization": "Bearer rating-box-1"}
    r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=kiosk, timeout=10)
    assert r.status_code == 201
    ticket = r.json()
    r = requests.post(f"{hub.url}/api/v1/tickets/{ticket['id']}/cancel", headers=kiosk, timeout=10)
    assert r.status_code == 403 and status_of(hub, ticket["id"]) == "waiting"

    # the rating box of counter 1 rates counter 1's visits, not counter 2's
    staff2 = login(hub.url, "staff2")
    assert requests.post(f"{hub.url}/api/v1/counters/2/next", headers=staff2, timeout=10).status_code == 200
    r = requests.post(f"{hub.url}/api/v1/counters/2/finish", headers=staff2, json={"outcome": "received"}, timeout=10)
    assert r.status_code == 200
    r = requests.post(f"{hub.url}/api/v1/counters/2/rating", headers=box, json={"level": 4}, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "foreign_counter"
    r = requests.post(f"{hub.url}/api/v1/counters/1/rating", headers=box, json={"level": 1}, timeout=10)
    assert r.status_code == 409 and r.json()["error"]["code"] == "nothing_to_rate"  # allowed, nothing there
    r = requests.post(f"{hub.url}/api/v1/counters/2/rating", headers=DEVICE, json={"level": 1}, timeout=10)
    assert r.status_code == 201, "a device with every counter may rate counter 2"
