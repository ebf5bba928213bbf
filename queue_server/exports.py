"""The report tables as files a manager pastes into a report: XLSX (openpyxl: a well-kept library;
the format is too large to write by hand) and CSV (UTF-8 with a byte-order mark, so Excel opens
the Vietnamese right). Every file starts with the center's name and the table's title with the
date range (issue 11).

XLSX cells hold numbers (not text), with number formats `#,##0` and `0.00`: Excel and LibreOffice
show them in the reader's locale (1.924 and 95,40 on a Vietnamese system). CSV cells are text in
the requested language's format (number_format.py), comma-separated and quoted where needed.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from . import number_format
from .report_tables import Table, label

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"


def cell_text(value: Any, lang: str) -> str:
    """One cell as the page and the CSV show it: integers grouped, decimals to 2 places, dates
    as the reports write them, fixed labels in `lang`; "" for no figure (None)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return number_format.number(value, lang)
    if isinstance(value, (float, Decimal)):
        return number_format.number(value, lang, 2)
    if isinstance(value, date):
        return number_format.day(value, lang)
    return label(str(value), lang)


def title_lines(table: Table, center_name: str, first: date, last: date, lang: str) -> list[str]:
    """The two title lines above a table: the center, then the table with its date range."""
    return [center_name, f"{table.title(lang)} {number_format.date_range(first, last, lang)}"]


def csv_bytes(table: Table, center_name: str, first: date, last: date, lang: str) -> bytes:
    """The table as CSV: BOM, the title lines, the group header row (if any), the headers, rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in title_lines(table, center_name, first, last, lang):
        writer.writerow([line])
    if table.groups:
        row: list[str] = []
        for text, span in table.group_headers(lang):
            row += [text] + [""] * (span - 1)
        writer.writerow(row)
    writer.writerow(table.headers(lang))
    for r in table.rows:
        writer.writerow([cell_text(v, lang) for v in r])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _sheet_title(text: str, used: set[str]) -> str:
    base = "".join(ch for ch in text if ch not in "[]:*?/\\")[:28] or "Bảng"
    title, n = base, 2
    while title in used:
        title, n = f"{base[:26]} {n}", n + 1
    used.add(title)
    return title


def _write_sheet(ws: Any, table: Table, center_name: str, first: date, last: date, lang: str) -> None:
    for line in title_lines(table, center_name, first, last, lang):
        ws.append([line])
    ws["A1"].font = Font(bold=True)
    ws["A2"].font = Font(bold=True, size=13)
    ws.append([])
    if table.groups:
        row = ws.max_row + 1
        col = 1
        for text, span in table.group_headers(lang):
            cell = ws.cell(row=row, column=col, value=text or None)
            cell.font = Font(bold=True)
            cell.alignment = Alignment(horizontal="center")
            if span > 1:
                ws.merge_cells(start_row=row, start_column=col, end_row=row, end_column=col + span - 1)
            col += span
    ws.append(table.headers(lang))
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    for r in table.rows:
        values: list[Any] = []
        for v in r:
            if isinstance(v, Decimal):
                values.append(float(v))
            elif isinstance(v, str):
                values.append(label(v, lang))
            else:
                values.append(v)
        ws.append(values)
        for cell, v in zip(ws[ws.max_row], r):
            if isinstance(v, bool):
                continue
            if isinstance(v, int):
                cell.number_format = "#,##0"
            elif isinstance(v, (float, Decimal)):
                cell.number_format = "#,##0.00"
            elif isinstance(v, date):
                cell.number_format = "DD/MM/YYYY" if lang == "vi" else "YYYY-MM-DD"
    for i, column in enumerate(table.columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = 30 if column.kind == "text" else 14


def workbook(tables: list[Table], center_name: str, first: date, last: date, lang: str) -> Workbook:
    """One sheet per table, in the order given."""
    wb = Workbook()
    used: set[str] = set()
    for i, table in enumerate(tables):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = _sheet_title(table.title(lang), used)
        _write_sheet(ws, table, center_name, first, last, lang)
    return wb


def xlsx_bytes(tables: list[Table], center_name: str, first: date, last: date, lang: str) -> bytes:
    """`workbook(...)` saved as XLSX bytes."""
    buffer = io.BytesIO()
    workbook(tables, center_name, first, last, lang).save(buffer)
    return buffer.getvalue()
