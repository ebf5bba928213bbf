"""The HTTP API under /api/v1: parse and check the request, call the queue service, answer JSON.

Handlers never touch SQL; every refusal is a `QueueError` turned into a 4xx with a stable code and
a Vietnamese + English reason. Bodies are checked against the same JSON Schemas the OpenAPI
document publishes (`openapi.py`), so an unknown key or a wrong type changes nothing.
"""

from __future__ import annotations

import io
import sqlite3
from datetime import date
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from jsonschema import Draft202012Validator
from werkzeug.exceptions import RequestEntityTooLarge

from . import health, openapi, stats
from .core import errors
from .auth import Authenticator, Principal
from .core.errors import Forbidden, InvalidRequest, QueueError, Unauthorized
from .core.models import Outcome, Ticket
from .core.service import QueueService, ticket_json
from .storage import SqliteStore

STATUS_OF: dict[type[QueueError], int] = {
    errors.InvalidRequest: 400, errors.Unauthorized: 401, errors.Forbidden: 403,
    errors.NotFound: 404, errors.Conflict: 409, errors.RateLimited: 429, errors.Unavailable: 503,
}
MAX_RANGE_DAYS = 3 * 366


def error_response(exc: QueueError) -> tuple[Response, int]:
    status = next((STATUS_OF[c] for c in type(exc).__mro__ if c in STATUS_OF), 400)
    response = jsonify({"error": exc.as_dict()})
    retry_after = getattr(exc, "retry_after", None)  # RateLimited, LoginLocked, LoginBusy
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response, status


def storage_error_response(exc: sqlite3.Error) -> tuple[Response, int]:
    """The database refused (disk full, I/O error): the transaction was rolled back."""
    current_app.logger.error("storage error: %s", exc)
    return jsonify({"error": {"code": "storage_unavailable",
                              "message": "Hệ thống lưu trữ đang gặp sự cố, dữ liệu đã có vẫn an toàn. Vui lòng thử lại sau.",
                              "message_en": f"Storage is unavailable ({exc}); nothing was changed."}}), 503


def caller(auth: Authenticator, required: bool = True) -> Principal | None:
    """Who is behind this request's bearer token; with `required`, an anonymous call is refused."""
    principal = auth.principal(bearer_token())
    if principal is None and required:
        raise Unauthorized("login_required", "Vui lòng đăng nhập.", "Log in first (bearer token).")
    return principal


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


class RequestReader:
    """Reads and validates JSON bodies; builds its validators once."""

    def __init__(self) -> None:
        self._validators: dict[int, Draft202012Validator] = {}

    def body(self, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
        raw = request.get_data(cache=True)
        limit = request.max_content_length
        if request.content_length is None and limit is not None and len(raw) >= limit:
            raise RequestEntityTooLarge()  # a chunked body, cut at the limit while it was read
        if not raw.strip():
            if required:
                raise InvalidRequest("missing_body", "Thiếu dữ liệu JSON trong yêu cầu.",
                                     "A JSON body is required.")
            data: Any = {}
        else:
            data = request.get_json(force=True, silent=True)
            if data is None:
                raise InvalidRequest("malformed_json", "Dữ liệu gửi lên không phải JSON hợp lệ.",
                                     "The body is not valid JSON.")
        validator = self._validators.get(id(schema))
        if validator is None:
            validator = self._validators[id(schema)] = Draft202012Validator(schema)
        error = next(iter(sorted(validator.iter_errors(data), key=lambda e: list(e.path))), None)
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or "body"
            if error.validator == "additionalProperties":
                unknown = sorted(set(data) - set(schema.get("properties", {})))
                raise InvalidRequest("unknown_field", f"Trường không được hỗ trợ: {', '.join(unknown)}.",
                                     f"Unknown field(s): {', '.join(unknown)}.")
            raise InvalidRequest("invalid_field", f"Giá trị không hợp lệ ở '{where}': {error.message}",
                                 f"Invalid value at '{where}': {error.message}")
        return data  # type: ignore[no-any-return]


def _date_range() -> tuple[date, date]:
    def parse(name: str, default: date) -> date:
        value = request.args.get(name)
        if value is None or value == "":
            return default
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise InvalidRequest("bad_date", f"Ngày '{name}' phải có dạng YYYY-MM-DD.",
                                 f"'{name}' must be a date like 2026-01-31.") from None

    service: QueueService = current_app.extensions["queue"]
    today = service.today()
    last = parse("to", today)
    first = parse("from", last.replace(day=1))
    if first > last:
        raise InvalidRequest("bad_range", "Ngày bắt đầu phải trước ngày kết thúc.",
                             "'from' must not be after 'to'.")
    if (last - first).days > MAX_RANGE_DAYS:
        raise InvalidRequest("range_too_long", "Khoảng thời gian tối đa là 3 năm.",
                             "The range may span at most 3 years.")
    return first, last


def create_api(service: QueueService, auth: Authenticator, store: SqliteStore,
               public_issuing: bool) -> Blueprint:
    bp = Blueprint("api", __name__)
    reader = RequestReader()
    rating_schema = openapi.rating_schema(len(service.rules.rating_levels))

    def acting_on(n: int) -> Principal:
        principal = caller(auth)
        assert principal is not None
        principal.require("counter")
        service.authorize_counter(n, principal.counters_allowed())
        return principal

    def ticket_check(principal: Principal) -> Callable[[Ticket], None]:
        """The counter check for an action on one ticket, run by the service inside its
        transaction (so the ticket cannot move to another counter in between): a ticket at a
        counter (being served, a no-show there, or transferred to it) belongs to that counter; a
        ticket waiting in a field's queue to the counters that serve the field. Staff act only
        on their own counter's tickets, like every counter action (SPEC §9)."""
        allowed = principal.counters_allowed()

        def check(ticket: Ticket) -> None:
            if allowed is None:
                return
            at = ticket.counter if ticket.counter is not None else ticket.target_counter
            if at is not None:
                service.authorize_counter(at, allowed)
                return
            counters = service.rules.counters
            if not any(c in counters and ticket.field_id in counters[c].fields for c in allowed):
                raise Forbidden("foreign_ticket",
                                "Số này thuộc lĩnh vực mà quầy của bạn không phục vụ.",
                                "This ticket waits for a service your counter does not serve.")

        return check

    def ticket_out(ticket: Any, status: int = 200) -> tuple[Response, int]:
        return jsonify(ticket_json(ticket, service.rules)), status

    @bp.get("/healthz")
    def healthz() -> tuple[Response, int]:
        # One check for /healthz, the watchdog, the manager page and doctor (health.py): 200
        # {"status": "ok", …} when healthy, 503 {"status": "degraded", "problems": […]} if not.
        config = current_app.extensions.get("hub_config")
        result = health.check(store, store.path.parent,
                              health.min_free_mb(config.sections if config else {}))
        body = result.as_dict()
        if result.ok:
            try:
                body.update(schema=store.schema_version, day=service.today().isoformat())
            except sqlite3.Error:  # turning the day failed to write: now remembered as degraded
                result = health.check(store, store.path.parent,
                                      health.min_free_mb(config.sections if config else {}))
                body = result.as_dict()
        return jsonify(body), 200 if result.ok else 503

    @bp.get("/api/v1/openapi.json")
    def openapi_json() -> Response:
        extra = current_app.extensions.get("openapi_paths", {})
        return jsonify(openapi.build_document(len(service.rules.rating_levels), extra))

    @bp.post("/api/v1/auth/login")
    def login() -> Response:
        data = reader.body(openapi.LOGIN)
        token, expires, principal = auth.login(data["username"], data["password"], request.remote_addr)
        return jsonify({"token": token, "token_type": "bearer", "expires_at": expires.isoformat(),
                        "username": principal.name, "role": principal.role,
                        "counter": principal.counter})

    @bp.post("/api/v1/auth/logout")
    def logout() -> Response:
        caller(auth)
        auth.logout(bearer_token() or "")
        return jsonify({"status": "logged_out"})

    def require_admin() -> None:
        principal = caller(auth)
        assert principal is not None
        if principal.role != "admin":
            raise Forbidden("forbidden", "Chỉ quản trị viên được mở khóa đăng nhập.",
                            "Only an admin may see or lift login lockouts.")

    @bp.get("/api/v1/auth/lockouts")
    def lockouts() -> Response:
        require_admin()
        return jsonify({"lockouts": auth.throttle.lockouts()})

    @bp.post("/api/v1/auth/unlock")
    def unlock() -> Response:
        require_admin()
        data = reader.body(openapi.UNLOCK)
        return jsonify({"unlocked": auth.throttle.unlock(data.get("username"), data.get("address"))})

    @bp.get("/api/v1/services")
    def services() -> Response:
        return jsonify({
            "services": service.services_view(),
            "priority_groups": [{"id": i, "name": n} for i, n in service.rules.priority.groups]
            if service.rules.priority.enabled else [],
        })

    @bp.get("/api/v1/state")
    def state() -> Response:
        zone = request.args.get("zone") or None
        return jsonify(service.snapshot(zone))

    @bp.get("/api/v1/counters")
    def counters() -> Response:
        return jsonify({"counters": service.snapshot()["counters"]})

    @bp.post("/api/v1/tickets")
    def issue() -> tuple[Response, int]:
        principal = caller(auth, required=not public_issuing)
        if principal is not None:
            principal.require("issue")
        data = reader.body(openapi.ISSUE)
        issued = service.issue(data["service"], data.get("priority"), data.get("priority_group"),
                               source=principal.name if principal else "public")
        body = {**ticket_json(issued.ticket, service.rules), "waiting_ahead": issued.waiting_ahead,
                "est_wait_min": issued.est_wait_min}
        return jsonify(body), 201

    @bp.get("/api/v1/tickets/<ticket_id>")
    def get_ticket(ticket_id: str) -> Response:
        return jsonify(service.ticket_view(ticket_id))

    @bp.post("/api/v1/tickets/<ticket_id>/requeue")
    def requeue(ticket_id: str) -> tuple[Response, int]:
        principal = caller(auth)
        assert principal is not None
        principal.require("counter")
        reader.body(openapi.EMPTY, required=False)
        ticket = service.get_ticket(ticket_id)
        return ticket_out(service.requeue(ticket_id, principal.name, ticket.counter,
                                          authorize=ticket_check(principal)))

    @bp.post("/api/v1/tickets/<ticket_id>/cancel")
    def cancel(ticket_id: str) -> tuple[Response, int]:
        principal = caller(auth)
        assert principal is not None
        principal.require("counter")
        data = reader.body(openapi.CANCEL, required=False)
        return ticket_out(service.cancel(ticket_id, principal.name, data.get("reason", "cancelled"),
                                         authorize=ticket_check(principal)))

    @bp.post("/api/v1/counters/<int:n>/next")
    def call_next(n: int) -> Any:
        principal = acting_on(n)
        reader.body(openapi.EMPTY, required=False)
        ticket = service.call_next(n, principal.name)
        if ticket is None:
            return Response(status=204)
        return ticket_out(ticket)

    @bp.post("/api/v1/counters/<int:n>/recall")
    def recall(n: int) -> tuple[Response, int]:
        principal = acting_on(n)
        reader.body(openapi.EMPTY, required=False)
        return ticket_out(service.recall(n, principal.name))

    @bp.post("/api/v1/counters/<int:n>/no-show")
    def no_show(n: int) -> tuple[Response, int]:
        principal = acting_on(n)
        data = reader.body(openapi.NO_SHOW, required=False)
        return ticket_out(service.no_show(n, principal.name, data.get("ticket")))

    @bp.post("/api/v1/counters/<int:n>/transfer")
    def transfer(n: int) -> tuple[Response, int]:
        principal = acting_on(n)
        data = reader.body(openapi.TRANSFER)
        return ticket_out(service.transfer(n, principal.name, data.get("service"), data.get("counter")))

    @bp.post("/api/v1/counters/<int:n>/finish")
    def finish(n: int) -> tuple[Response, int]:
        principal = acting_on(n)
        data = reader.body(openapi.FINISH)
        return ticket_out(service.finish(n, principal.name, Outcome(data["outcome"]), data.get("dossiers")))

    @bp.post("/api/v1/counters/<int:n>/pause")
    def pause(n: int) -> Response:
        principal = acting_on(n)
        data = reader.body(openapi.PAUSE)
        service.pause(n, principal.name, data["reason"], data.get("minutes"), data.get("note"))
        return jsonify(service.counter_view(n))

    @bp.post("/api/v1/counters/<int:n>/resume")
    def resume(n: int) -> Response:
        principal = acting_on(n)
        reader.body(openapi.EMPTY, required=False)
        service.resume(n, principal.name)
        return jsonify(service.counter_view(n))

    @bp.post("/api/v1/ratings")
    def rate() -> tuple[Response, int]:
        principal = caller(auth, required=False)
        data = reader.body(rating_schema)
        ticket = service.rate(data["ticket"], data["level"], data.get("reason"),
                              source=principal.name if principal else "phone")
        return jsonify({"ticket": ticket.id, "number": ticket.number, "level": ticket.rating,
                        "label": service.rules.rating_levels[data["level"] - 1],
                        "counter": ticket.counter}), 201

    counter_rating = openapi.counter_rating_schema(len(service.rules.rating_levels))

    @bp.get("/api/v1/counters/<int:n>/rating")
    def rating_target(n: int) -> Response:
        # `authorized`: may this caller's token record the rating here? The screen asks when it
        # opens and on every refresh, so a wrong token shows before a citizen taps (401 if bad).
        principal = caller(auth, required=False)
        return jsonify({"target": service.rating_target(n), "authorized": may_rate_at(principal, n)})

    @bp.post("/api/v1/counters/<int:n>/rating")
    def rate_at_counter(n: int) -> tuple[Response, int]:
        principal = caller(auth)
        assert principal is not None
        principal.require("rate")
        service.authorize_counter(n, principal.counters_allowed("rate"))
        data = reader.body(counter_rating)
        ticket = service.rate_at_counter(n, data["level"], data.get("reason"), source=principal.name)
        return jsonify({"number": ticket.number, "level": ticket.rating, "counter": n,
                        "label": service.rules.rating_levels[data["level"] - 1]}), 201

    def _stats() -> dict[str, Any]:
        principal = caller(auth)
        assert principal is not None
        principal.require("manage")
        first, last = _date_range()
        return stats.from_store(store, service.rules, first, last)

    @bp.get("/api/v1/stats")
    def get_stats() -> Response:
        return jsonify(_stats())

    @bp.get("/api/v1/reports/summary.xlsx")
    def summary_xlsx() -> Response:
        from .reports import summary_workbook

        data = _stats()
        buffer = io.BytesIO()
        summary_workbook(data, service.rules).save(buffer)
        name = f"bao-cao-{data['from']}_{data['to']}.xlsx"
        return Response(buffer.getvalue(), mimetype=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # ------------------------------------------- the counter panel and rating screen
    # What /counter needs beyond the plain buttons (SPEC §3): what this counter can call, today's
    # no-shows of its fields with a re-queue, and calling one number on request. Staff only for
    # their own counter (403 otherwise), like every counter action. And what /rate/<n> checks
    # when it opens: may its token record a rating there.

    def may_rate_at(principal: Principal | None, n: int) -> bool:
        """Whether POST /counters/<n>/rating would accept this caller (a device with the rate
        scope, or staff allowed on counter n)."""
        if principal is None:
            return False
        try:
            principal.require("rate")
            if not principal.is_device:
                service.authorize_counter(n, principal.counters_allowed())
        except (errors.Forbidden, errors.NotFound):
            return False
        return True

    @bp.get("/api/v1/counters/<int:n>/queue")
    def counter_queue(n: int) -> Response:
        acting_on(n)
        return jsonify(service.counter_queue(n))

    @bp.post("/api/v1/counters/<int:n>/requeue")
    def requeue_at_counter(n: int) -> tuple[Response, int]:
        principal = acting_on(n)
        data = reader.body(openapi.REQUEUE_AT_COUNTER)
        return ticket_out(service.requeue_at_counter(n, data["ticket"], principal.name))

    @bp.post("/api/v1/counters/<int:n>/call")
    def call_number(n: int) -> tuple[Response, int]:
        principal = acting_on(n)
        data = reader.body(openapi.CALL_NUMBER)
        return ticket_out(service.call_number(n, data["number"], principal.name))

    return bp
