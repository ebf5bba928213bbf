"""The manager's page and its API (issue 11).

    GET    /manager                                 the page: live hall, configuration, audit log,
                                                    staffing forecast; links /manager/reports
    GET    /api/v1/manager/hall                     the live hall picture (hall.py); manager, admin
    GET    /api/v1/config                           editable sections as in effect; admin
    PUT    /api/v1/config/<section>                 {"value": <section in its TOML shape>}; admin
    DELETE /api/v1/config/<section>                 back to the config file's section; admin
    POST   /api/v1/config/staff                     {username, name?, role, counter?, password}
    PATCH  /api/v1/config/staff/<username>          {name?, role?, counter?, disabled?}
    POST   /api/v1/config/staff/<username>/password {password}
    GET    /api/v1/config/audit?limit=              who changed what and when; manager, admin
    GET    /api/v1/forecast?weeks=&target_min=&share=   counters to open per weekday and hour

The page is served to anyone (like /counter): it logs in through `POST /api/v1/auth/login` and
every figure comes from the API above with the bearer token, which refuses staff (403) and
anonymous callers (401). The Socket.IO room is in hall.py; the rules of configuration in
settings.py; the forecast in forecast.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request

from . import forecast
from .api import RequestReader, caller
from .openapi import CREATE_ACCOUNT, REPLACE_SECTION, RESET_PASSWORD, UPDATE_ACCOUNT
from .auth import Authenticator, Principal
from .core.errors import Forbidden, InvalidRequest
from .hall import HallView
from .pages import render_page
from .settings import SECTIONS, CenterSettings

HERE = Path(__file__).resolve().parent
STATIC_URL = "/assets/manager"

def _int_arg(name: str, default: int, lo: int, hi: int, vi: str) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not lo <= int(raw) <= hi:
        raise InvalidRequest("bad_parameter", f"Tham số {vi} ('{name}') phải là số nguyên từ {lo} đến {hi}.",
                             f"'{name}' must be a whole number from {lo} to {hi}.")
    return int(raw)


def _float_arg(name: str, default: float, lo: float, hi: float, vi: str) -> float:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw) if len(raw) <= 12 and raw.isascii() else float("nan")
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:  # NaN fails too
        raise InvalidRequest("bad_parameter", f"Tham số {vi} ('{name}') phải là số từ {lo:g} đến {hi:g}.",
                             f"'{name}' must be a number from {lo:g} to {hi:g}.")
    return value


def create_manager_blueprint(service: Any, auth: Authenticator, store: Any,
                             settings: CenterSettings, view: HallView) -> Blueprint:
    """The /manager page and the API in the module docstring."""
    bp = Blueprint("manager", __name__, template_folder=str(HERE / "templates"),
                   static_folder=str(HERE / "static" / "manager"), static_url_path=STATIC_URL)
    reader = RequestReader()

    def manager() -> Principal:
        principal = caller(auth)
        assert principal is not None
        if principal.role not in ("admin", "manager"):
            raise Forbidden("forbidden", "Chỉ lãnh đạo và quản trị viên được xem trang quản lý.",
                            "Only managers and admins may open the manager page.")
        return principal

    def admin() -> Principal:
        principal = caller(auth)
        assert principal is not None
        if principal.role != "admin":
            raise Forbidden("forbidden", "Chỉ quản trị viên được thay đổi cấu hình.",
                            "Only an admin may see or change the configuration.")
        return principal

    @bp.get("/manager")
    def page() -> Response:
        rules = service.rules
        return render_page("manager.html", title="Trang quản lý",
                           center_name=rules.center_name,
                           center_name_en=rules.center_name_en or rules.center_name,
                           static=STATIC_URL, display_static="/assets/display")

    @bp.get("/api/v1/manager/hall")
    def hall() -> Response:
        manager()
        return jsonify(view.picture())

    @bp.get("/api/v1/config")
    def config_view() -> Response:
        admin()
        return jsonify(settings.view())

    @bp.put("/api/v1/config/<section>")
    def config_replace(section: str) -> Response:
        principal = admin()
        if section not in SECTIONS:
            raise InvalidRequest("unknown_section", "Không có mục cấu hình này.",
                                 f"No editable section (one of {', '.join(SECTIONS)}).")
        data = reader.body(REPLACE_SECTION)
        return jsonify(settings.replace(section, data["value"], principal.name))

    @bp.delete("/api/v1/config/<section>")
    def config_revert(section: str) -> Response:
        principal = admin()
        return jsonify(settings.revert(section, principal.name))

    @bp.post("/api/v1/config/staff")
    def account_create() -> tuple[Response, int]:
        principal = admin()
        data = reader.body(CREATE_ACCOUNT)
        return jsonify(settings.create_account(data, principal.name)), 201

    @bp.patch("/api/v1/config/staff/<username>")
    def account_update(username: str) -> Response:
        principal = admin()
        data = reader.body(UPDATE_ACCOUNT)
        if not data:
            raise InvalidRequest("nothing_to_change", "Không có gì để thay đổi.",
                                 "Give at least one of name, role, counter, disabled.")
        return jsonify(settings.update_account(username, data, principal.name))

    @bp.post("/api/v1/config/staff/<username>/password")
    def account_password(username: str) -> Response:
        principal = admin()
        data = reader.body(RESET_PASSWORD)
        return jsonify(settings.reset_password(username, data["password"], principal.name))

    @bp.get("/api/v1/config/audit")
    def audit() -> Response:
        manager()
        limit = _int_arg("limit", 100, 1, 1000, "số dòng")
        return jsonify({"entries": settings.audit(limit)})

    @bp.get("/api/v1/forecast")
    def staffing_forecast() -> Response:
        manager()
        weeks = _int_arg("weeks", forecast.DEFAULT_WEEKS, 1, 52, "số tuần")
        target = _float_arg("target_min", forecast.DEFAULT_TARGET_MIN, 1, 240, "thời gian chờ mục tiêu")
        share = _float_arg("share", forecast.DEFAULT_SHARE, 0.5, 0.99, "tỷ lệ đạt")
        last = service.today() - timedelta(days=1)
        first = last - timedelta(days=7 * weeks - 1)
        with store.reading() as tx:
            tickets = tx.tickets_between(first, last)
        plan = forecast.plan_from_tickets(tickets, service.rules, first, last,
                                          target_min=target, share=share)
        return jsonify(plan)

    return bp
