"""The manager's page in headless Chromium (Debian's), against a real demo hub: a manager logs
in and watches a counter go from idle to serving live; an admin renames a field and the kiosk
shows it, and the change log lists it; the reports link; staff are refused; the forecast table."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from playwright.sync_api import expect

from tests.conftest import DEVICE, HubProcess, free_port, login
from tests.ui.conftest import wait_js


def manager_login(page: Any, username: str, password: str = "demo") -> None:
    page.wait_for_selector("#login-view:not([hidden])")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-button")


def test_a_manager_watches_a_counter_start_serving(demo_hub: HubProcess, open_page: Any) -> None:
    page = open_page(f"{demo_hub.url}/manager")
    manager_login(page, "manager")
    page.wait_for_selector("#work-view:not([hidden])")
    tile = page.locator('[data-counter="2"]')
    expect(tile).to_have_attribute("data-state", "idle")
    # the page is in the manager room before the staff action (no reload after it)
    wait_js(page, "window.__socket && window.__socket.connected")
    expect(page.locator("#live-state")).to_contain_text("trực tiếp")
    issued = requests.post(f"{demo_hub.url}/api/v1/tickets", json={"service": "chung-thuc"},
                           headers=DEVICE, timeout=10).json()
    staff2 = login(demo_hub.url, "staff2")
    assert requests.post(f"{demo_hub.url}/api/v1/counters/2/next", headers=staff2, timeout=10).status_code == 200
    expect(tile).to_have_attribute("data-state", "serving")
    expect(tile.locator(".m-number")).to_have_text(issued["number"])
    expect(tile).to_contain_text("Cán bộ quầy 2")
    expect(tile).to_contain_text("đang đăng nhập")
    expect(page.locator('[data-total="issued"] .m-total-value')).not_to_have_text("0")
    # printer health as the kiosk reports it; no device bridge yet
    expect(page.locator("#printers li").first).to_have_class("ok")
    expect(page.locator("#devices")).to_contain_text("Chưa có bộ kết nối thiết bị")
    # the manager sees no configuration (admin only), and the reports are one click away
    assert page.locator("#config").is_hidden()
    page.click("#reports-link")
    page.wait_for_url("**/manager/reports")
    # the same login (same sessionStorage key and token): the report shows, no second login form
    page.wait_for_selector('table[data-table="summary"]')
    assert page.locator("#login").is_hidden()
    # and the way back keeps it too
    page.go_back()
    page.wait_for_selector("#work-view:not([hidden])")
    assert page.locator("#login-view").is_hidden()


def test_an_admin_renames_a_field_and_the_kiosk_shows_it(demo_hub: HubProcess, open_page: Any) -> None:
    kiosk = open_page(f"{demo_hub.url}/kiosk?token=demo-device", viewport=(1080, 1920))
    expect(kiosk.locator("body")).to_contain_text("Tư pháp")
    page = open_page(f"{demo_hub.url}/manager")
    manager_login(page, "admin")
    page.wait_for_selector("#config:not([hidden])")
    name = page.locator('#cfg-fields tbody tr:has(input[value="tu-phap"]) input[data-k="name"]')
    name.fill("Tư pháp – Hộ tịch")
    page.click("#cfg-fields-save")
    expect(page.locator("#config-message")).to_have_text("Đã lưu, có hiệu lực ngay.")
    row = page.locator('#audit-table tbody tr[data-target="fields"]').first
    expect(row).to_contain_text("admin")
    expect(row).to_contain_text("Tư pháp – Hộ tịch")

    # the kiosk already open shows it without a reload (the hub pushes a new state), and so
    # does one opened now
    expect(kiosk.locator("body")).to_contain_text("Tư pháp – Hộ tịch")
    fresh = open_page(f"{demo_hub.url}/kiosk?token=demo-device", viewport=(1080, 1920))
    expect(fresh.locator("body")).to_contain_text("Tư pháp – Hộ tịch")

    # a bad value is refused with the rule's words, and nothing is saved
    name.fill("   ")
    page.click("#cfg-fields-save")
    expect(page.locator("#config-message")).to_have_class("message error")
    expect(page.locator("#config-message")).to_contain_text("không hợp lệ")
    names = {s["id"]: s["name"] for s in requests.get(f"{demo_hub.url}/api/v1/services", timeout=10).json()["services"]}
    assert names["tu-phap"] == "Tư pháp – Hộ tịch"


def test_staff_cannot_open_the_manager_page(demo_hub: HubProcess, open_page: Any) -> None:
    page = open_page(f"{demo_hub.url}/manager")
    manager_login(page, "staff1")
    page.wait_for_selector("#refused-view:not([hidden])")
    expect(page.locator("#refused-text")).to_contain_text("Chỉ lãnh đạo và quản trị viên")
    assert page.locator("#work-view").is_hidden()
    assert page.locator("[data-counter]").count() == 0


def test_the_forecast_table_from_last_weeks_visits(tmp_path: Path, open_page: Any) -> None:
    """A hub that served a morning a week ago (a shifted clock), then runs on today's clock: the
    page's forecast table shows that weekday's opening hour, planned by simulation."""
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    last_week = (datetime.now(tz) - timedelta(days=7)).replace(hour=8, minute=0, second=0, microsecond=0)
    hub = HubProcess(tmp_path / "data", free_port(), ["--demo"], env={"QUAYSO_FAKE_NOW": last_week.isoformat()})
    hub.start()
    try:
        staff1 = login(hub.url, "staff1")
        for _ in range(4):
            assert requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE,
                                 timeout=10).status_code == 201
        for _ in range(4):
            assert requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff1, timeout=10).status_code == 200
        hub.env = {}
        hub.restart()
        page = open_page(f"{hub.url}/manager?lang=en")
        manager_login(page, "manager")
        cell = page.locator(f'#forecast-table td[data-weekday="{last_week.weekday()}"][data-hour="8"]')
        expect(cell).to_have_class("num simulation")
        expect(cell.locator("strong")).to_have_text("1")
        expect(page.locator("#forecast-note")).to_contain_text("4 tickets")
        # out-of-range figures are stopped by the form itself; the API refuses them too (4xx)
        page.fill("#fc-share", "150")
        assert page.evaluate("document.getElementById('fc-share').checkValidity()") is False
    finally:
        hub.stop()


def test_the_page_in_english(demo_hub: HubProcess, open_page: Any) -> None:
    """Every label in English; what stays Vietnamese is data: people's names (staff accounts) and
    the values a change-log row quotes (JSON)."""
    from tests.ui.test_ui_language import leftover_vietnamese

    page = open_page(f"{demo_hub.url}/manager?lang=en")
    manager_login(page, "admin")  # the admin sees the configuration too
    page.wait_for_selector("#config:not([hidden])")
    page.wait_for_selector("#fields-table tbody tr")
    page.wait_for_selector("#cfg-staff tbody tr")
    expect(page.locator("#live-state")).to_contain_text("live")
    expect(page.locator("#printers li").first).to_contain_text("Main printer")
    expect(page.locator("#cfg-hours-state")).to_have_text("No working hours: open around the clock.")
    assert page.get_attribute("#new-username", "placeholder") == "username"
    assert page.get_attribute("#reports-link", "href") == "/manager/reports?lang=en"
    # people's names are data: blank the staff table's name column before reading the page
    page.evaluate("document.querySelectorAll('#cfg-staff tbody td:nth-child(2)').forEach(n => { n.textContent = ''; })")
    left = [line for line in leftover_vietnamese(page) if "Cán bộ quầy" not in line and '{"' not in line]
    assert left == []


def test_no_working_hours_stay_open_around_the_clock(hub: HubProcess, open_page: Any) -> None:
    """The demo has no [hours] (open around the clock). The editor says so, and neither saving
    another section nor saving the untouched hours form closes the center; setting hours takes an
    explicit switch, an all-empty week is refused, and switching back reopens around the clock."""
    page = open_page(f"{hub.url}/manager")
    manager_login(page, "admin")
    page.wait_for_selector("#config:not([hidden])")
    state = page.locator("#cfg-hours-state")
    expect(state).to_have_text("Không giới hạn giờ (mở cả ngày).")
    assert not page.locator("#cfg-hours-limited").is_checked()
    assert page.locator("#cfg-hours-editor").is_hidden()
    assert "để trống là nghỉ" not in page.evaluate("document.body.innerText")

    def issuing() -> bool:
        services = requests.get(f"{hub.url}/api/v1/services", timeout=10).json()["services"]
        return all(s["issuing"] for s in services)

    def hours_section() -> Any:
        admin = login(hub.url, "admin")
        return requests.get(f"{hub.url}/api/v1/config", headers=admin, timeout=10).json()["sections"]["hours"]

    page.click("#cfg-ratings-save")  # another section
    expect(page.locator("#config-message")).to_have_text("Đã lưu, có hiệu lực ngay.")
    page.click("#cfg-hours-save")  # the untouched form
    expect(page.locator("#config-message")).to_contain_text("không có gì để lưu")
    assert hours_section() == {} and issuing()

    page.check("#cfg-hours-limited")  # the explicit switch, then a week left empty
    expect(page.locator("#cfg-hours-editor")).to_be_visible()
    expect(state).to_contain_text("(chưa lưu)")
    page.click("#cfg-hours-save")
    expect(page.locator("#config-message")).to_contain_text("sẽ đóng cửa mọi ngày")
    assert hours_section() == {} and issuing()

    page.fill('[data-day="mon"]', "00:00-23:59")
    page.click("#cfg-hours-save")
    expect(page.locator("#config-message")).to_have_text("Đã lưu, có hiệu lực ngay.")
    expect(state).to_have_text("Giờ làm việc theo bảng dưới đây.")
    assert hours_section()["mon"] == ["00:00-23:59"]

    page.uncheck("#cfg-hours-limited")  # back to around the clock: the browser's hours dropped
    page.click("#cfg-hours-save")
    expect(state).to_have_text("Không giới hạn giờ (mở cả ngày).")
    assert hours_section() == {} and issuing()
