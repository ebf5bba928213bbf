"""The staff counter panel: login, actions with mouse and keyboard, two tabs kept in step."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import DEVICE, HubProcess
from tests.ui.conftest import staff_login, wait_for_counter_state

pytestmark = pytest.mark.browser


def issue(hub: HubProcess, service: str) -> None:
    r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": service}, headers=DEVICE, timeout=10)
    assert r.status_code == 201, r.text


# The tests of this module share one hub, each on its own counter and fields.


def test_login_errors_are_plain_vietnamese(demo_hub: HubProcess, open_page: Any) -> None:
    hub = demo_hub  # counter 6 (Bảo trợ xã hội, Tư pháp): nobody waits there
    desk = open_page(f"{hub.url}/counter", viewport=(1366, 768))
    desk.fill("#username", "staff6")
    desk.fill("#password", "sai-mat-khau")
    desk.click("#login-button")
    expect(desk.locator("#login-error")).to_have_text("Sai tên đăng nhập hoặc mật khẩu.")
    expect(desk.locator("#work-view")).to_be_hidden()
    # The token lives in this tab's sessionStorage only, never in a cookie.
    staff_login(desk, "staff6")
    assert desk.context.cookies() == []
    assert "token" in desk.evaluate("sessionStorage.getItem('qs.staff')")
    expect(desk.locator("#counter-title")).to_have_text("Quầy 6")
    # Nobody waits: "next" says so plainly.
    desk.keyboard.press("F2")
    expect(desk.locator("#message")).to_have_text("Hiện không có công dân nào đang chờ.")
    desk.get_by_role("button", name="Đăng xuất").click()
    expect(desk.locator("#login-view")).to_be_visible()
    assert desk.evaluate("sessionStorage.getItem('qs.staff')") is None


def test_two_tabs_on_one_counter_stay_in_step(demo_hub: HubProcess, open_page: Any) -> None:
    hub = demo_hub  # counter 2, Chứng thực
    for _ in range(3):
        issue(hub, "chung-thuc")
    a = open_page(f"{hub.url}/counter", viewport=(1366, 768))
    staff_login(a, "staff2")
    b = open_page(f"{hub.url}/counter", context=a.context)  # a second tab, its own login
    staff_login(b, "staff2")
    expect(b.locator('[data-waiting="chung-thuc"]')).to_have_text("3")

    # Keyboard "N" in tab A calls 2001; tab B shows it with a running timer.
    a.bring_to_front()
    a.keyboard.press("n")
    expect(b.locator("#current-number")).to_have_text("2001")
    expect(b.locator("#current-service")).to_have_text("Chứng thực")
    expect(b.locator("#timer")).to_have_text("0:00")
    expect(b.locator("#timer")).to_have_text("0:01", timeout=3000)
    expect(b.locator('[data-waiting="chung-thuc"]')).to_have_text("2")

    # Finish with an outcome in tab A (H, 1 = dossiers received, 2 dossiers, Enter).
    a.keyboard.press("h")
    expect(a.locator("#finish-dialog")).to_be_visible()
    a.keyboard.press("1")
    a.fill("#dossiers", "2")
    a.keyboard.press("Enter")
    expect(a.locator("#message")).to_have_text("Đã hoàn thành số 2001.")
    expect(b.locator("#current-none")).to_be_visible()
    expect(b.locator("#served-today")).to_have_text("1")
    expect(b.get_by_role("button", name="Hoàn thành")).to_be_disabled()

    # Pause in tab B (reason: meeting, 10 minutes); tab A shows it and offers "Tiếp tục".
    b.bring_to_front()
    b.get_by_role("button", name="Tạm ngưng").click()
    b.get_by_text("Họp đột xuất").click()
    b.get_by_role("button", name="10", exact=True).click()
    b.locator("#pause-dialog").get_by_role("button", name="Xác nhận").click()
    expect(a.locator("#pause-banner")).to_contain_text("Đang tạm ngưng: Họp đột xuất")
    expect(a.get_by_role("button", name="Gọi số tiếp theo")).to_be_disabled()
    a.bring_to_front()
    a.keyboard.press("t")
    expect(b.locator("#pause-banner")).to_be_hidden()
    expect(b.get_by_role("button", name="Gọi số tiếp theo")).to_be_enabled()

    # Tab B calls 2002. Then tab B loses its connection while tab A finishes 2002: B still shows
    # 2002, so a recall from B is refused by the hub with its Vietnamese reason (409).
    b.bring_to_front()
    b.get_by_role("button", name="Gọi số tiếp theo").click()
    expect(a.locator("#current-number")).to_have_text("2002")
    b.evaluate("window.__socket.disconnect()")
    a.bring_to_front()  # a person switches tabs; a background tab gets no animation frames
    a.get_by_role("button", name="Hoàn thành").click()
    a.get_by_text("Chỉ hướng dẫn").click()
    expect(a.locator("#dossiers-field")).to_be_hidden()
    a.locator("#finish-dialog").get_by_role("button", name="Xác nhận").click()
    expect(a.locator("#current-none")).to_be_visible()
    expect(b.locator("#current-number")).to_have_text("2002")
    b.bring_to_front()
    b.keyboard.press("r")
    expect(b.locator("#message")).to_have_text("Quầy 2 chưa gọi số nào.")
    assert "Traceback" not in b.locator("body").inner_text()
    b.evaluate("window.__socket.connect()")
    expect(b.locator("#current-none")).to_be_visible()
    expect(b.locator("#served-today")).to_have_text("2")

    done = requests.get(f"{hub.url}/api/v1/state", timeout=10).json()["counters"][1]
    assert done["served_today"] == 2 and done["current"] is None


def test_transfer_and_no_show_from_the_panel(demo_hub: HubProcess, open_page: Any) -> None:
    hub = demo_hub  # counter 1, Hộ tịch → Đất đai
    issue(hub, "ho-tich")
    issue(hub, "ho-tich")
    desk = open_page(f"{hub.url}/counter", viewport=(1366, 768))
    staff_login(desk, "staff1")
    desk.get_by_role("button", name="Gọi số tiếp theo").dblclick()  # a double click calls one
    expect(desk.locator("#current-number")).to_have_text("1001")
    desk.wait_for_timeout(300)
    expect(desk.locator('[data-waiting="ho-tich"]')).to_have_text("1")
    desk.keyboard.press("c")
    expect(desk.locator("#transfer-title")).to_have_text("Chuyển số 1001")
    desk.select_option("#transfer-service", "dat-dai")
    desk.locator("#transfer-dialog").get_by_role("button", name="Xác nhận").click()
    expect(desk.locator("#message")).to_have_text("Đã chuyển số 1001.")
    expect(desk.locator('[data-waiting="dat-dai"]')).to_have_text("1")
    assert requests.get(f"{hub.url}/api/v1/state", timeout=10).json()["waiting"]["dat-dai"] == 1

    desk.get_by_role("button", name="Gọi số tiếp theo").click()
    expect(desk.locator("#current-number")).to_have_text("1002")
    desk.get_by_role("button", name="Vắng mặt").click()
    expect(desk.locator("#message")).to_have_text("Đã đánh dấu số 1002 vắng mặt.")
    expect(desk.locator("#current-none")).to_be_visible()


def test_admin_chooses_a_counter(demo_hub: HubProcess, open_page: Any) -> None:
    hub = demo_hub  # counter 4, Đăng ký kinh doanh
    desk = open_page(f"{hub.url}/counter?n=3", viewport=(1366, 768))
    staff_login(desk, "admin")
    expect(desk.locator("#counter-title")).to_have_text("Quầy 3")
    desk.get_by_role("button", name="Chọn quầy làm việc").click()
    desk.locator('[data-pick="4"]').click()
    expect(desk.locator("#counter-title")).to_have_text("Quầy 4")
    assert desk.url.endswith("/counter?n=4")
    wait_for_counter_state(desk)  # the new counter's state arrives over its new socket
    issue(hub, "dang-ky-kinh-doanh")
    desk.keyboard.press("n")
    expect(desk.locator("#current-number")).to_have_text("4001")
