"""The kiosk and the ticket status page in Debian's headless chromium, on a real hub: what a citizen
sees on screen is what went to the printer, faults are said plainly, the phone page follows the
ticket until it is rated."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kiosk_escpos_parser import decode
from kiosk_hub_helpers import network_printer, shared_hub, ticket_events, write_center
from PIL import Image, ImageChops
from playwright.sync_api import expect

from kiosk.fake_printer import FakePrinter, FakeState
from kiosk.printers import PrinterStatus
from tests.conftest import DEVICE, HubProcess, login

pytestmark = pytest.mark.browser
SIZES = [(1080, 1920), (1920, 1080), (1024, 600)]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: Any) -> Iterator[HubProcess]:
    """One demo hub for the module: each test keeps to fields (and counters) of its own —
    the tap test Đăng ký kinh doanh, the priority path Bảo trợ xã hội, the layouts Tư pháp, the
    phone page Hộ tịch at counter 1."""
    process = shared_hub(tmp_path_factory, "--demo")
    yield process
    process.stop()


def open_kiosk(browser: Any, hub: HubProcess, size: tuple[int, int] = (1080, 1920),
               token: str | None = "demo-device") -> Any:
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    page.goto(f"{hub.url}/kiosk" + (f"?token={token}" if token else ""))
    return page


def field(page: Any, service: str) -> Any:
    button = page.locator(f'[data-service="{service}"]')
    button.wait_for(state="visible")
    return button


def test_a_tap_prints_the_number_shown_on_screen(browser: Any, hub: HubProcess) -> None:
    page = open_kiosk(browser, hub)
    field(page, "dang-ky-kinh-doanh").click()
    page.locator("#overlay-result").wait_for(state="visible")
    number = page.locator("#result-number").inner_text().strip()
    assert number == "4001"
    assert "token" not in page.url, "the device token leaves the address bar"
    assert page.evaluate("localStorage.getItem('quayso.kiosk.token')") == "demo-device"
    assert page.locator("#result-service").inner_text() == "Đăng ký kinh doanh"
    assert page.locator("#result-ahead").inner_text() == "0 người"

    spool = hub.data / "printer-spool"
    (ticket_bin,) = spool.glob(f"{number}-*.bin")
    data = ticket_bin.read_bytes()
    png = Image.open(ticket_bin.with_suffix(".png")).convert("1")
    doc = decode(data, 576)
    assert [t.text for t in doc.texts] == [number], "the printer's own digits carry the number"
    assert png.size == (576, doc.height)
    for raster in doc.rasters:  # every Vietnamese line, bit for bit where the preview has it
        region = png.crop((raster.x, raster.y, raster.x + raster.width, raster.y + raster.height))
        assert ImageChops.difference(region.convert("L"), raster.image().convert("L")).getbbox() is None
    (qr,) = doc.qrs
    match = re.search(rf"/t/({UUID})$", qr.data.decode())
    assert match, qr.data
    ticket = requests.get(f"{hub.url}/api/v1/tickets/{match.group(1)}", timeout=5).json()
    assert ticket["number"] == number and ticket["status"] == "waiting"

    page.locator("#result-done").click()
    page.locator("#overlay-result").wait_for(state="hidden")
    assert "Đang chờ: 1 người" in field(page, "dang-ky-kinh-doanh").inner_text()
    assert page.console_errors == []  # type: ignore[attr-defined]
    page.close()


def test_every_screen_size_fits_without_scrolling(browser: Any, hub: HubProcess) -> None:
    """Portrait 1080×1920, landscape 1920×1080 and 1024×600: the start screen, the priority
    screen and the number all fit, with big targets; the priority path issues a priority ticket."""
    page = open_kiosk(browser, hub, SIZES[0])
    field(page, "ho-tich")

    def fits(size: tuple[int, int]) -> None:
        overflow = page.evaluate("""() => {
            const d = document.documentElement;
            return [d.scrollWidth - innerWidth, d.scrollHeight - innerHeight];
        }""")
        assert overflow[0] <= 0 and overflow[1] <= 0, (size, overflow)

    for n, size in enumerate(SIZES):
        page.set_viewport_size({"width": size[0], "height": size[1]})
        tall = re.compile(r"\btiles-tall\b")
        grid = expect(page.locator("#field-grid"))
        grid.to_have_class(tall) if size[1] > size[0] else grid.not_to_have_class(tall)
        fits(size)
        for i in range(6):
            box = page.locator(".k-field").nth(i).bounding_box()
            assert box is not None and box["x"] >= 0 and box["y"] >= 0
            assert box["x"] + box["width"] <= size[0] and box["y"] + box["height"] <= size[1]
            assert box["height"] >= 120 and box["width"] >= 250, ("a target for an elderly finger", size)
        name_px = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.k-field-name')).fontSize)")
        assert name_px >= 24, size
        priority = page.locator("#priority-open").bounding_box()
        assert priority is not None and priority["height"] >= 60
        assert priority["y"] + priority["height"] <= size[1]

        page.locator("#priority-open").click()
        page.locator('[data-group="elderly"]').wait_for(state="visible")
        fits(size)
        if size == (1024, 600):  # the whole priority path once
            page.locator('[data-group="elderly"]').click()
            assert "Người cao tuổi" in page.locator("#priority-banner").inner_text()
            fits(size)
            field(page, "bao-tro-xa-hoi").click()
        else:
            page.locator("#priority-back").click()
            field(page, "tu-phap").click()
        card = page.locator("#overlay-result .k-card")
        card.wait_for(state="visible")
        box = card.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size[1], size
        number_px = page.evaluate("parseFloat(getComputedStyle(document.getElementById('result-number')).fontSize)")
        assert number_px >= 150, size
        if size == (1024, 600):
            assert page.locator("#result-priority").is_visible()
            assert page.locator("#result-number").inner_text() == "6001"
            assert requests.get(f"{hub.url}/api/v1/state", timeout=5).json()["waiting"]["bao-tro-xa-hoi"] == 1
            assert list((hub.data / "printer-spool").glob("6001-*.bin"))
        else:
            assert page.locator("#result-number").inner_text() == f"500{n + 1}"
        page.locator("#result-done").click()
        page.locator("#overlay-result").wait_for(state="hidden")
        page.locator("#priority-open").wait_for(state="visible")  # back to the ordinary start
    assert page.console_errors == []  # type: ignore[attr-defined]
    page.close()


def printer_reads(hub: HubProcess, status: str) -> None:
    """Ask the hub for fresh readings (it asks the printer at most once a second) until it sees
    `status`."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if requests.get(f"{hub.url}/api/v1/printer?refresh=1", timeout=5).json()["status"] == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"the printer never read {status}")


def test_printer_faults_are_said_plainly_and_issue_nothing(
    browser: Any, hub_factory: Any, tmp_path: Path, fake_printer: FakePrinter
) -> None:
    hub: HubProcess = hub_factory("--demo", "--config", str(write_center(tmp_path, network_printer(fake_printer))))
    page = open_kiosk(browser, hub, (1920, 1080))
    button = field(page, "chung-thuc")
    assert button.is_enabled()

    fake_printer.state = FakeState.COVER_OPEN  # opened after the page loaded: found at the tap
    button.click()
    page.locator("#overlay-error").wait_for(state="visible")
    assert page.locator("#error-text").inner_text() == PrinterStatus.COVER_OPEN.message_vi
    assert page.locator("#error-title").inner_text() == "Chưa lấy được số"
    page.locator("#error-back").click()
    banner = page.locator("#printer-banner")
    banner.wait_for(state="visible")
    assert PrinterStatus.COVER_OPEN.message_vi in banner.inner_text()
    assert not field(page, "chung-thuc").is_enabled(), "no futile taps while the printer is down"

    fake_printer.state = FakeState.PAPER_OUT  # a fresh reading is pushed as device_health
    printer_reads(hub, "paper_out")
    expect(page.locator("#printer-banner-text")).to_contain_text(PrinterStatus.PAPER_OUT.message_vi)

    fake_printer.state = FakeState.OK
    printer_reads(hub, "ok")
    banner.wait_for(state="hidden")
    field(page, "chung-thuc").click()
    page.locator("#overlay-result").wait_for(state="visible")
    assert page.locator("#result-number").inner_text() == "2001", "the refusals used no number"
    waiting = requests.get(f"{hub.url}/api/v1/state", timeout=5).json()["waiting"]
    assert sum(waiting.values()) == 1
    assert [kind for kind, _ in ticket_events(hub.data)] == ["issued", "printed"]
    page.close()


def test_closed_hours_and_sold_out_fields_say_so(browser: Any, hub_factory: Any, tmp_path: Path) -> None:
    """Đất đai closed today (its own hours), Hộ tịch capped at one ticket; then a center closed
    all day: the whole screen says so."""
    config = write_center(tmp_path, replace={
        'start = 1001\n': 'start = 1001\ndaily_cap = 1\n',
        'start = 3001\n': 'start = 3001\nhours = { closed_dates = [] }\n'})
    hub: HubProcess = hub_factory("--demo", "--config", str(config))
    page = open_kiosk(browser, hub, (1920, 1080))
    land = field(page, "dat-dai")
    assert not land.is_enabled() and "Ngoài giờ làm việc" in land.inner_text()
    field(page, "ho-tich").click()
    page.locator("#overlay-result").wait_for(state="visible")
    page.locator("#result-done").click()
    civil = field(page, "ho-tich")
    expect(civil).to_contain_text("Đã hết số hôm nay")
    assert not civil.is_enabled() and field(page, "chung-thuc").is_enabled()
    r = requests.post(f"{hub.url}/api/v1/kiosk/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
    assert r.status_code == 409 and "hết số hôm nay" in r.json()["error"]["message"]
    assert len(list((hub.data / "printer-spool").glob("*.bin"))) == 1, "a refusal prints nothing"
    page.close()

    closed = write_center(tmp_path, extra="\n[hours]\nclosed_dates = []\n", name="closed.toml")
    hub = hub_factory("--demo", "--config", str(closed))
    page = open_kiosk(browser, hub, (1080, 1920))
    page.locator("#screen-notice").wait_for(state="visible")
    assert page.locator("#notice-title").inner_text() == "Ngoài giờ làm việc"
    assert "không làm việc" in page.locator("#notice-text").inner_text()
    page.close()


def test_a_screen_without_a_device_token_issues_nothing(browser: Any, hub: HubProcess) -> None:
    context = browser.new_context(viewport={"width": 1024, "height": 600})
    page = context.new_page()
    page.goto(f"{hub.url}/kiosk")
    page.locator("#screen-notice").wait_for(state="visible")
    assert page.locator("#notice-title").inner_text() == "Màn hình chưa được cấp quyền cấp số"
    assert page.locator(".k-field").count() == 0 or not page.locator(".k-field").first.is_visible()
    page.locator("#lang-toggle").click()
    assert page.locator("#notice-title").inner_text() == "This screen may not issue numbers yet"
    context.close()


def test_the_phone_page_follows_the_ticket_and_takes_one_rating(browser: Any, hub: HubProcess) -> None:
    issue = f"{hub.url}/api/v1/kiosk/tickets"
    requests.post(issue, json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
    mine = requests.post(issue, json={"service": "ho-tich"}, headers=DEVICE, timeout=10).json()
    assert mine["status_url"].endswith(f"/t/{mine['id']}")

    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{hub.url}/t/{mine['id']}")
    page.locator("#facts").wait_for(state="visible")
    assert page.locator("#ticket-number").inner_text() == "1002"
    assert page.locator("#ticket-service").inner_text() == "Hộ tịch"
    assert page.locator("#fact-ahead").inner_text() == "1"
    assert page.locator("#status-title").inner_text() == "Đang chờ đến lượt"

    staff1 = login(hub.url, "staff1")
    requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff1, timeout=5)  # calls 1001
    expect(page.locator("#fact-ahead")).to_have_text("0")
    assert page.locator("#status-title").inner_text() == "Sắp đến lượt của Ông/Bà"

    requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff1, timeout=5)  # calls 1002
    page.get_by_text("Mời đến quầy 1", exact=True).wait_for()
    assert page.locator("#rating").is_hidden()

    requests.post(f"{hub.url}/api/v1/counters/1/finish", json={"outcome": "received"}, headers=staff1, timeout=5)
    page.locator("#rating").wait_for(state="visible")
    levels = page.locator("#rating-levels button")
    assert levels.all_inner_texts() == ["Rất hài lòng", "Hài lòng", "Chưa hài lòng"]
    levels.first.click()
    page.get_by_text("Đã đánh giá", exact=False).wait_for()
    assert page.locator("#rating-levels").is_hidden()

    ticket = requests.get(f"{hub.url}/api/v1/tickets/{mine['id']}", timeout=5).json()
    assert ticket["rated"] is True and ticket["status"] == "done"
    again = requests.post(f"{hub.url}/api/v1/ratings", json={"ticket": mine["id"], "level": 3}, timeout=5)
    assert again.status_code == 409
    rated = [data for kind, data in ticket_events(hub.data, mine["id"]) if kind == "rated"]
    assert len(rated) == 1 and rated[0]["level"] == 1 and rated[0]["source"] == "phone"

    page.reload()
    page.get_by_text("Đã đánh giá", exact=False).wait_for()
    assert page.locator("#rating-levels button").count() == 0 or page.locator("#rating-levels").is_hidden()
    page.close()


def test_an_unknown_ticket_gets_a_friendly_page(browser: Any, hub: HubProcess) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    response = page.goto(f"{hub.url}/t/00000000-0000-4000-8000-000000000000")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Không tìm thấy số thứ tự"
    assert "quét lại mã QR" in page.locator("#error-text").inner_text()
    assert page.locator("#error-title-en").inner_text() == "Ticket not found"  # the hub's error page
    assert "Traceback" not in page.content()
    response = page.goto(f"{hub.url}/t/%3Cscript%3E")
    assert response.status == 404
    page.close()
