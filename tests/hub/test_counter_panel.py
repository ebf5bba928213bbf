"""The staff panel's extra reads and actions (SPEC §3): what a counter can call, today's no-shows
with a re-queue, and calling one number by what is printed on the ticket.

First the rules on the real SQLite store with an injected clock (as in test_hub_rules), then the
same over HTTP against a real hub: status codes, Vietnamese + English reasons, authorization and
the OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from queue_server.core.errors import Conflict, InvalidRequest, NotFound
from queue_server.core.models import TicketStatus
from tests.conftest import DEVICE, HubProcess, login
from tests.hub.test_hub_rules import Center

# ------------------------------------------------------------------ the rules


@pytest.fixture
def center(tmp_path: Path) -> Center:
    return Center(tmp_path)


def rows(center: Center, counter: int) -> dict[str, dict[str, Any]]:
    return {r["service"]: r for r in center.q.counter_queue(counter)["fields"]}


def test_counts_are_what_the_counter_can_call(center: Center) -> None:
    for _ in range(3):
        center.issue("ho-tich")  # 1001…1003
    assert center.next(1) == "1001"
    center.q.transfer(1, "staff1", to_counter=2)  # 1001 is now reserved for counter 2
    mine = rows(center, 1)
    assert (mine["ho-tich"]["callable"], mine["ho-tich"]["waiting"],
            mine["ho-tich"]["reserved_elsewhere"]) == (2, 2, 1)
    assert [r["service"] for r in center.q.counter_queue(1)["fields"]][:2] == ["ho-tich", "chung-thuc"]
    # Counter 2 does not serve Hộ tịch, but it may call the one ticket transferred to it.
    theirs = rows(center, 2)
    assert theirs["ho-tich"]["own"] is False
    assert (theirs["ho-tich"]["callable"], theirs["ho-tich"]["reserved_here"]) == (1, 1)
    assert center.q.counter_queue(2)["callable"] == 1
    # The counts agree with what "next" does: counter 1 calls its two, then nobody is there.
    assert center.next(1) == "1002"
    assert center.next(1) == "1003"
    assert center.q.counter_queue(1)["callable"] == 0
    assert rows(center, 1)["ho-tich"]["reserved_elsewhere"] == 1
    assert center.next(1) is None
    assert center.next(2) == "1001"


def test_no_shows_of_the_counters_fields_are_listed_and_requeued(center: Center) -> None:
    first = center.q.issue("ho-tich").ticket
    center.issue("ho-tich")
    center.next(1)
    center.q.no_show(1, "staff1")
    assert [t["number"] for t in center.q.counter_queue(1)["no_shows"]] == ["1001"]
    assert center.q.counter_queue(1)["no_shows"][0]["id"] == first.id
    assert center.q.counter_queue(3)["no_shows"] == []  # Đất đai only: not its ticket
    with pytest.raises(Conflict) as refused:
        center.q.requeue_at_counter(3, first.id, "staff3")
    assert refused.value.code == "foreign_field"
    back = center.q.requeue_at_counter(1, first.id, "staff1")
    assert back.status is TicketStatus.WAITING
    assert center.q.counter_queue(1)["no_shows"] == []
    with pytest.raises(Conflict):
        center.q.requeue_at_counter(1, first.id, "staff1")  # not a no-show any more
    with pytest.raises(NotFound):
        center.q.requeue_at_counter(1, "no-such-ticket", "staff1")
    assert center.next(1) == "1001"  # back at its original place


def test_call_by_number(center: Center) -> None:
    for _ in range(3):
        center.issue("ho-tich")
    center.issue("dat-dai")  # D001
    called = center.q.call_number(1, " 1003 ", "staff1")
    assert (called.number, called.status, called.counter) == ("1003", TicketStatus.CALLED, 1)
    published = center.publisher.named("ticket_called")[-1]
    assert (published["number"], published["counter"], published["recall"]) == ("1003", 1, False)
    # Calling another number while 1003 is served finishes 1003 first, as "next" does.
    center.q.call_number(1, "1002", "staff1")
    assert center.q.get_ticket(called.id).status is TicketStatus.DONE
    # Letters are matched whatever their case; the queue keeps its order for the others.
    assert center.q.call_number(3, "d001", "staff3").number == "D001"
    assert center.next(1) == "1001"


def test_call_by_number_brings_back_a_no_show(center: Center) -> None:
    center.issue("ho-tich")
    center.issue("ho-tich")
    center.next(1)
    center.q.no_show(1, "staff1")
    center.next(1)  # 1002
    assert center.q.call_number(1, "1001", "staff1").status is TicketStatus.CALLED
    kinds = [k for k, n, _ in center.log() if n == "1001"]
    assert kinds == ["issued", "called", "no_show", "requeued", "called"]
    assert center.q.counter_queue(1)["no_shows"] == []


@pytest.mark.parametrize(("typed", "error", "code"), [
    ("", InvalidRequest, "bad_number"),
    ("abc", InvalidRequest, "bad_number"),
    ("10 23x", InvalidRequest, "bad_number"),
    ("ABC1", InvalidRequest, "bad_number"),
    ("1234567890", InvalidRequest, "bad_number"),
    ("1234567", NotFound, "unknown_number"),
    ("Đ001", InvalidRequest, "bad_number"),
    ("9999", NotFound, "unknown_number"),
    ("D001", Conflict, "foreign_field"),  # Đất đai: counter 1 does not serve it
    ("1001", Conflict, "reserved_elsewhere"),
    ("1002", Conflict, "already_serving"),
    ("2001", Conflict, "served_elsewhere"),
    ("1003", Conflict, "already_done"),
    ("1004", Conflict, "not_callable"),  # cancelled
])
def test_call_by_number_refusals_change_nothing(center: Center, typed: str, error: type,
                                                code: str) -> None:
    numbers = [center.issue("ho-tich") for _ in range(3)]
    last = center.q.issue("ho-tich").ticket  # 1004
    center.issue("dat-dai")
    center.issue("chung-thuc")
    assert numbers == ["1001", "1002", "1003"] and last.number == "1004"
    center.q.call_number(1, "1003", "staff1")
    assert center.next(1) == "1001"  # finishes 1003 (no outcome recorded) first
    center.q.transfer(1, "staff1", to_counter=2)  # 1001 reserved for counter 2
    assert center.next(1) == "1002"
    center.q.call_number(2, "2001", "staff2")
    center.q.cancel(last.id, "staff1", "test")
    before = center.log()
    with pytest.raises(error) as refused:
        center.q.call_number(1, typed, "staff1")
    assert refused.value.code == code
    assert refused.value.message_vi and refused.value.message_en
    assert center.log() == before


def test_call_by_number_on_a_paused_counter_is_refused(center: Center) -> None:
    center.issue("ho-tich")
    center.q.pause(1, "staff1", "break", 10)
    with pytest.raises(Conflict) as refused:
        center.q.call_number(1, "1001", "staff1")
    assert refused.value.code == "counter_paused"


# ------------------------------------------------------------------ over HTTP


def post(hub: HubProcess, path: str, headers: dict[str, str], body: Any = None) -> requests.Response:
    return requests.post(f"{hub.url}{path}", json=body, headers=headers, timeout=10)


def issue(hub: HubProcess, service: str) -> dict[str, Any]:
    r = post(hub, "/api/v1/tickets", DEVICE, {"service": service})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_panel_api_over_http(hub: HubProcess) -> None:
    staff1, staff2, staff3 = (login(hub.url, f"staff{i}") for i in (1, 2, 3))
    first, _second = issue(hub, "ho-tich"), issue(hub, "ho-tich")
    assert post(hub, "/api/v1/counters/1/next", staff1).json()["number"] == "1001"
    assert post(hub, "/api/v1/counters/1/transfer", staff1, {"counter": 3}).status_code == 200

    # Counter 1 can call 1002 only; 1001 (transferred to counter 3) is counted apart.
    queue = requests.get(f"{hub.url}/api/v1/counters/1/queue", headers=staff1, timeout=10)
    assert queue.status_code == 200, queue.text
    ho_tich = next(r for r in queue.json()["fields"] if r["service"] == "ho-tich")
    assert (ho_tich["callable"], ho_tich["reserved_elsewhere"]) == (1, 1)
    assert requests.get(f"{hub.url}/api/v1/state", timeout=10).json()["waiting"]["ho-tich"] == 2

    # Staff only for their own counter; nobody anonymous.
    for method, path, body in (("get", "/api/v1/counters/1/queue", None),
                               ("post", "/api/v1/counters/1/call", {"number": "1002"}),
                               ("post", "/api/v1/counters/1/requeue", {"ticket": first["id"]})):
        r = requests.request(method, f"{hub.url}{path}", json=body, headers=staff2, timeout=10)
        assert r.status_code == 403 and r.json()["error"]["code"] == "foreign_counter", r.text
        r = requests.request(method, f"{hub.url}{path}", json=body, timeout=10)
        assert r.status_code == 401 and r.json()["error"]["message"], r.text

    # Bad bodies: a clear 400 in both languages, nothing called.
    for body in ({}, {"number": 1002}, {"number": "mười"}, {"number": "1002", "x": 1}, [], "1002"):
        r = post(hub, "/api/v1/counters/1/call", staff1, body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["message"] and r.json()["error"]["message_en"]
    r = post(hub, "/api/v1/counters/1/call", staff1, {"number": "1001"})
    assert r.status_code == 409 and "Quầy 3" in r.json()["error"]["message"], r.text
    assert post(hub, "/api/v1/counters/1/call", staff1, {"number": "7777"}).status_code == 404
    assert requests.get(f"{hub.url}/api/v1/state", timeout=10).json()["counters"][0]["current"] is None

    # Call 1002 by its number, mark it absent, find it in the list, re-queue it, call it again.
    called = post(hub, "/api/v1/counters/1/call", staff1, {"number": "1002"})
    assert called.status_code == 200 and called.json()["status"] == "called", called.text
    assert requests.get(f"{hub.url}/api/v1/state", timeout=10).json()["counters"][0]["current"]["number"] == "1002"
    assert post(hub, "/api/v1/counters/1/no-show", staff1).status_code == 200
    absent = requests.get(f"{hub.url}/api/v1/counters/1/queue", headers=staff1, timeout=10).json()["no_shows"]
    assert [(t["number"], t["status"]) for t in absent] == [("1002", "no_show")]
    r = post(hub, "/api/v1/counters/3/requeue", staff3, {"ticket": absent[0]["id"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "foreign_field", r.text
    assert post(hub, "/api/v1/counters/1/requeue", staff1, {"ticket": "nope"}).status_code == 404
    assert post(hub, "/api/v1/counters/1/requeue", staff1, {}).status_code == 400
    r = post(hub, "/api/v1/counters/1/requeue", staff1, {"ticket": absent[0]["id"]})
    assert r.status_code == 200 and r.json()["status"] == "waiting", r.text
    assert post(hub, "/api/v1/counters/1/requeue", staff1, {"ticket": absent[0]["id"]}).status_code == 409
    assert post(hub, "/api/v1/counters/1/next", staff1).json()["number"] == "1002"


def test_rating_target_says_whether_the_caller_may_rate(hub: HubProcess) -> None:
    def ask(headers: dict[str, str]) -> requests.Response:
        return requests.get(f"{hub.url}/api/v1/counters/1/rating", headers=headers, timeout=10)

    assert ask({}).json() == {"target": None, "authorized": False}
    assert ask(DEVICE).json()["authorized"] is True
    assert ask(login(hub.url, "staff1")).json()["authorized"] is True
    assert ask(login(hub.url, "staff2")).json()["authorized"] is False  # another counter's staff
    wrong = ask({"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"] and wrong.json()["error"]["message_en"]


def test_openapi_documents_the_panel_routes_with_examples(hub: HubProcess) -> None:
    paths = requests.get(f"{hub.url}/api/v1/openapi.json", timeout=10).json()["paths"]
    call = paths["/api/v1/counters/{n}/call"]["post"]
    assert call["requestBody"]["content"]["application/json"]["example"] == {"number": "1023"}
    assert {"400", "401", "403", "404", "409"} <= set(call["responses"])
    requeue = paths["/api/v1/counters/{n}/requeue"]["post"]
    assert "ticket" in requeue["requestBody"]["content"]["application/json"]["example"]
    queue = paths["/api/v1/counters/{n}/queue"]["get"]
    assert queue["responses"]["200"]["content"]["application/json"]["example"]["fields"]
