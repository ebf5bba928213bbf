"""The counter-side rating screen checks its token when it opens, as /kiosk does: a wrong or
revoked token, or an account that may not rate at this counter, never shows smileys that would
drop a citizen's tap; a tap refused all the same is sent once staff log in again."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import HubProcess, login
from tests.ui.test_ui_rating import serve as serve_ticket

pytestmark = pytest.mark.browser


def serve(hub: HubProcess, counter: int, service: str, staff: str) -> str:
    """Issue a ticket, call it at `counter` and finish it; returns its number."""
    return str(serve_ticket(hub, counter, service, staff)["number"])


def rated_levels(hub: HubProcess, counter: int) -> list[int]:
    r = requests.get(f"{hub.url}/api/v1/stats", headers=login(hub.url, "manager"), timeout=10)
    assert r.status_code == 200, r.text
    rows = {row["counter"]: row for row in r.json()["by_counter"]}
    if counter not in rows:
        return [0, 0, 0]
    return [lv["count"] for lv in rows[counter]["satisfaction"]["levels"]]


def login_on_screen(page: Any, username: str) -> None:
    page.fill("#rate-username", username)
    page.fill("#rate-password", "demo")
    page.locator("#rate-login").get_by_role("button", name="Đăng nhập").click()


def test_a_wrong_device_token_is_caught_when_the_screen_opens(demo_hub: HubProcess,
                                                              open_page: Any) -> None:
    hub = demo_hub  # counter 5 (Tư pháp)
    screen = open_page(f"{hub.url}/rate/5?token=wrong", viewport=(1280, 800))
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "auth")
    expect(screen.locator("#rate-login-error")).to_have_text(
        "Mã thiết bị của màn hình này không đúng hoặc đã bị thu hồi. Cán bộ kỹ thuật mở lại trang "
        "với mã mới (?token=…), hoặc cán bộ quầy đăng nhập bên dưới.")
    assert screen.evaluate("localStorage.getItem('qs.deviceToken')") is None  # the bad token is gone
    assert screen.url == f"{hub.url}/rate/5"

    # A visit finishes at counter 5: the screen stays on its explanation; no smileys to tap.
    number = serve(hub, 5, "tu-phap", "staff5")
    assert requests.get(f"{hub.url}/api/v1/counters/5/rating", timeout=10).json()["target"]["number"] == number
    screen.evaluate("window.__socket.disconnect(); window.__socket.connect()")  # as after a reconnect
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "auth")
    expect(screen.locator("[data-level]")).to_have_count(0)

    # Staff of another counter may not record ratings here: said plainly, still no smileys.
    login_on_screen(screen, "staff4")
    expect(screen.locator("#rate-login-error")).to_have_text(
        "Tài khoản hoặc mã thiết bị này không được phép ghi nhận đánh giá tại Quầy 5.")
    expect(screen.locator("[data-level]")).to_have_count(0)

    # Counter 5's own staff log in: the visit just served is offered, and the tap is recorded.
    login_on_screen(screen, "staff5")
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "ask")
    expect(screen.locator("#rate-number")).to_have_text(f"Lượt phục vụ số {number}")
    screen.get_by_role("button", name="Hài lòng", exact=True).click()
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "thanks")
    assert rated_levels(hub, 5) == [0, 1, 0]


def test_a_tap_refused_for_a_revoked_login_is_sent_after_logging_in(demo_hub: HubProcess,
                                                                     open_page: Any) -> None:
    hub = demo_hub  # counter 6 (Bảo trợ xã hội)
    screen = open_page(f"{hub.url}/rate/6", viewport=(1280, 800))
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "auth")
    login_on_screen(screen, "staff6")
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "idle")
    number = serve(hub, 6, "bao-tro-xa-hoi", "staff6")
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "ask")

    # The screen's login is revoked after the smileys appeared; the citizen taps anyway.
    token = screen.evaluate("JSON.parse(sessionStorage.getItem('qs.staff')).token")
    out = requests.post(f"{hub.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"},
                        timeout=10)
    assert out.status_code == 200
    screen.get_by_role("button", name="Rất hài lòng").click()
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "auth")
    expect(screen.locator("#rate-login-error")).to_have_text(
        "Phiên đăng nhập không hợp lệ. Vui lòng đăng nhập lại.")
    assert rated_levels(hub, 6) == [0, 0, 0]

    # Staff log in again: the level the citizen pressed is recorded for that same visit.
    login_on_screen(screen, "staff6")
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "thanks")
    assert rated_levels(hub, 6) == [1, 0, 0]
    rated = requests.get(f"{hub.url}/api/v1/counters/6/rating", timeout=10).json()
    assert rated["target"] is None  # the visit is rated: nothing more to offer
    assert number


def test_a_tap_lost_to_the_network_is_sent_when_the_hub_answers_again(demo_hub: HubProcess,
                                                                      open_page: Any) -> None:
    hub = demo_hub  # counter 3 (Đất đai)
    screen = open_page(f"{hub.url}/rate/3?token=demo-device", viewport=(1280, 800))
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "idle")
    number = serve(hub, 3, "dat-dai", "staff3")
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "ask")
    expect(screen.locator("#rate-number")).to_have_text(f"Lượt phục vụ số {number}")

    screen.context.set_offline(True)
    screen.get_by_role("button", name="Chưa hài lòng").click()
    screen.get_by_role("button", name="Bỏ qua").click()
    expect(screen.locator("#rate-error")).to_have_text(
        "Không kết nối được với máy chủ. Vui lòng kiểm tra mạng và thử lại.")
    assert rated_levels(hub, 3) == [0, 0, 0]
    screen.context.set_offline(False)
    # After the error notice the screen asks the hub again and sends the level pressed.
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "thanks", timeout=15000)
    assert rated_levels(hub, 3) == [0, 0, 1]
