"""The province page in Debian's Chromium (issue 12): with the reader token it lists every center with
its figures, and a center that stopped reporting (no batch for 15 minutes) is highlighted."""

from __future__ import annotations

import csv
import io
from typing import Any

import psycopg
import requests
import pytest
from playwright.sync_api import expect

from .conftest import READER_TOKEN
from .test_central_ingest import batch, encode, post, slot
from .test_ingest_v2 import batch_v2, event

pytestmark = pytest.mark.browser



def show_day(page, url: str, day: str, center: str):  # type: ignore[no-untyped-def]
    """Open /province, give the reader's token and one day, and wait for `center`'s row."""
    page.goto(f"{url}/province")
    page.fill("#token", READER_TOKEN)
    page.fill("#from", day)
    page.fill("#to", day)
    page.click("button[type=submit]")
    row = page.locator(f'tr[data-center="{center}"]')
    row.wait_for()
    return row

def test_province_page_shows_figures_and_highlights_silent_centers(central_factory, browser: Any) -> None:
    central = central_factory()
    b = batch([slot(7, rated=3)])
    assert post(central.url, encode(b), b["batch_id"]).status_code == 201
    with psycopg.connect(central.dsn) as conn:  # xa-2 last reported an hour ago
        conn.execute("UPDATE centers SET last_batch_at = now() - interval '1 hour' WHERE id = 'xa-2'")
    page = browser.new_page()
    try:
        row = show_day(page, central.url, "2026-11-30", "xa-1")
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


def test_raw_events_on_the_page_and_in_the_exports_last_sent_in_the_provinces_time(central_factory,
                                                                                  browser: Any) -> None:
    """The page and its CSV/XLSX carry the raw events per center and in the total (as the
    summary API does); "Gửi lần cuối" is in the province's time zone (the central's
    --timezone, Asia/Ho_Chi_Minh), even in a browser set to UTC."""
    central = central_factory()
    b = batch_v2([event(i) for i in range(1, 6)], [slot(3)])
    assert post(central.url, encode(b), b["batch_id"]).status_code == 201
    with psycopg.connect(central.dsn) as conn:  # 17:30:05 UTC is 00:30:05 the next day in Hanoi
        conn.execute("UPDATE centers SET last_batch_at = '2026-11-30 17:30:05+00' WHERE id = 'xa-1'")
    context = browser.new_context(locale="vi-VN", timezone_id="UTC")
    try:
        page = context.new_page()
        row = show_day(page, central.url, "2026-11-30", "xa-1")
        heads = page.locator("thead th").all_inner_texts()
        assert heads[-2:] == ["Sự kiện gốc", "Gửi lần cuối"]
        cells = row.locator("td").all_inner_texts()
        assert cells[heads.index("Sự kiện gốc")] == "5"
        assert "00:30:05" in cells[-1] and "01/12/2026" in cells[-1] and "17:30" not in cells[-1]
        total = page.locator("tr.total td").all_inner_texts()
        assert total[1] == "Toàn tỉnh" and total[heads.index("Sự kiện gốc")] == "5"
        other = page.locator('tr[data-center="xa-2"] td').all_inner_texts()
        assert other[heads.index("Sự kiện gốc")] == "0" and other[-1] == "chưa bao giờ"
    finally:
        context.close()

    params = {"from": "2026-11-30", "to": "2026-11-30"}
    reader = {"Authorization": f"Bearer {READER_TOKEN}"}
    r = requests.get(f"{central.url}/api/v1/province/summary.csv", params=params, headers=reader, timeout=10)
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    col = rows[0].index("Sự kiện gốc")
    assert rows[0][-1] == "Đang báo cáo"
    assert next(x for x in rows if x[0] == "xa-1")[col] == "5"
    assert next(x for x in rows if x[0] == "xa-2")[col] == "0"
    assert rows[-1][1] == "Toàn tỉnh" and rows[-1][col] == "5"
    r = requests.get(f"{central.url}/api/v1/province/summary.xlsx", params=params, headers=reader, timeout=10)
    assert r.status_code == 200
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(r.content)).active
    values = [[c.value for c in line] for line in ws.iter_rows()]
    col = values[1].index("Sự kiện gốc")
    assert next(v for v in values if v[0] == "xa-1")[col] == 5
    assert values[-1][1] == "Toàn tỉnh" and values[-1][col] == 5
    # a center that stopped reporting is still shaded in red: the fill follows the last column
    xa2 = next(i for i, v in enumerate(values, start=1) if v[0] == "xa-2")
    assert values[xa2 - 1][-1] == "KHÔNG" and ws.cell(xa2, 1).fill.fgColor.rgb.endswith("F8D7DA")
