"""The central backend's Flask application (not the hub's): ingest, the province view, exports.

Routes: `GET /healthz`; `POST /api/v1/ingest` (a center's token + signature, see `ingest`);
`GET /api/v1/province/summary?from=&to=` and `.xlsx` / `.csv` (a reader's bearer token);
`GET /api/v1/province/events.csv?from=&to=[&center=]` (the raw-event stream, same token); `GET
/province` (an HTML page that asks for the reader token and reads the summary; centers that stopped
reporting highlighted). Every refusal is JSON `{"error": {code, message, message_en}}`, never a 500
page with a trace.
"""

from __future__ import annotations

import itertools
import logging
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, jsonify, render_template, request
from psycopg_pool import ConnectionPool
from werkzeug.exceptions import HTTPException

from . import ingest, province
from .registry import Registry

log = logging.getLogger("queue_server.central")
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RANGE_DAYS = 3 * 366
MAX_EVENT_RANGE_DAYS = 31  # one export of raw events: a province month is ~8 million rows
DEFAULT_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _error(refused: ingest.Refused) -> tuple[Response, int]:
    return jsonify({"error": refused.as_dict()}), refused.status


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() or None if header[:7].lower() == "bearer " else None


def _range(tz: ZoneInfo) -> tuple[date, date]:
    today = datetime.now(tz).date()

    def parse(name: str) -> date:
        raw = request.args.get(name)
        if raw is None or raw == "":
            return today
        try:
            if len(raw) != 10:
                raise ValueError
            return date.fromisoformat(raw)
        except ValueError:
            raise ingest.Refused(400, "bad_date", f"Ngày '{name}' phải có dạng YYYY-MM-DD.",
                                 f"'{name}' must be a date YYYY-MM-DD.") from None

    first, last = parse("from"), parse("to")
    if first > last:
        raise ingest.Refused(400, "bad_range", "Ngày bắt đầu phải trước hoặc bằng ngày kết thúc.",
                             "'from' must not be after 'to'.")
    if last - first > timedelta(days=MAX_RANGE_DAYS):
        raise ingest.Refused(400, "range_too_long", "Khoảng thời gian tối đa là 3 năm.",
                             "The range may span at most 3 years.")
    return first, last


def create_central_app(pool: ConnectionPool, registry: Registry, tz: ZoneInfo = DEFAULT_TZ) -> Flask:
    """The central's WSGI app over `pool` (psycopg_pool) and the centers file's `registry`;
    `tz`: the province's time zone (the default day of the views)."""
    app = Flask("queue_server.central")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BATCH_BYTES
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    @app.errorhandler(ingest.Refused)
    def refused(exc: ingest.Refused) -> Any:
        return _error(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        response = jsonify({"error": {"code": (exc.name or "error").lower().replace(" ", "_"),
                                      "message": "Yêu cầu không hợp lệ.",
                                      "message_en": exc.description or exc.name}})
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response, exc.code or 400

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify({"error": {"code": "unavailable",
                                  "message": "Hệ thống tạm thời gián đoạn, vui lòng thử lại sau.",
                                  "message_en": "The central backend failed to answer; try again."}}), 503

    @app.get("/healthz")
    def healthz() -> Any:
        with pool.connection() as conn:
            conn.execute("SELECT 1")
        return jsonify({"status": "ok"})

    @app.post("/api/v1/ingest")
    def ingest_batch() -> Any:
        body = request.get_data(cache=False)
        key = request.headers.get("Idempotency-Key")
        center = None
        try:
            center = ingest.authenticate(registry, _bearer(), request.headers.get("X-Signature"), body)
            batch = ingest.parse_batch(center, key, body)
            result = ingest.store_batch(pool, center, batch, body)
        except ingest.Refused as exc:
            ingest.record_refusal(pool, exc, center.id if center else None, key, request.remote_addr)
            return _error(exc)
        return jsonify(result), 201 if result["status"] == "stored" else 200

    def reader() -> None:
        if registry.reader(_bearer()) is None:
            raise ingest.Refused(401, "bad_token", "Cần mã truy cập của người xem báo cáo.",
                                 "A reader's bearer token is required.")

    def data() -> dict[str, Any]:
        reader()
        first, last = _range(tz)
        return province.summary(pool, registry, first, last)

    @app.get("/api/v1/province/summary")
    def summary() -> Any:
        return jsonify(data())

    @app.get("/api/v1/province/summary.csv")
    def summary_csv() -> Response:
        d = data()
        return Response(province.export_csv(d), mimetype="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="toan-tinh-{d["from"]}_{d["to"]}.csv"'})

    @app.get("/api/v1/province/summary.xlsx")
    def summary_xlsx() -> Response:
        d = data()
        return Response(province.export_xlsx(d), mimetype=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), headers={
            "Content-Disposition": f'attachment; filename="toan-tinh-{d["from"]}_{d["to"]}.xlsx"'})

    @app.get("/api/v1/province/events.csv")
    def events_csv() -> Response:
        """The raw-event stream (`province.export_events_csv`) of `from`..`to`, optionally one
        `center`; an unknown center id is a 404, a range over 31 days a 400."""
        reader()
        first, last = _range(tz)
        if last - first > timedelta(days=MAX_EVENT_RANGE_DAYS - 1):
            raise ingest.Refused(400, "range_too_long",
                                 f"Xuất sự kiện tối đa {MAX_EVENT_RANGE_DAYS} ngày mỗi lần.",
                                 f"Raw events are exported at most {MAX_EVENT_RANGE_DAYS} days at a time.")
        center = request.args.get("center") or None
        if center is not None and center not in registry.centers:
            raise ingest.Refused(404, "unknown_center", "Không có trung tâm với mã này.",
                                 f"No center {center!r} in the centers file.")
        name = f"su-kien-{center or 'toan-tinh'}-{first}_{last}.csv"
        chunks = province.export_events_csv(pool, first, last, center)
        head = next(chunks)  # runs the query: a failing database is answered here, as JSON
        return Response(itertools.chain([head], chunks),
                        mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/province")
    def province_page() -> str:
        return render_template("province.html", stale_minutes=province.STALE_MINUTES, timezone=tz.key)

    return app
