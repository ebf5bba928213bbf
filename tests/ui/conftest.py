"""Browser fixtures: Debian's chromium driven by Playwright (never `playwright install`).

One browser for the whole session; a fresh context (own storage) per test. Each page records its
requests, console errors and uncaught exceptions, and the test fails at teardown if a page threw,
broke its Content-Security-Policy or asked anything of another origin (every asset is local).
A module's tests share one demo hub (`demo_hub`) unless they restart it or need another config.
The pages keep their CSP in tests, so waits poll with `page.evaluate` (which CSP allows) instead of
`wait_for_function` (which needs eval).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import HubProcess, free_port



@dataclass
class PageLog:
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def demo_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """One demo hub shared by a module's tests (a hub takes a second to start). Tests that share
    it work on different counters and fields, and compare per-counter / per-staff figures."""
    hub = HubProcess(tmp_path_factory.mktemp("hub") / "data", free_port(), ["--demo"]).start()
    yield hub
    hub.stop()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """open_page(url, **context_options) -> page in a new context; `page.log` is its PageLog.
    Pages of one context share localStorage; pass `context=` to open a second tab in it."""
    contexts: list[Any] = []
    pages: list[tuple[Any, PageLog, str]] = []

    def make(url: str, context: Any = None, viewport: tuple[int, int] = (1920, 1080)) -> Any:
        if context is None:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                          locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
            contexts.append(context)
        page = context.new_page()
        log = PageLog()
        origin = url.split("/", 3)[:3]
        page.on("request", lambda r: log.requests.append(r.url))
        page.on("pageerror", lambda e: log.errors.append(str(e)))
        page.on("console", lambda m: log.console.append(m.text) if m.type == "error" else None)
        page.log = log
        page.goto(url)
        pages.append((page, log, "/".join(origin)))
        return page

    yield make
    problems = []
    for page, log, origin in pages:
        problems += [f"{page.url}: uncaught {e}" for e in log.errors]
        problems += [f"{page.url}: {m}" for m in log.console if "Content Security Policy" in m]
        problems += [f"{page.url}: foreign request {u}" for u in log.requests
                     if not (u.startswith(origin + "/") or u.startswith(("blob:", "data:")))]
    for context in contexts:
        context.close()
    assert not problems, "\n".join(problems)


def wait_js(page: Any, expression: str, timeout: float = 5.0) -> Any:
    """Polls a JS expression until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {expression}")
        page.wait_for_timeout(40)


def staff_login(page: Any, username: str, password: str = "demo") -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-button")
    page.wait_for_selector("#work-view:not([hidden])")
    wait_for_counter_state(page)


def wait_for_counter_state(page: Any) -> None:
    """Ready once the hub's state for this counter has arrived (the Next button is enabled, or
    the pause banner shows): until then a key press is rightly ignored."""
    page.wait_for_selector('[data-action="next"]:not([disabled]), .pause-banner:not([hidden])')
