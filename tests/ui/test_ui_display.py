"""The TV page: a call reaches it fast, is announced through one audio queue, survives a cut-off."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import DEVICE, HubProcess, center_toml, counter_toml, field_toml, login
from tests.ui.conftest import staff_login, wait_js

pytestmark = pytest.mark.browser

ANNOUNCED = "window.__announcements || []"


def issue(hub: HubProcess, service: str) -> dict[str, Any]:
    r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": service}, headers=DEVICE, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def call_next(hub: HubProcess, counter: int, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{hub.url}/api/v1/counters/{counter}/next", headers=headers, timeout=10)


def display_ready(page: Any) -> None:
    page.wait_for_selector('[data-counter="1"]', state="attached")


def test_call_from_counter_page_shows_on_display_and_is_spoken(demo_hub: HubProcess, open_page: Any) -> None:
    hub = demo_hub  # counter 1, Hộ tịch
    issue(hub, "ho-tich")
    tv = open_page(f"{hub.url}/display")
    display_ready(tv)
    expect(tv.locator("#center-name")).to_have_text("Trung tâm Phục vụ hành chính công xã Kim Thành")
    desk = open_page(f"{hub.url}/counter", viewport=(1366, 768))
    staff_login(desk, "staff1")

    with tv.expect_request(lambda r: "/audio/" in r.url and not r.url.endswith("/chime.wav"),
                           timeout=5000) as audio:
        started = time.monotonic()
        desk.get_by_role("button", name="Gọi số tiếp theo").click()
        expect(tv.locator('[data-counter="1"]')).to_have_text("1001", timeout=1000)
        shown_after = time.monotonic() - started
    assert shown_after < 1.0
    assert audio.value.url.startswith(f"{hub.url}/audio/")
    expect(desk.locator("#current-number")).to_have_text("1001")
    expect(tv.locator(".tile.flash")).to_have_count(1)  # the new call flashes
    expect(tv.locator("#now-number")).to_have_text("1001")

    # The chime, then espeak-ng's voice synthesized by the hub, are actually played.
    chime, voice = wait_js(tv, f"(l => l.length >= 2 && l[1].started && l)({ANNOUNCED})")[:2]
    assert chime["kind"] == "chime" and chime["url"] == "/audio/chime.wav" and chime["error"] is None
    assert voice["kind"] == "voice" and voice["started"] >= chime["ended"]
    assert voice["number"] == "1001" and voice["counter"] == 1 and not voice["recall"]
    assert voice["url"] == audio.value.url.removeprefix(hub.url)
    assert tv.evaluate("document.body.dataset.audioState") == "playing"
    wav = requests.get(audio.value.url, timeout=10)
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF" and len(wav.content) > 20_000


# The demo center with a silent 0.1 s voice, so ordering tests do not wait for real speech.
FAST_VOICE = center_toml('[voice]\nengine = "fake"', field_toml("ho-tich"), field_toml("chung-thuc"),
                         counter_toml(1, ["ho-tich", "chung-thuc"]), counter_toml(2, ["chung-thuc", "ho-tich"]))


def test_quick_calls_and_a_recall_are_announced_in_order_without_overlap(
        hub_factory: Any, open_page: Any) -> None:
    hub = hub_factory("--demo", config=FAST_VOICE)
    issue(hub, "ho-tich")
    issue(hub, "chung-thuc")
    tv = open_page(f"{hub.url}/display?chime=0")  # the chime's order is checked above
    display_ready(tv)
    admin = login(hub.url, "admin")
    assert call_next(hub, 1, admin).json()["number"] == "1001"
    assert call_next(hub, 2, admin).json()["number"] == "2001"
    r = requests.post(f"{hub.url}/api/v1/counters/1/recall", headers=admin, timeout=10)
    assert r.status_code == 200, r.text
    expect(tv.locator('[data-counter="1"]')).to_have_text("1001")
    expect(tv.locator('[data-counter="2"]')).to_have_text("2001")

    # One queue: the calls in the order they were made, each starting after the one before ended.
    clips = wait_js(tv, f"(l => l.length >= 3 && l[2].started && l)({ANNOUNCED})", timeout=15)
    assert [(c["kind"], c["number"], c["counter"], c["recall"]) for c in clips] == [
        ("voice", "1001", 1, False), ("voice", "2001", 2, False), ("voice", "1001", 1, True)]
    assert clips[0]["url"] == clips[2]["url"] != clips[1]["url"]
    for before, after in zip(clips, clips[1:]):
        if after["started"] is not None:
            assert before["ended"] is not None and after["started"] >= before["ended"], clips
    assert all(c["error"] is None for c in clips if c["ended"]), clips


def test_display_catches_up_after_a_cut(hub: HubProcess, open_page: Any) -> None:
    issue(hub, "ho-tich")
    issue(hub, "ho-tich")
    tv = open_page(f"{hub.url}/display?sound=0")
    display_ready(tv)
    expect(tv.locator("body")).to_have_attribute("data-audio-state", "off")
    admin = login(hub.url, "admin")

    # The socket drops; a call is made meanwhile; on reconnect the display shows it.
    tv.evaluate("window.__socket.disconnect()")
    expect(tv.locator("#offline")).to_be_visible()
    assert call_next(hub, 1, admin).json()["number"] == "1001"
    tv.wait_for_timeout(200)
    expect(tv.locator('[data-counter="1"]')).to_have_text("")
    tv.evaluate("window.__socket.connect()")
    expect(tv.locator('[data-counter="1"]')).to_have_text("1001", timeout=2000)
    expect(tv.locator("#offline")).to_be_hidden()

    # The hub itself dies (kill -9) and comes back; the call made right after shows within 2 s
    # of the display being able to reconnect.
    hub.kill9()
    expect(tv.locator("#offline")).to_be_visible()
    hub.start()
    back = time.monotonic()
    assert call_next(hub, 1, admin).json()["number"] == "1002"
    expect(tv.locator('[data-counter="1"]')).to_have_text("1002", timeout=3000)
    assert time.monotonic() - back < 3.0
    expect(tv.locator("#offline")).to_be_hidden()


def test_paused_counter_and_waiting_counts(demo_hub: HubProcess, open_page: Any) -> None:
    hub = demo_hub  # counter 6, Đất đai
    tv = open_page(f"{hub.url}/display?sound=0")
    display_ready(tv)
    expect(tv.locator('[data-waiting="dat-dai"]')).to_have_text("0")
    issue(hub, "dat-dai")
    issue(hub, "dat-dai")
    expect(tv.locator('[data-waiting="dat-dai"]')).to_have_text("2")
    staff6 = login(hub.url, "staff6")
    r = requests.post(f"{hub.url}/api/v1/counters/6/pause", json={"reason": "meeting", "minutes": 10},
                      headers=staff6, timeout=10)
    assert r.status_code == 200, r.text
    tile = tv.locator('[data-tile="6"]')
    expect(tile.locator(".tile-status")).to_have_text("Tạm ngưng")
    expect(tile.locator(".tile-sub")).to_have_text("Họp đột xuất")
    expect(tv.locator('[data-counter="6"]')).to_have_text("")
    body = tv.locator("body").inner_text()
    assert "Trace" not in body and "undefined" not in body and "null" not in body


ZONED = center_toml('[voice]\nengine = "fake"\nchime = false', field_toml("ho-tich"), field_toml("dat-dai"),
                    counter_toml(1, ["ho-tich"], zone="tang1"), counter_toml(2, ["dat-dai"], zone="tang2"),
                    name="Trung tâm Phục vụ hành chính công huyện Thử Nghiệm")


def test_zone_display_shows_only_its_counters(hub_factory: Any, open_page: Any) -> None:
    hub = hub_factory("--demo", config=ZONED)
    tv = open_page(f"{hub.url}/display?zone=tang2")
    tv.wait_for_selector('[data-counter="2"]', state="attached")
    expect(tv.locator("[data-counter]")).to_have_count(1)
    expect(tv.locator("#zone-name")).to_have_text("tang2")
    expect(tv.locator("[data-waiting]")).to_have_count(1)  # only the zone's fields
    issue(hub, "ho-tich")
    issue(hub, "dat-dai")
    admin = login(hub.url, "admin")
    assert call_next(hub, 1, admin).status_code == 200
    assert call_next(hub, 2, admin).status_code == 200
    expect(tv.locator('[data-counter="2"]')).to_have_text("3001")
    clips = wait_js(tv, f"({ANNOUNCED}).filter(a => a.started)")
    assert {c["counter"] for c in clips} == {2}
    tv.wait_for_timeout(300)
    assert "1001" not in tv.locator("body").inner_text()

    unknown = open_page(f"{hub.url}/display?zone=khong-co")
    expect(unknown.locator("#tv-error")).to_have_text("Không có khu vực này.")


BLOCK_AUTOPLAY = """
(() => {
  const play = HTMLMediaElement.prototype.play;
  window.__allowSound = false;
  HTMLMediaElement.prototype.play = function () {
    if (!window.__allowSound) {
      return Promise.reject(new DOMException("play() needs a user gesture", "NotAllowedError"));
    }
    return play.call(this);
  };
  document.addEventListener("click", () => { window.__allowSound = true; }, true);
})();
"""


def test_blocked_sound_shows_overlay_and_a_click_resumes(demo_hub: HubProcess, browser: Any,
                                                        open_page: Any) -> None:
    hub = demo_hub  # counter 5, Tư pháp
    issue(hub, "tu-phap")
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.add_init_script(BLOCK_AUTOPLAY)  # what a browser without the autoplay flag does
    try:
        tv = open_page(f"{hub.url}/display?chime=0", context=context)
        overlay = tv.locator("#sound-overlay")
        expect(overlay).to_be_visible()  # the start-up probe already knows
        expect(overlay).to_contain_text("Bấm để bật âm thanh")
        expect(tv.locator("body")).to_have_attribute("data-audio-state", "blocked")
        assert call_next(hub, 5, login(hub.url, "staff5")).json()["number"] == "5001"
        expect(tv.locator('[data-counter="5"]')).to_have_text("5001")
        overlay.click()
        expect(overlay).to_be_hidden()
        clip = wait_js(tv, f"({ANNOUNCED}).filter(a => a.started)")[0]
        assert clip["number"] == "5001" and clip["kind"] == "voice"
    finally:
        context.close()


def test_pages_loaded_while_a_counter_serves_show_the_field_name(hub: HubProcess, open_page: Any) -> None:
    """A TV (or counter panel, or manager page) opened AFTER a call draws the serving tile from
    the first `state`: the field's name, never its id (a TV showed `ho-tich` until the next call)."""
    from tests.manager.test_ui_manager import manager_login

    issue(hub, "ho-tich")
    assert call_next(hub, 1, login(hub.url, "staff1")).json()["number"] == "1001"

    tv = open_page(f"{hub.url}/display?sound=0")
    expect(tv.locator('[data-counter="1"]')).to_have_text("1001")
    expect(tv.locator('[data-tile="1"] .tile-sub')).to_have_text("Hộ tịch")
    tv_en = open_page(f"{hub.url}/display?sound=0&lang=en")
    expect(tv_en.locator('[data-counter="1"]')).to_have_text("1001")
    expect(tv_en.locator('[data-tile="1"] .tile-sub')).to_have_text("Civil status")

    desk = open_page(f"{hub.url}/counter", viewport=(1366, 768))
    staff_login(desk, "staff1")
    expect(desk.locator("#current-number")).to_have_text("1001")
    expect(desk.locator("#current-service")).to_have_text("Hộ tịch")

    hall = open_page(f"{hub.url}/manager")
    manager_login(hall, "manager")
    tile = hall.locator('#counters [data-counter="1"]')
    expect(tile.locator(".m-number")).to_have_text("1001")
    expect(tile.locator(".m-sub").first).to_contain_text("Hộ tịch")
    assert "ho-tich" not in tile.inner_text()
