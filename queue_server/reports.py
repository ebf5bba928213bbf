"""The summary workbook managers paste into their reports: Vietnamese headers, one sheet per view.

openpyxl writes the XLSX (a well-kept library; the format is too large to write by hand).
"""

from __future__ import annotations

from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from .core.models import CenterRules

_BLOCK_HEADERS = [
    ("issued", "Lượt lấy số"), ("served", "Đã phục vụ"), ("no_show", "Vắng mặt"),
    ("cancelled", "Đã hủy"), ("closed_at_day_end", "Đóng khi hết ngày"),
    ("print_failed", "In vé lỗi (không tính lượt)"),
    ("dossiers", "Hồ sơ tiếp nhận trực tiếp"),
]
_TIME_HEADERS = [
    ("wait_min", "avg", "Chờ TB (phút)"), ("wait_min", "median", "Chờ trung vị (phút)"),
    ("wait_min", "p90", "Chờ P90 (phút)"), ("service_min", "avg", "Phục vụ TB (phút)"),
]


def _sheet(wb: Workbook, title: str, key_header: str, key: str, rows: list[dict[str, Any]],
           first: bool = False) -> None:
    ws = wb.active if first else wb.create_sheet()
    ws.title = title
    headers = [key_header, *(h for _, h in _BLOCK_HEADERS), *(h for *_, h in _TIME_HEADERS),
               "Tỷ lệ chờ trong mục tiêu (%)"]
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in rows:
        ws.append([row[key], *(row[k] for k, _ in _BLOCK_HEADERS),
                   *(row[a][b] for a, b, _ in _TIME_HEADERS), row["within_target_pct"]])
    ws.column_dimensions["A"].width = 28


def summary_workbook(data: dict[str, Any], rules: CenterRules) -> Workbook:
    wb = Workbook()
    total = {"label": f"Toàn Trung tâm ({data['from']} – {data['to']})", **data["totals"]}
    _sheet(wb, "Tổng hợp", "Phạm vi", "label", [total], first=True)
    _sheet(wb, "Theo lĩnh vực", "Lĩnh vực", "name", data["by_service"])
    _sheet(wb, "Theo quầy", "Quầy", "counter", [
        {**r, "counter": rules.counters[r["counter"]].name if r["counter"] in rules.counters else r["counter"]}
        for r in data["by_counter"]])
    _sheet(wb, "Theo cán bộ", "Cán bộ", "staff", data["by_staff"])
    _sheet(wb, "Theo ngày", "Ngày", "day", data["by_day"])
    ws = wb.create_sheet("Mức độ hài lòng")
    sat = data["satisfaction"]
    ws.append(["Tổng số lượt đánh giá", *(f"{lv['label']}" for lv in sat["levels"])])
    ws.append([sat["total"], *(lv["count"] for lv in sat["levels"])])
    ws.append(["Tỷ lệ (%)", *(lv["percent"] for lv in sat["levels"])])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    return wb
