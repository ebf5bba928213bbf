"""The report page `/manager/reports?from=&to=` (issue 11): the report tables and the charts of a
date range, print-friendly on A4, Vietnamese first (`?lang=en` for English).

The page itself is a shell with no figures in it: a browser opening a URL sends no bearer token,
so the page logs the manager in (POST /api/v1/auth/login, token kept in sessionStorage) and reads
`GET /api/v1/reports/tables`, which answers manager and admin only (401 without a login, 403 for
staff — the page then says it is not allowed and shows nothing). Downloads go through the same
token (fetch → Blob), so an export link never carries a token in its URL.

Charts: Chart.js 4.6.1, vendored from the npm registry (static/vendor/README.md), drawn without
animation, in large type and strong colours for a projector.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, request

from ..pages import render_page

HERE = Path(__file__).resolve().parent
STATIC_URL = "/assets/reports"

STRINGS = {
    "vi": {
        "title": "Báo cáo thống kê", "from": "Từ ngày", "to": "Đến ngày", "show": "Xem",
        "print": "In báo cáo (A4)", "download_all": "Tải tất cả (.xlsx)", "other_lang": "English",
        "login_title": "Đăng nhập (lãnh đạo, quản trị)", "username": "Tên đăng nhập",
        "password": "Mật khẩu", "login": "Đăng nhập", "logout": "Đăng xuất",
        "loading": "Đang tải số liệu…", "forbidden": "Tài khoản này không được xem báo cáo thống kê.",
        "charts": "Biểu đồ", "tables": "Các bảng báo cáo",
        "chart_hours": "Lượt lấy số theo giờ trong ngày (trung bình mỗi ngày)",
        "chart_waits": "Phân bố thời gian chờ (số lượt)",
        "chart_days": "Diễn biến theo ngày", "chart_staff": "Đánh giá theo công chức",
        "issued": "Lượt lấy số", "served": "Lượt được phục vụ", "per_day": "Trung bình mỗi ngày",
        "visits": "Số lượt", "minutes": "phút", "no_data": "Không có số liệu trong khoảng thời gian này.",
        "xlsx": "Tải .xlsx", "csv": "Tải .csv",
    },
    "en": {
        "title": "Statistics report", "from": "From", "to": "To", "show": "Show",
        "print": "Print (A4)", "download_all": "Download all (.xlsx)", "other_lang": "Tiếng Việt",
        "login_title": "Log in (managers, administrators)", "username": "Username",
        "password": "Password", "login": "Log in", "logout": "Log out",
        "loading": "Loading…", "forbidden": "This account may not see the statistics reports.",
        "charts": "Charts", "tables": "Report tables",
        "chart_hours": "Tickets per hour of the day (average per day)",
        "chart_waits": "Waiting-time distribution (visits)",
        "chart_days": "Daily trend", "chart_staff": "Ratings by staff member",
        "issued": "Tickets issued", "served": "Served", "per_day": "Per day",
        "visits": "Visits", "minutes": "min", "no_data": "No figures in this range.",
        "xlsx": ".xlsx", "csv": ".csv",
    },
}


def create_report_page(center_name: str, center_name_en: str, rating_levels: tuple[str, ...]) -> Blueprint:
    """The blueprint of `/manager/reports` and its static files under /assets/reports."""
    bp = Blueprint("report_page", __name__, template_folder=str(HERE / "templates"),
                   static_folder=str(HERE / "static"), static_url_path=STATIC_URL)

    @bp.get("/manager/reports")
    def reports() -> Response:
        lang = "en" if request.args.get("lang") == "en" else "vi"
        strings = STRINGS[lang]
        data: dict[str, Any] = {"lang": lang, "strings": strings, "levels": list(rating_levels),
                                "from": request.args.get("from", ""), "to": request.args.get("to", "")}
        return render_page("report_page/reports.html", lang=lang, s=strings, static=STATIC_URL,
                           center_name=center_name if lang == "vi" else (center_name_en or center_name),
                           page_data=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"))

    return bp
