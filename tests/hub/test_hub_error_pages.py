"""What a refusal looks like to whoever asked: a browser gets a page in the center's style
(Vietnamese first, English below), API clients keep the JSON error, and HTTP-level refusals keep
their headers (a 405's Allow)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import HubProcess
from tests.hub.test_hub_input import refused

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_405_carries_allow(hub: HubProcess) -> None:
    for method, path in [("delete", "/api/v1/tickets"), ("put", "/api/v1/auth/login"),
                         ("post", "/api/v1/state"), ("post", "/display")]:
        r = requests.request(method, hub.url + path, timeout=10)
        refused(r, 405, "method_not_allowed")
        allow = {m.strip() for m in r.headers["Allow"].split(",")}
        assert method.upper() not in allow, (path, allow)
        assert allow & {"GET", "POST"}, (path, allow)
    # a browser's 405 page keeps it too
    r = requests.post(f"{hub.url}/display", headers={"Accept": BROWSER_ACCEPT}, timeout=10)
    assert r.status_code == 405 and "GET" in r.headers["Allow"] and "text/html" in r.headers["Content-Type"]


@pytest.mark.parametrize("path", ["/rate/99", "/nowhere", "/display/extra", "/assets/kiosk/css/none.css"])
def test_a_browser_gets_a_page_and_an_api_client_json(hub: HubProcess, path: str) -> None:
    page = requests.get(hub.url + path, headers={"Accept": BROWSER_ACCEPT}, timeout=10)
    assert page.status_code == 404
    assert page.headers["Content-Type"].startswith("text/html"), page.text[:200]
    assert "Không tìm thấy trang" in page.text and "Page not found" in page.text
    assert "Content-Security-Policy" in page.headers and '<html lang="vi">' in page.text
    for accept in ("application/json", "*/*"):
        r = requests.get(hub.url + path, headers={"Accept": accept}, timeout=10)
        refused(r, 404, "not_found")


def test_api_paths_answer_json_even_to_a_browser(hub: HubProcess) -> None:
    for path in ("/api/v1/nowhere", "/api/v1/tickets/nope"):
        r = requests.get(hub.url + path, headers={"Accept": BROWSER_ACCEPT}, timeout=10)
        refused(r, 404)


def test_the_manager_page_is_a_page_and_its_data_needs_a_login(hub: HubProcess) -> None:
    # /manager was a 501 placeholder until issue 11 built it (tests/manager/)
    page = requests.get(f"{hub.url}/manager", headers={"Accept": BROWSER_ACCEPT}, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Đăng nhập trang quản lý" in page.text
    refused(requests.get(f"{hub.url}/api/v1/manager/hall", headers={"Accept": BROWSER_ACCEPT}, timeout=10),
            401, "login_required")


def test_the_error_page_in_chromium_is_styled_and_bilingual(browser: Any, hub: HubProcess) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        response = page.goto(f"{hub.url}/rate/99")
        assert response is not None and response.status == 404
        assert page.locator("#error-title").inner_text() == "Không tìm thấy trang"
        assert page.locator("#error-title-en").inner_text() == "Page not found"
        # the house palette loaded (same-origin CSS under the page's CSP): the header is blue
        header = page.evaluate("getComputedStyle(document.querySelector('.p-header')).backgroundColor")
        assert header == "rgb(11, 78, 162)", header
        assert page.locator("#error-home").get_attribute("href") == "/"
    finally:
        context.close()
