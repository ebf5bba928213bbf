"""The province page in Debian's Chromium (issue 12): with the reader token it lists every center with
its figures, and a center that stopped reporting (no batch for 15 minutes) is highlighted."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from playwright.sync_api import expect

from .conftest import READER_TOKEN
from .test_central_ingest import batch, encode, post, slot

pytestmark = pytest.mark.browser


def test_province_page_shows_figures_and_highlights_silent_centers(central_factory, browser: Any) -> None:
    central = central_factory()
    b = batch([slot(7, rated=3)])
    assert post(central.url, encode(b), b["batch_id"]).status_code == 201
    with psycopg.connect(central.dsn) as conn:  # xa-2 last reported an hour ago
        conn.execute("UPDATE centers SET last_batch_at = now() - interval '1 hour' WHERE id = 'xa-2'")
    page = browser.new_page()
    try:
        page.goto(f"{central.url}/province")
        page.fill("#token", READER_TOKEN)
        page.fill("#from", "2026-11-30")
        page.fill("#to", "2026-11-30")
        page.click("button[type=submit]")
        row = page.locator('tr[data-center="xa-1"]')
        row.wait_for()
        cells = row.locator("td").all_inner_texts()
        assert cells[:5] == ["xa-1", "Trung tâm xã xa-1", "7", "7", "0"]
        assert "stale" not in (row.get_attribute("class") or "")
        assert page.locator('tr[data-center="xa-2"]').get_attribute("class") == "stale"
        assert page.locator('tr[data-center="xa-3"]').get_attribute("class") == "stale"  # never reported
        assert page.locator("thead th").all_inner_texts()[2] == "Lượt tiếp nhận"

        # A new batch shows by itself (the page refreshes every 10 s, README "Reporting to the
        # province"), for the dates last asked for: dates being edited are not taken unasked.
        page.fill("#from", "2026-11-29")
        page.fill("#to", "2026-11-29")
        b = batch([slot(9, revision=2, rated=3)], sequence=2)
        assert post(central.url, encode(b), b["batch_id"]).status_code == 201
        expect(row.locator("td").nth(2)).to_have_text("9", timeout=30_000)
        assert page.url.endswith("/province")  # fetched, not reloaded: the edited dates are still there
        assert page.input_value("#from") == "2026-11-29"

        page.fill("#token", "wrong-token-of-nobody-at-all")
        page.click("button[type=submit]")
        page.locator("#message").filter(has_text="mã truy cập").wait_for()
    finally:
        page.close()
