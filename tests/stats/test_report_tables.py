"""The report tables in the reports' formats: the reference reports' percentages, Vietnamese
numbers, and the XLSX / CSV files of the scripted day (tests/stats/conftest.py) as a manager
downloads them from the hub."""

from __future__ import annotations

import csv
import io
from collections import Counter as Tally
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from openpyxl import load_workbook

from queue_server import exports, number_format, report_tables, stats
from queue_server.config import parse_config
from queue_server.storage import SqliteStore
from tests.stats.conftest import CENTER, ScriptedHub

RANGE = "from=2026-11-30&to=2026-11-30"


# ------------------------------------------------------------- the reference reports' figures

@pytest.mark.parametrize("counts, published", [
    ((3279, 32, 0), ("99.03", "0.97", "0.00")),  # reference 000, Q1/2024 (3.311 ratings)
    ((1924, 93), ("95.39", "4.61")),  # reference 003, Q3/2019 (2.017 ratings; printed 95,4 / 4,6)
])
def test_reference_counts_give_the_published_percentages(counts: tuple[int, ...], published: tuple[str, ...]) -> None:
    got = report_tables.shares(counts)
    assert got == [Decimal(p) for p in published]
    assert sum(got) == Decimal("100.00")  # type: ignore[arg-type]


@pytest.mark.parametrize("counts", [(1, 1, 1), (2, 2, 2, 1), (7, 0, 0), (1, 2, 3, 4, 5), (333, 333, 334)])
def test_shares_always_add_up_to_100(counts: tuple[int, ...]) -> None:
    got = report_tables.shares(counts)
    assert sum(got) == Decimal("100.00")  # type: ignore[arg-type]
    # each share is its exact value rounded down or up, never further off
    total = sum(counts)
    for c, s in zip(counts, got):
        assert abs(Decimal(100 * c) / total - s) < Decimal("0.01")  # type: ignore[operator]


def test_shares_of_nothing_are_no_figures() -> None:
    assert report_tables.shares([0, 0, 0]) == [None, None, None]
    with pytest.raises(ValueError):
        report_tables.shares([1, -1])


def test_vietnamese_and_english_number_format() -> None:
    assert [number_format.number(v) for v in (0, 32, 1924, 3311, 120000, -1500)] == [
        "0", "32", "1.924", "3.311", "120.000", "-1.500"]
    assert number_format.number(Decimal("95.4"), "vi", 2) == "95,40"
    assert number_format.number(451.79, "vi", 2) == "451,79"
    assert number_format.number(0.125, "vi", 2) == "0,13"  # half-up on the decimal value
    assert number_format.number(1924, "en") == "1,924" and number_format.number(95.4, "en", 2) == "95.40"
    assert number_format.number(None) == ""
    assert number_format.date_range(date(2019, 7, 1), date(2019, 9, 30)) == "từ ngày 01/07/2019 đến ngày 30/09/2019"
    with pytest.raises(ValueError):
        number_format.number(1, "fr")


def reference_stats(levels: tuple[int, ...], tmp_path: Path) -> tuple[dict[str, Any], Any]:
    """Statistics of an empty range whose satisfaction counts are the reference report's."""
    rules = parse_config(CENTER).rules
    store = SqliteStore(tmp_path / "q.sqlite3")
    data = stats.from_store(store, rules, date(2024, 1, 1), date(2024, 3, 31))
    store.close()
    data["satisfaction"] = stats.satisfaction(Tally(dict(enumerate(levels, start=1))), rules.rating_levels)
    return data, rules


def sheet_rows(content: bytes, sheet: int = 0) -> list[tuple[Any, ...]]:
    wb = load_workbook(io.BytesIO(content))
    return [tuple(r) for r in wb.worksheets[sheet].iter_rows(values_only=True)]


def under(rows: list[tuple[Any, ...]], header: str, nth: int = 0) -> Any:
    """The value just under the `nth` cell reading `header` (the row after the header row)."""
    for i, r in enumerate(rows):
        hits = [j for j, v in enumerate(r) if v == header]
        if len(hits) > nth:
            return rows[i + 1][hits[nth]]
    raise AssertionError(f"no header {header!r} in {rows}")


def test_reference_satisfaction_table_in_xlsx(tmp_path: Path) -> None:
    data, rules = reference_stats((3279, 32, 0), tmp_path)
    table = report_tables.build("satisfaction", data, rules)
    rows = sheet_rows(exports.xlsx_bytes([table], "Trung tâm PVHCC tỉnh Ninh Bình",
                                         date(2024, 1, 1), date(2024, 3, 31), "vi"))
    assert rows[0][0] == "Trung tâm PVHCC tỉnh Ninh Bình"
    assert rows[1][0] == ("Kết quả đánh giá mức độ hài lòng của công dân, tổ chức "
                          "từ ngày 01/01/2024 đến ngày 31/03/2024")
    assert under(rows, "Tổng số công dân, tổ chức tham gia đánh giá") == 3311
    assert [under(rows, label) for label in ("Rất hài lòng", "Hài lòng", "Chưa hài lòng")] == [3279, 32, 0]
    assert [under(rows, "Đạt tỷ lệ (%)", i) for i in range(3)] == [99.03, 0.97, 0.0]
    # and the page / CSV text is the report's: 3.311 | 3.279 | 99,03 | 32 | 0,97 | 0 | 0,00
    assert [exports.cell_text(v, "vi") for v in table.rows[0]] == [
        "3.311", "3.279", "99,03", "32", "0,97", "0", "0,00"]


def test_reference_staff_ratings_table(tmp_path: Path) -> None:
    data, rules = reference_stats((1924, 93, 0), tmp_path)
    table = report_tables.build("staff-ratings", data, rules)
    assert table.headers("vi")[:4] == ["Công chức tiếp nhận", "Tổng số phiếu", "Số phiếu", "Tỷ lệ (%)"]
    assert [g for g, _ in table.group_headers("vi")] == ["", "Rất hài lòng", "Hài lòng", "Chưa hài lòng"]
    total = table.rows[-1]
    assert [exports.cell_text(v, "vi") for v in total] == [
        "Tổng cộng", "2.017", "1.924", "95,39", "93", "4,61", "0", "0,00"]


# ------------------------------------------------------------------ the scripted day's files

def test_day_xlsx_holds_the_numbers_under_their_headers(day_hub: ScriptedHub) -> None:
    r = day_hub.get(f"/api/v1/reports/satisfaction.xlsx?{RANGE}")
    assert r.status_code == 200 and r.headers["Content-Type"] == exports.XLSX_MIME
    rows = sheet_rows(r.content)
    assert rows[0][0] == "Trung tâm Phục vụ hành chính công xã Kim Thành"
    assert "từ ngày 30/11/2026 đến ngày 30/11/2026" in rows[1][0]
    assert under(rows, "Tổng số công dân, tổ chức tham gia đánh giá") == 4
    assert [under(rows, "Đạt tỷ lệ (%)", i) for i in range(3)] == [50.0, 25.0, 25.0]

    rows = sheet_rows(day_hub.get(f"/api/v1/reports/fields.xlsx?{RANGE}").content)
    header = next(r for r in rows if r and r[0] == "STT")
    body = {r[1]: dict(zip(header, r)) for r in rows[rows.index(header) + 1:]}
    assert (body["Hộ tịch"]["Lượt lấy số"], body["Hộ tịch"]["Lượt được phục vụ"]) == (3, 3)
    assert (body["Chứng thực"]["Lượt được phục vụ"], body["Tổng cộng"]["Lượt được phục vụ"]) == (2, 4)
    assert body["Tổng cộng"]["Chờ trung bình (phút)"] == 20.25
    assert body["Tổng cộng"]["Tỷ lệ chờ không quá 10 phút (%)"] == 25.0
    assert body["Hộ tịch"]["Hồ sơ tiếp nhận trực tiếp"] == 2

    rows = sheet_rows(day_hub.get(f"/api/v1/reports/staff-monthly.xlsx?{RANGE}").content)
    header = next(r for r in rows if r and r[0] == "Công chức")
    assert rows[rows.index(header) + 1:] == [
        # the demo accounts' names ([[staff]] name), not their usernames
        ("Cán bộ quầy 1", "11/2026", 2, 2), ("Cán bộ quầy 2", "11/2026", 2, 1), ("Cán bộ quầy 3", "11/2026", 1, 0),
        ("Trung bình mỗi người mỗi tháng", None, 1.67, 1.0)]

    wb = load_workbook(io.BytesIO(day_hub.get(f"/api/v1/reports/all.xlsx?{RANGE}").content))
    assert len(wb.worksheets) == len(report_tables.TABLES)


def test_day_csv_has_a_bom_and_vietnamese_intact(day_hub: ScriptedHub) -> None:
    r = day_hub.get(f"/api/v1/reports/summary.csv?{RANGE}")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["Trung tâm Phục vụ hành chính công xã Kim Thành"]
    values = dict(r for r in rows[3:])
    assert values["Lượt lấy số"] == "6" and values["Tỷ lệ hủy (%)"] == "16,67"
    assert values["Chờ trung bình (phút)"] == "20,25"

    rows = list(csv.reader(io.StringIO(day_hub.get(
        f"/api/v1/reports/visits-daily.csv?{RANGE}").content.decode("utf-8-sig"))))
    assert rows[2] == ["Ngày", "Lượt tiếp công dân", "Hồ sơ tiếp nhận trực tiếp"]
    assert rows[3:] == [["30/11/2026", "4", "3"], ["Tổng cộng", "4", "3"], ["Trung bình mỗi ngày", "4,00", "3,00"]]

    en = list(csv.reader(io.StringIO(day_hub.get(
        f"/api/v1/reports/summary.csv?{RANGE}&lang=en").content.decode("utf-8-sig"))))
    assert en[1][0] == "Summary from 2026-11-30 to 2026-11-30"
    assert dict(r for r in en[3:])["Cancellation rate (%)"] == "16.67"


def test_report_tables_json_for_the_page(day_hub: ScriptedHub) -> None:
    body = day_hub.get(f"/api/v1/reports/tables?{RANGE}").json()
    sat = next(t for t in body["tables"] if t["key"] == "satisfaction")
    assert sat["rows"] == [["4", "2", "50,00", "1", "25,00", "1", "25,00"]]
    assert [t["key"] for t in body["tables"]] == list(report_tables.TABLES)


@pytest.mark.parametrize("path, status, code", [
    ("/api/v1/reports/nothing.xlsx", 404, "unknown_report"),
    ("/api/v1/reports/fields.pdf", 404, "unknown_report"),
    ("/api/v1/reports/all.csv", 404, "unknown_report"),
    ("/api/v1/reports/fields.csv?lang=fr", 400, "bad_lang"),
    ("/api/v1/reports/fields.csv?from=2026-12-01&to=2026-11-01", 400, "bad_range"),
    ("/api/v1/reports/fields.xlsx?from=2026-13-01", 400, "bad_date"),
    ("/api/v1/reports/tables?from=0001-01-01", 400, "range_too_long"),
])
def test_bad_requests_get_a_clear_error(day_hub: ScriptedHub, path: str, status: int, code: str) -> None:
    r = day_hub.get(path)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"] and error["message_en"]


@pytest.mark.parametrize("path", ["/api/v1/reports/fields.xlsx", "/api/v1/reports/fields.csv",
                                  "/api/v1/reports/tables", "/api/v1/reports/all.xlsx"])
def test_reports_are_for_managers_only(day_hub: ScriptedHub, path: str) -> None:
    assert requests.get(f"{day_hub.hub.url}{path}", timeout=10).status_code == 401
    assert day_hub.get(path, "staff1").status_code == 403
    assert day_hub.get(path, "admin").status_code == 200
