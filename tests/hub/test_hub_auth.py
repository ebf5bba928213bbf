"""Who may act on which ticket, and the login guards, over HTTP against a real hub.

Failed logins are throttled per username and per client address (429 with Retry-After), an admin
lifts a lockout, lockouts survive a restart, and issuing tickets keeps working while logins are
hammered. Requests "from another machine" leave from 127.0.0.2 (all of 127/8 is this host).
"""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from queue_server.demo import demo_config_text
from tests.conftest import DEVICE, HubProcess, login

OTHER_ADDRESS = "127.0.0.2"


def post_from(hub: HubProcess, address: str, path: str, body: dict[str, Any],
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST from a chosen source address (requests cannot pick one)."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30, source_address=(address, 0))
    try:
        conn.request("POST", path, json.dumps(body).encode(),
                     {"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else {}, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def try_login(hub: HubProcess, username: str, password: str) -> requests.Response:
    return requests.post(f"{hub.url}/api/v1/auth/login",
                         json={"username": username, "password": password}, timeout=30)


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


# ------------------------------------------------------------------------------ login throttling
def test_wrong_passwords_lock_the_account_until_an_admin_unlocks(hub: HubProcess) -> None:
    admin = login(hub.url, "admin")
    for attempt in range(5):
        r = try_login(hub, "staff1", f"guess{attempt}")
        assert r.status_code == 401 and r.json()["error"]["code"] == "bad_credentials", attempt
    r = try_login(hub, "staff1", "guess5")
    assert r.status_code == 429
    error = r.json()["error"]
    assert error["code"] == "login_locked" and "tạm khóa đến" in error["message"] and error["message_en"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    r = try_login(hub, "staff1", "demo")
    assert r.status_code == 429, "while locked even the right password is refused"

    # another account from the same machine still logs in
    assert try_login(hub, "staff2", "demo").status_code == 200
    # an unknown name is locked the same way (a lockout does not reveal which names exist)
    answers = [try_login(hub, "khong-co-ai", "x").status_code for _ in range(6)]
    assert answers == [401] * 5 + [429]

    r = requests.get(f"{hub.url}/api/v1/auth/lockouts", headers=admin, timeout=10)
    assert r.status_code == 200
    assert {(x["kind"], x["key"]) for x in r.json()["lockouts"]} == {("account", "staff1"),
                                                                      ("account", "khong-co-ai")}
    manager = login(hub.url, "manager")
    r = requests.post(f"{hub.url}/api/v1/auth/unlock", headers=manager, json={"username": "staff1"}, timeout=10)
    assert r.status_code == 403
    r = requests.post(f"{hub.url}/api/v1/auth/unlock", headers=admin, json={}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_field"
    r = requests.post(f"{hub.url}/api/v1/auth/unlock", headers=admin, json={"username": "staff1"}, timeout=10)
    assert r.status_code == 200 and r.json() == {"unlocked": [{"kind": "account", "key": "staff1"}]}
    assert try_login(hub, "staff1", "demo").status_code == 200
    assert try_login(hub, "khong-co-ai", "x").status_code == 429, "only what the admin named"


def test_a_lockout_survives_a_restart(hub: HubProcess) -> None:
    for attempt in range(5):
        assert try_login(hub, "staff3", f"guess{attempt}").status_code == 401
    assert try_login(hub, "staff3", "demo").status_code == 429
    hub.restart()
    r = try_login(hub, "staff3", "demo")
    assert r.status_code == 429 and r.json()["error"]["code"] == "login_locked"
    admin = login(hub.url, "admin")
    r = requests.post(f"{hub.url}/api/v1/auth/unlock", headers=admin, json={"username": "staff3"}, timeout=10)
    assert r.json()["unlocked"] == [{"kind": "account", "key": "staff3"}]
    assert try_login(hub, "staff3", "demo").status_code == 200


def test_an_address_guessing_many_names_is_locked_and_others_are_not(hub: HubProcess) -> None:
    for n in range(20):  # one guess per name: no account reaches its limit, the address does
        status, body, _ = post_from(hub, OTHER_ADDRESS, "/api/v1/auth/login",
                                    {"username": f"ten-{n}", "password": "x"})
        assert status == 401, (n, body)
    status, body, headers = post_from(hub, OTHER_ADDRESS, "/api/v1/auth/login",
                                      {"username": "staff4", "password": "demo"})
    assert status == 429 and body["error"]["code"] == "login_locked_address"
    assert "Máy này" in body["error"]["message"] and int(headers["retry-after"]) >= 1
    assert try_login(hub, "staff4", "demo").status_code == 200, "another machine is not locked"
    admin = login(hub.url, "admin")
    r = requests.post(f"{hub.url}/api/v1/auth/unlock", headers=admin, json={"address": OTHER_ADDRESS}, timeout=10)
    assert r.json()["unlocked"] == [{"kind": "address", "key": OTHER_ADDRESS}]
    status, body, _ = post_from(hub, OTHER_ADDRESS, "/api/v1/auth/login", {"username": "staff4", "password": "demo"})
    assert status == 200 and body["username"] == "staff4"


def test_tickets_are_issued_while_logins_are_hammered(hub: HubProcess) -> None:
    """A storm of wrong logins from one machine: every answer is a refusal (401 until the
    limits, then 429, or 503 when every hash slot is busy), never a 500; meanwhile every ticket
    is issued, numbered without a gap, and staff on another machine still log in."""
    def guess(n: int, username: str | None = None) -> tuple[int, str]:
        username = username or (f"staff{n % 6 + 1}" if n % 2 else f"ai-{n}")
        status, body, _ = post_from(hub, OTHER_ADDRESS, "/api/v1/auth/login",
                                    {"username": username, "password": "sai"})
        assert body["error"]["message"] and body["error"]["message_en"]
        return status, body["error"]["code"]

    with ThreadPoolExecutor(32) as pool:
        storm = [pool.submit(guess, n) for n in range(160)]
        numbers = [issue(hub, "chung-thuc")["number"] for _ in range(25)]
        answers = [f.result() for f in storm]
    assert numbers == [str(2001 + i) for i in range(25)]
    assert {status for status, _ in answers} <= {401, 429, 503}
    # Guess on, one name at a time, until the address is refused: it is locked after exactly
    # 20 failures, however many the storm got through (refusals are not counted as guesses).
    for n in range(21):
        answers.append(guess(n, f"sau-{n}"))
        if answers[-1][1] == "login_locked_address":
            break
    assert answers[-1] == (429, "login_locked_address")
    assert [status for status, _ in answers].count(401) == 20
    assert try_login(hub, "staff5", "demo").status_code == 200
