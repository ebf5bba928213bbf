"""The counter-side rating screen: one rating per visit, tied to ticket, counter and staff."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import DEVICE, HubProcess, login

pytestmark = pytest.mark.browser


def serve(hub: HubProcess, counter: int, service: str, staff: str) -> dict[str, Any]:
    """Issue a ticket, call it at `counter` and finish it; returns the finished ticket."""
    r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": service}, headers=DEVICE, timeout=10)
    assert r.status_code == 201, r.text
    headers = login(hub.url, staff)
    called = requests.post(f"{hub.url}/api/v1/counters/{counter}/next", headers=headers, timeout=10)
    assert called.status_code == 200 and called.json()["id"] == r.json()["id"], called.text
    done = requests.post(f"{hub.url}/api/v1/counters/{counter}/finish", headers=headers,
                         json={"outcome": "received", "dossiers": 1}, timeout=10)
    assert done.status_code == 200, done.text
    return done.json()  # type: ignore[no-any-return]


def stats(hub: HubProcess) -> dict[str, Any]:
    r = requests.get(f"{hub.url}/api/v1/stats", headers=login(hub.url, "manager"), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def ratings_of(data: dict[str, Any], key: str, value: Any) -> list[int]:
    """Counts per level for one staff member or counter (`key`: "staff" or "counter")."""
    rows = {row[key]: row for row in data[f"by_{key}"]}
    if value not in rows:
        return [0, 0, 0]
    return [lv["count"] for lv in rows[value]["satisfaction"]["levels"]]


# The tests of this module share one hub, each on its own counter.


def test_rating_is_recorded_once_for_the_visit_just_served(demo_hub: HubProcess, open_page: Any) -> None:
    hub = demo_hub  # counter 1, staff1
    first = open_page(f"{hub.url}/rate/1?token=demo-device", viewport=(1280, 800))
    expect(first.locator("body")).to_have_attribute("data-rate-state", "idle")
    assert first.url == f"{hub.url}/rate/1"  # the token left the address bar…
    assert first.evaluate("localStorage.getItem('qs.deviceToken')") == "demo-device"  # …for storage
    second = open_page(f"{hub.url}/rate/1", context=first.context, viewport=(1280, 800))
    expect(second.locator("body")).to_have_attribute("data-rate-state", "idle")
    expect(first.locator("[data-level]")).to_have_count(0)  # nothing to rate, no buttons

    ticket = serve(hub, 1, "ho-tich", "staff1")
    for page in (first, second):  # `ticket_finished` lights both up at once
        expect(page.locator("body")).to_have_attribute("data-rate-state", "ask", timeout=2000)
        expect(page.locator("#rate-number")).to_have_text("Lượt phục vụ số 1001")
        expect(page.locator("[data-level]")).to_have_text(["Rất hài lòng", "Hài lòng", "Chưa hài lòng"])
        expect(page.locator("#countdown")).to_contain_text("giây")

    # The second screen misses the news (its socket drops), then someone presses there too.
    second.evaluate("window.__socket.disconnect()")
    first.bring_to_front()
    first.get_by_role("button", name="Rất hài lòng").click()
    expect(first.locator("#thanks-view")).to_have_text("Cảm ơn Ông/Bà đã đánh giá")
    second.bring_to_front()
    second.get_by_role("button", name="Hài lòng", exact=True).click()
    expect(second.locator("#rate-error")).to_have_text("Số này đã được đánh giá. Mỗi lượt chỉ đánh giá một lần.")

    # The API refuses a second rating of the same visit, by counter or by ticket id.
    again = requests.post(f"{hub.url}/api/v1/counters/1/rating", json={"level": 3}, headers=DEVICE, timeout=10)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"
    again = requests.post(f"{hub.url}/api/v1/ratings", json={"ticket": ticket["id"], "level": 2}, timeout=10)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"
    assert requests.get(f"{hub.url}/api/v1/counters/1/rating", timeout=10).json()["target"] is None

    # Recorded once, for that ticket, counter and staff.
    assert requests.get(f"{hub.url}/api/v1/tickets/{ticket['id']}", timeout=10).json()["rated"] is True
    data = stats(hub)
    assert data["satisfaction"]["total"] >= 1
    assert data["satisfaction"]["levels"][0]["label"] == "Rất hài lòng"
    assert ratings_of(data, "staff", "staff1") == [1, 0, 0]
    assert ratings_of(data, "counter", 1) == [1, 0, 0]
    assert {row["staff"]: row for row in data["by_staff"]}["staff1"]["served"] == 1


def test_unsatisfied_rating_may_carry_a_reason(demo_hub: HubProcess, open_page: Any) -> None:
    hub = demo_hub  # counter 2, staff2
    screen = open_page(f"{hub.url}/rate/2?token=demo-device", viewport=(1024, 600))
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "idle")
    serve(hub, 2, "chung-thuc", "staff2")
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "ask")
    assert ratings_of(stats(hub), "counter", 2) == [0, 0, 0]  # showing the buttons records nothing
    screen.get_by_role("button", name="Chưa hài lòng").click()
    expect(screen.locator("#reason-view")).to_contain_text("Ông/Bà chưa hài lòng về điều gì?")
    expect(screen.get_by_role("button", name="Bỏ qua")).to_be_visible()
    screen.get_by_role("button", name="Thời gian chờ quá lâu").click()
    expect(screen.locator("#thanks-view")).to_be_visible()
    data = stats(hub)
    assert ratings_of(data, "counter", 2) == [0, 0, 1]
    assert ratings_of(data, "staff", "staff2") == [0, 0, 1]


def test_rate_page_without_a_visit_or_a_token_offers_nothing(demo_hub: HubProcess, open_page: Any) -> None:
    hub = demo_hub  # counter 4: nothing served there
    # No token and nobody logged in: the screen says so and offers a staff login.
    bare = open_page(f"{hub.url}/rate/4", viewport=(1280, 800))
    expect(bare.locator("#auth-view")).to_contain_text("chưa được cấp quyền")
    bare.fill("#rate-username", "staff4")
    bare.fill("#rate-password", "demo")
    bare.get_by_role("button", name="Đăng nhập").click()
    expect(bare.locator("body")).to_have_attribute("data-rate-state", "idle")
    expect(bare.locator("[data-level]")).to_have_count(0)
    refused = requests.post(f"{hub.url}/api/v1/counters/4/rating", json={"level": 1}, headers=DEVICE, timeout=10)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "nothing_to_rate"

    # When the hub's window closes, the buttons go away by themselves; nothing is recorded.
    offer = {"target": {"counter": 4, "number": "4001", "service": "dang-ky-kinh-doanh",
                        "seconds_left": 1, "levels": ["Rất hài lòng", "Hài lòng", "Chưa hài lòng"]},
             "authorized": True}
    served = {"done": False}

    def fake_target(route: Any) -> None:
        body = {"target": None, "authorized": True} if served["done"] else offer
        served["done"] = True
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    bare.route("**/api/v1/counters/4/rating", fake_target)
    bare.evaluate("window.__socket.disconnect(); window.__socket.connect()")  # reconnect → refresh
    expect(bare.locator("body")).to_have_attribute("data-rate-state", "ask")
    expect(bare.locator("#rate-number")).to_have_text("Lượt phục vụ số 4001")
    expect(bare.locator("body")).to_have_attribute("data-rate-state", "idle", timeout=3000)
    expect(bare.locator("[data-level]")).to_have_count(0)
    assert ratings_of(stats(hub), "counter", 4) == [0, 0, 0]
