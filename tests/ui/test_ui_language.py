"""Every page in English mode shows no Vietnamese left over, and the kiosk's words match what
the screen can do. Headless Chromium on the demo center (which has English names for the center,
its fields and the default priority groups)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import DEVICE, HubProcess, login
from tests.ui.conftest import wait_js

pytestmark = pytest.mark.browser

# Letters only Vietnamese uses (with its diacritics): none may be left on an English screen.
VIETNAMESE = re.compile("[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I)
# Words that stay Vietnamese on purpose: the button that switches back to Vietnamese.
KEPT = ("Tiếng Việt",)


def leftover_vietnamese(page: Any) -> list[str]:
    """Visible lines of the page that still carry Vietnamese letters."""
    text = page.evaluate("document.body.innerText")
    for kept in KEPT:
        text = text.replace(kept, "")
    return [line.strip() for line in text.splitlines() if VIETNAMESE.search(line)]


def issue(hub: HubProcess, service: str) -> dict[str, Any]:
    r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": service}, headers=DEVICE, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_kiosk_in_english_has_no_vietnamese_left(demo_hub: HubProcess, open_page: Any) -> None:
    page = open_page(f"{demo_hub.url}/kiosk?token=demo-device", viewport=(1080, 1920))
    expect(page.locator("#field-grid .k-field")).to_have_count(6)
    expect(page.locator("#priority-groups-line")).to_contain_text("Người cao tuổi")
    page.locator("#lang-toggle").click()
    expect(page.locator("#fields-title")).to_have_text("Please choose the service you need")
    expect(page.locator("#priority-groups-line")).to_contain_text("Elderly people")
    assert leftover_vietnamese(page) == []
    page.locator("#priority-open").click()
    expect(page.locator("#group-grid .k-group")).to_have_count(5)
    assert leftover_vietnamese(page) == []
    page.locator("#group-grid .k-group").first.click()
    expect(page.locator("#priority-banner-group")).to_have_text("Elderly people")
    assert leftover_vietnamese(page) == []
    # and back: the same tiles in Vietnamese again
    page.locator("#lang-toggle").click()
    expect(page.locator("#priority-banner-group")).to_have_text("Người cao tuổi")


def test_kiosk_headline_follows_a_paper_out(demo_hub: HubProcess, open_page: Any) -> None:
    admin = login(demo_hub.url, "admin")
    page = open_page(f"{demo_hub.url}/kiosk?token=demo-device", viewport=(1080, 1920))
    expect(page.locator("#fields-sub")).to_have_text("Chạm vào một ô bên dưới để lấy số thứ tự")
    r = requests.post(f"{demo_hub.url}/api/v1/printer/simulate", json={"state": "paper_out"}, headers=admin,
                      timeout=10)
    assert r.status_code == 200, r.text
    try:
        expect(page.locator("#printer-banner")).to_be_visible()
        assert wait_js(page, "Array.from(document.querySelectorAll('#field-grid .k-field'))"
                             ".every(function (b) { return b.disabled; })")
        expect(page.locator("#fields-title")).to_have_text("Xin Ông/Bà vui lòng chờ trong giây lát")
        expect(page.locator("#fields-sub")).to_contain_text("tạm ngừng cấp số")
        assert "Chạm vào" not in page.evaluate("document.body.innerText")
        page.locator("#lang-toggle").click()  # a language switch keeps the paused wording
        expect(page.locator("#fields-title")).to_have_text("Please wait a moment")
        assert "Tap a box" not in page.evaluate("document.body.innerText")
    finally:
        requests.post(f"{demo_hub.url}/api/v1/printer/simulate", json={"state": "ok"}, headers=admin, timeout=10)
    expect(page.locator("#fields-title")).to_have_text("Please choose the service you need")


def test_phone_page_in_english_has_no_vietnamese_left(demo_hub: HubProcess, open_page: Any) -> None:
    ticket = issue(demo_hub, "chung-thuc")
    page = open_page(f"{demo_hub.url}/t/{ticket['id']}", viewport=(390, 844))
    expect(page.locator("#ticket-number")).to_have_text(ticket["number"])
    page.locator("#lang-toggle").click()
    expect(page.locator("#ticket-label")).to_have_text("Your number")
    wait_js(page, "!/Đang tải/.test(document.body.innerText)")
    assert leftover_vietnamese(page) == []
    staff = login(demo_hub.url, "staff2")  # counter 2 serves it: the rating buttons appear
    for action, body in (("next", None), ("finish", {"outcome": "received", "dossiers": 1})):
        r = requests.post(f"{demo_hub.url}/api/v1/counters/2/{action}", json=body, headers=staff, timeout=10)
        assert r.status_code == 200 and r.json()["id"] == ticket["id"], r.text
    expect(page.locator("#rating-levels [data-level]")).to_have_count(3)
    expect(page.locator('#rating-levels [data-level="1"]')).to_have_text("Very satisfied")
    assert leftover_vietnamese(page) == []
    page.locator('#rating-levels [data-level="3"]').click()  # unsatisfied: the reasons, in English
    expect(page.locator("#rating-reasons")).to_be_visible()
    assert leftover_vietnamese(page) == []


def test_display_counter_rate_and_landing_in_english(demo_hub: HubProcess, open_page: Any) -> None:
    # each page, once its first state is painted (the element that shows it)
    for path, painted in (("/display?lang=en", "[data-counter]"),
                          ("/rate/4?token=demo-device&lang=en", "body[data-rate-state=idle]"),
                          ("/?lang=en", ".land-card"), ("/counter?lang=en", "#login-view:not([hidden])")):
        page = open_page(demo_hub.url + path)
        wait_js(page, "document.documentElement.lang === 'en'")
        page.wait_for_selector(painted, state="attached")
        assert leftover_vietnamese(page) == [], path


def test_the_error_page_and_manager_page_are_bilingual(demo_hub: HubProcess, open_page: Any) -> None:
    page = open_page(f"{demo_hub.url}/nowhere")
    expect(page.locator("#error-title")).to_have_text("Không tìm thấy trang")
    expect(page.locator("#error-title-en")).to_have_text("Page not found")
    page = open_page(f"{demo_hub.url}/manager?lang=en")
    page.wait_for_selector("#login-view:not([hidden])")
    wait_js(page, "document.documentElement.lang === 'en'")
    assert leftover_vietnamese(page) == []


def test_counter_panel_in_english_while_serving(demo_hub: HubProcess, open_page: Any) -> None:
    from tests.ui.conftest import staff_login

    def dialog_in_english(action: str) -> None:
        desk.click(f'[data-action="{action}"]')
        desk.wait_for_selector("dialog[open]")
        assert leftover_vietnamese(desk) == [], action
        desk.keyboard.press("Escape")
        desk.wait_for_selector("dialog[open]", state="detached")

    ticket = issue(demo_hub, "tu-phap")
    desk = open_page(f"{demo_hub.url}/counter?lang=en")
    staff_login(desk, "staff5")
    assert leftover_vietnamese(desk) == []
    dialog_in_english("pause")  # offered while no one is being served
    desk.click('[data-action="next"]')
    expect(desk.locator("#current-number")).to_have_text(ticket["number"])
    assert leftover_vietnamese(desk) == []
    for action in ("transfer", "finish"):  # offered while serving
        dialog_in_english(action)


def test_rating_screen_in_english_while_asking(demo_hub: HubProcess, open_page: Any) -> None:
    screen = open_page(f"{demo_hub.url}/rate/6?token=demo-device&lang=en", viewport=(1280, 800))
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "idle")
    assert leftover_vietnamese(screen) == []
    issue(demo_hub, "bao-tro-xa-hoi")
    staff = login(demo_hub.url, "staff6")
    for action, body in (("next", None), ("finish", {"outcome": "received", "dossiers": 1})):
        r = requests.post(f"{demo_hub.url}/api/v1/counters/6/{action}", json=body, headers=staff, timeout=10)
        assert r.status_code == 200, r.text
    expect(screen.locator("body")).to_have_attribute("data-rate-state", "ask")
    assert leftover_vietnamese(screen) == []


# English words and raw ids a new user found on the Vietnamese manager pages (printer id "default",
# device kinds, "username", role and audit ids): none may be visible on a Vietnamese screen.
ENGLISH = re.compile(
    r"(?<![\w-])(default|printer|online|offline|username|password|counter-terminal|counter-display|"
    r"rating-box|numeric-led|lobby-board|staff|manager|admin|replace|revert_to_file|create_account|"
    r"reset_password|disable_account|enable_account|update_account|fields|counters|hours|ratings|"
    r"Level|Hour|Free|Serving|Paused|Printer|Device|device|unit|error|bridge|silent|id)(?![\w-])")
# What is data, not the page's words: user names (an account may be called "manager"), the config
# file's path, who changed what, and the audit log's raw JSON.
DATA = "#who, #config-source, .m-json, #cfg-staff tbody td:first-child, #audit-table tbody td:nth-child(2)"


def leftover_english(page: Any) -> list[str]:
    """Visible lines of the page, its data (DATA) left out, that carry a known English word or id."""
    page.evaluate("sel => document.querySelectorAll(sel).forEach(n => { n.textContent = ''; })", DATA)
    text = page.evaluate("document.body.innerText")
    return [line.strip() for line in text.splitlines() if ENGLISH.search(line)]


def test_manager_pages_in_vietnamese_show_no_english(demo_hub: HubProcess, open_page: Any) -> None:
    """The tester's finds: "Máy in default", "counter-terminal", "50.7 ms", "username"; an admin
    sees the whole page (hall, devices, configuration, change log), then the reports."""
    report = {
        "bridge": {"id": "bridge", "reported_at": "2026-12-01T00:00:00+00:00", "hub_reachable": True,
                   "queued_presses": 0, "queue_max": 1000, "refused_presses": 0, "error": None,
                   "buses": [{"name": "bus1", "port": "/dev/ttyUSB0", "baud": 9600}]},
        "devices": [{"id": f"bus1/{unit}", "bus": "bus1", "unit": unit, "kind": kind, "counter": counter,
                     "name": f"bus1/{unit}", "online": unit != 5, "last_seen": "2026-12-01T00:00:00+00:00",
                     "frames_ok": 120, "frames_bad": 2, "timeouts": 1, "exceptions": 0, "rtt_ms": 50.7,
                     "error": None if unit != 5 else "no answer (timeout)", "firmware": "1.2",
                     "serial": "1234abcd", "pending_events": 0, "overflows": 0, "line_noise": 7}
                    for unit, kind, counter in ((1, "counter-terminal", 1), (2, "counter-display", 2),
                                                (3, "rating-box", 1), (4, "numeric-led", None),
                                                (5, "lobby-board", None))],
    }
    r = requests.put(f"{demo_hub.url}/api/v1/devices/health", json=report, headers=DEVICE, timeout=10)
    assert r.status_code in (200, 204), r.text
    admin = login(demo_hub.url, "admin")  # one change, so the change log has a line to show
    ratings = requests.get(f"{demo_hub.url}/api/v1/config", headers=admin, timeout=10).json()["sections"]["ratings"]
    r = requests.put(f"{demo_hub.url}/api/v1/config/ratings",
                     json={"value": {**ratings, "levels": ["Rất hài lòng", "Hài lòng", "Chưa hài lòng"]}},
                     headers=admin, timeout=10)
    assert r.status_code == 200, r.text

    page = open_page(f"{demo_hub.url}/manager?lang=vi")
    page.wait_for_selector("#login-view:not([hidden])")
    page.fill("#username", "admin")
    page.fill("#password", "demo")
    page.click("#login-button")
    page.wait_for_selector("#config:not([hidden])")
    page.wait_for_selector('#devices [data-device="bus1/5"]')
    page.wait_for_selector("#audit-table tbody tr")
    expect(page.locator("#printers li").first).to_contain_text("Máy in chính")
    expect(page.locator('#devices [data-device="bus1/1"]')).to_contain_text("Bảng số + bàn phím quầy")
    expect(page.locator('#devices [data-device="bus1/1"]')).to_contain_text("50,7 ms")
    expect(page.locator('#devices [data-device="bus1/5"]')).to_contain_text("Bảng tổng hợp sảnh")
    expect(page.locator('#devices [data-device="bus1/5"]')).to_contain_text("lỗi liên lạc")
    assert page.get_attribute("#new-username", "placeholder") == "tên đăng nhập"
    assert leftover_english(page) == []

    # the reports, reached from the page's own link (same login)
    page.goto(f"{demo_hub.url}/manager/reports?lang=vi")
    page.wait_for_selector('table[data-table="summary"]')
    assert leftover_english(page) == []
