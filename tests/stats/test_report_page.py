"""The report page /manager/reports in headless Chromium, on the scripted day's hub
(tests/stats/conftest.py): a manager logs in and sees the tables and the charts drawn, downloads
an export; English on ?lang=en; staff see nothing but a refusal."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from tests.stats.conftest import ScriptedHub
from tests.ui.conftest import open_page, wait_js  # noqa: F401  (fixture)

RANGE = "from=2026-11-30&to=2026-11-30"
CHARTS = ("chart-hours", "chart-waits", "chart-days", "chart-staff")


def log_in(page: Any, username: str) -> None:
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#username", username)
    page.fill("#password", "demo")
    page.click("#login-form button[type=submit]")


def table_cells(page: Any, key: str) -> list[list[str]]:
    return page.evaluate(
        """key => Array.from(document.querySelectorAll(`table[data-table="${key}"] tbody tr`))
                 .map(tr => Array.from(tr.cells).map(td => td.textContent))""", key)


def painted_pixels(page: Any, canvas_id: str) -> int:
    """How many pixels of the canvas something was drawn on (alpha > 0)."""
    return page.evaluate(
        """id => { const c = document.getElementById(id);
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""",
        canvas_id)


def test_a_manager_sees_the_tables_and_the_charts(day_hub: ScriptedHub, open_page: Any) -> None:  # noqa: F811
    page = open_page(f"{day_hub.hub.url}/manager/reports?{RANGE}")
    log_in(page, "manager")
    page.wait_for_selector('table[data-table="satisfaction"]')
    assert table_cells(page, "satisfaction") == [["4", "2", "50,00", "1", "25,00", "1", "25,00"]]
    fields = {r[1]: r for r in table_cells(page, "fields")}
    assert fields["Hộ tịch"][2:5] == ["3", "3", "1"] and fields["Tổng cộng"][3] == "4"
    assert "Trung tâm Phục vụ hành chính công xã Kim Thành" in page.text_content(".center")
    for canvas in CHARTS:
        assert painted_pixels(page, canvas) > 500, canvas
    # the charts carry the day's figures, not placeholders
    assert page.evaluate("Chart.getChart('chart-waits').data.datasets[0].data") == [1, 0, 1, 0, 1, 1, 0, 0]
    assert page.evaluate("Chart.getChart('chart-hours').data.labels") == ["08:00", "09:00"]
    staff = page.evaluate("Chart.getChart('chart-staff').data")
    assert staff["labels"] == ["Cán bộ quầy 1", "Cán bộ quầy 2", "Cán bộ quầy 3"]
    assert [d["data"] for d in staff["datasets"]] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]

    with page.expect_download() as info:
        page.click('button[data-file="satisfaction.xlsx"]')
    download = info.value
    assert download.suggested_filename == "bao-cao-satisfaction-2026-11-30_2026-11-30.xlsx"
    ws = load_workbook(io.BytesIO(open(download.path(), "rb").read())).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[-1] == (4, 2, 50.0, 1, 25.0, 1, 25.0)

    # print on A4: the controls go, the tables and charts stay
    page.emulate_media(media="print")
    assert not page.is_visible("#range-form") and page.is_visible("#chart-days")
    assert page.pdf(format="A4").startswith(b"%PDF")


def test_english_page(day_hub: ScriptedHub, open_page: Any) -> None:  # noqa: F811
    page = open_page(f"{day_hub.hub.url}/manager/reports?{RANGE}&lang=en")
    log_in(page, "admin")
    page.wait_for_selector('table[data-table="summary"]')
    assert page.inner_text("h1").startswith("Statistics report")
    summary = dict((r[0], r[1]) for r in table_cells(page, "summary"))
    assert summary["Cancellation rate (%)"] == "16.67"


def test_staff_cannot_open_the_reports(day_hub: ScriptedHub, open_page: Any) -> None:  # noqa: F811
    page = open_page(f"{day_hub.hub.url}/manager/reports?{RANGE}")
    log_in(page, "staff1")
    page.wait_for_selector("#message:not([hidden])")
    assert "không được xem" in page.inner_text("#message")
    assert not page.is_visible("#report")
    assert page.evaluate("document.querySelectorAll('table.report-table').length") == 0


TICKS_JS = """() => Object.values(Chart.instances).flatMap(c => Object.values(c.scales)
  .filter(s => s.type === 'linear')
  .flatMap(s => s.ticks.map(t => ({chart: c.canvas.id, axis: s.id, value: t.value, label: t.label}))))"""


def test_chart_numbers_in_the_page_format(day_hub: ScriptedHub, open_page: Any) -> None:  # noqa: F811
    """The tester saw 0.1…1.0 on the ratings chart's axis of the Vietnamese page: every number
    axis and every tooltip value in vi-VN (0,5), and in en-GB on the English page (0.5)."""
    for lang, point_five in (("vi", "0,5"), ("en", "0.5")):
        page = open_page(f"{day_hub.hub.url}/manager/reports?{RANGE}&lang={lang}")
        log_in(page, "manager")
        page.wait_for_selector('table[data-table="summary"]')
        ticks = page.evaluate(TICKS_JS)
        assert {t["chart"] for t in ticks} == set(CHARTS)
        fractional = [t for t in ticks if t["value"] != int(t["value"])]
        assert fractional, ticks  # the staff chart's 0…1 axis has tenths: the case at hand
        expected = {str(t["value"]).replace(".", ",") if lang == "vi" else str(t["value"]) for t in fractional}
        assert {t["label"] for t in fractional} == expected
        # what a tooltip shows for a value on that axis
        assert page.evaluate("Chart.getChart('chart-staff').scales.x.getLabelForValue(0.5)") == point_five
        assert page.evaluate("Chart.getChart('chart-hours').scales.y.getLabelForValue(0.5)") == point_five
