"""The HTTP API under /api/v1: parse and check the request, call the queue service, answer JSON.

Handlers never touch SQL; every refusal is a `QueueError` turned into a 4xx with a stable code and
a Vietnamese + English reason. Bodies are checked against the same JSON Schemas the OpenAPI
document publishes (`openapi.py`), so an unknown key or a wrong type changes nothing.
"""

from __future__ import annotations

import io
import json
import math
import re
import sqlite3
import threading
from datetime import date
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, make_response, request
from jsonschema import Draft202012Validator, validators
from werkzeug.exceptions import RequestEntityTooLarge

from . import health, openapi, stats
from .core import errors
from .auth import Authenticator, Principal
from .core.errors import Forbidden, InvalidRequest, QueueError, Unauthorized
from .core.models import Outcome, Ticket
from .core.service import QueueService, ticket_json
from .devices import DeviceHealthBoard
from .storage import SqliteStore

STATUS_OF: dict[type[QueueError], int] = {
    errors.InvalidRequest: 400, errors.Unauthorized: 401, errors.Forbidden: 403,
    errors.NotFound: 404, errors.Conflict: 409, errors.RateLimited: 429, errors.Unavailable: 503,
}
MAX_RANGE_DAYS = 3 * 366


def _printable(value: Any) -> Any:
    """A message made safe to encode: a lone surrogate that reached it becomes '?', so an error
    that quotes bad input can still be answered. Values other than text pass unchanged."""
    return value.encode("utf-8", "replace").decode("utf-8") if isinstance(value, str) else value


def error_response(exc: QueueError) -> tuple[Response, int]:
    """A QueueError as its HTTP answer: status by kind (STATUS_OF), {"error": {code, message,
    message_en}}; Retry-After for RateLimited."""
    status = next((STATUS_OF[c] for c in type(exc).__mro__ if c in STATUS_OF), 400)
    response = jsonify({"error": {k: _printable(v) for k, v in exc.as_dict().items()}})
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


def caller(auth: Authenticator, required: bool = True, device: bool = False) -> Principal | None:
    """Who is behind this request's bearer token; with `required`, an anonymous call is refused
    (Unauthorized). `device`: the route is one a kiosk or rating screen calls with its device
    token, so a refused token is explained in device words, not as a staff login."""
    try:
        principal = auth.principal(bearer_token())
    except Unauthorized as exc:
        if device and exc.code == "bad_token":
            raise Unauthorized("bad_token",
                               "Mã thiết bị không hợp lệ. Vui lòng báo cán bộ cấp lại mã cho màn hình này.",
                               "Invalid device token; ask staff to set this screen up again.") from None
        raise
    if principal is None and required:
        raise Unauthorized("login_required", "Vui lòng đăng nhập.", "Log in first (bearer token).")
    return principal


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_JSON_DEPTH = 16  # our bodies nest two levels; anything deeper is refused before parsing
MAX_INT_DIGITS = 20  # no count, pin or level needs more; longer numbers are refused unparsed

# Field names as people read them in the Vietnamese message (the JSON name stays beside it).
FIELD_LABELS_VI = {
    "username": "tên đăng nhập", "password": "mật khẩu", "service": "lĩnh vực",
    "priority": "ưu tiên", "priority_group": "đối tượng ưu tiên", "ticket": "mã số thứ tự",
    "reason": "lý do", "note": "ghi chú", "minutes": "số phút", "outcome": "kết quả",
    "dossiers": "số hồ sơ", "counter": "quầy", "level": "mức đánh giá", "pin": "chân GPIO",
    "state": "trạng thái",
}
TYPE_NAMES = {  # JSON Schema type -> (Vietnamese, English)
    "string": ("một chuỗi ký tự", "a string"), "integer": ("một số nguyên", "an integer"),
    "number": ("một số", "a number"), "boolean": ("true hoặc false", "true or false"),
    "object": ("một đối tượng JSON {…}", "a JSON object {…}"), "array": ("một danh sách", "a list"),
    "null": ("null", "null"),
}


def _bad_json(code: str, vi: str, en: str) -> InvalidRequest:
    return InvalidRequest(code, vi, en)


def _json_depth_ok(text: str, limit: int) -> bool:
    """True if no array/object in `text` nests deeper than `limit`. One linear pass that skips
    string contents (and their escapes), so '[' * 30000 is refused without any recursion."""
    if text.count("[") + text.count("{") <= limit:
        return True  # every ordinary body: nothing to scan
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _reject_constant(name: str) -> Any:
    raise _bad_json("invalid_number", f"Giá trị số không hợp lệ ({name}).",
                    f"{name} is not a valid JSON number.")


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _bad_json("invalid_number", "Số quá lớn.", "A number is too large.")
    return int(digits)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _bad_json("invalid_number", "Số quá lớn.", "A number is too large.")
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls but tab, CR, LF; DEL


def _check_text(value: Any) -> None:
    """Every string, key or value, at any depth, must be text: a lone surrogate such as
    "\\ud800" is valid JSON but no text (it cannot be stored, printed, logged or echoed), and
    neither is a control character such as NUL (tab and line breaks are allowed)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            strings: list[Any] = [item]
        elif isinstance(item, dict):
            strings = list(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
            continue
        else:
            continue
        for s in strings:
            try:
                s.encode("utf-8")
            except UnicodeEncodeError:
                raise _bad_json("invalid_text",
                                "Dữ liệu chứa ký tự không hợp lệ (mã Unicode lẻ, không phải chữ).",
                                "The body contains an invalid character (a lone Unicode surrogate)."
                                ) from None
            if _CONTROL.search(s):
                raise _bad_json("invalid_text", "Dữ liệu chứa ký tự điều khiển không hợp lệ.",
                                "The body contains a control character (such as NUL).")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise _bad_json("duplicate_field", "Một trường xuất hiện hai lần trong dữ liệu gửi lên.",
                        "A field appears twice in the body.")
    return data


def decode_json_body(raw: bytes) -> Any:
    """Parse a request body into JSON values, refusing with InvalidRequest (400) what the
    schemas cannot judge safely: bytes that are not UTF-8, nesting deeper than MAX_JSON_DEPTH,
    NaN/Infinity or numbers too large to be a count, duplicate keys, and lone surrogates in any
    string. Never recurses on the input (json's parser is only reached once the depth is known)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _bad_json("malformed_json", "Dữ liệu gửi lên không phải văn bản UTF-8 hợp lệ.",
                        "The body is not valid UTF-8 text.") from None
    if not _json_depth_ok(text, MAX_JSON_DEPTH):
        raise _bad_json("too_deep", "Dữ liệu JSON lồng nhau quá sâu.",
                        f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except InvalidRequest:
        raise
    except (ValueError, RecursionError):
        raise _bad_json("malformed_json", "Dữ liệu gửi lên không phải JSON hợp lệ.",
                        "The body is not valid JSON.") from None
    _check_text(data)
    return data


def _is_integer(checker: Any, instance: Any) -> bool:
    # JSON Schema counts 1.0 and -0.0 as integers; Python code downstream does not. A count, a
    # pin or a level is written without a decimal point, and true is not 1.
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


def _field_names(error: Any) -> tuple[str, str]:
    """(Vietnamese, English) names of the field an error is about; never the value sent."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = next((r for r in error.validator_value if r not in error.instance), "")
        path.append(str(missing))
    if not path:
        return "dữ liệu gửi lên", "the body"
    name = ".".join(path)
    label = FIELD_LABELS_VI.get(path[-1])
    return (f"{label} ('{name}')" if label else f"'{name}'"), f"'{name}'"


def _type_names(kind: Any) -> tuple[str, str]:
    kinds = kind if isinstance(kind, list) else [kind]
    names = [TYPE_NAMES.get(k, (str(k), str(k))) for k in kinds]
    return " hoặc ".join(n[0] for n in names), " or ".join(n[1] for n in names)


def schema_error(error: Any, schema: dict[str, Any]) -> InvalidRequest:
    """A jsonschema ValidationError as a bilingual InvalidRequest, worded by validator kind
    (required, type, maxLength, minimum, enum, …) with the field's name. The value that was
    sent is never echoed (it may be huge or unprintable); unknown keys are named, shortened."""
    kind = error.validator
    rule = error.schema if isinstance(error.schema, dict) else {}
    vi, en = _field_names(error)
    if kind == "additionalProperties":
        allowed = set(rule.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        shown = ", ".join(repr(k[:40]) for k in unknown[:5]) + (", …" if len(unknown) > 5 else "")
        return InvalidRequest("unknown_field", f"Trường không được hỗ trợ: {shown}.",
                              f"Unknown field(s): {shown}.")
    if kind == "required":
        return InvalidRequest("invalid_field", f"Thiếu thông tin bắt buộc: {vi}.",
                              f"{en[0].upper()}{en[1:]} is required.")
    if kind == "type":
        t_vi, t_en = _type_names(error.validator_value)
        return InvalidRequest("invalid_field", f"{vi[0].upper()}{vi[1:]} phải là {t_vi}.",
                              f"{en[0].upper()}{en[1:]} must be {t_en}.")
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        low, high = rule.get("minimum"), rule.get("maximum")
        if low is not None and high is not None:
            r_vi, r_en = f"từ {low} đến {high}", f"between {low} and {high}"
        elif low is not None:
            r_vi, r_en = f"không nhỏ hơn {low}", f"at least {low}"
        else:
            r_vi, r_en = f"không lớn hơn {high}", f"at most {high}"
        return InvalidRequest("invalid_field", f"Giá trị {vi} phải {r_vi}.",
                              f"{en[0].upper()}{en[1:]} must be {r_en}.")
    if kind == "maxLength":
        n = error.validator_value
        return InvalidRequest("invalid_field", f"Giá trị {vi} dài quá {n} ký tự.",
                              f"{en[0].upper()}{en[1:]} is longer than {n} characters.")
    if kind == "minLength":
        return InvalidRequest("invalid_field", f"Giá trị {vi} không được để trống.",
                              f"{en[0].upper()}{en[1:]} must not be empty.")
    if kind == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        return InvalidRequest("invalid_field", f"Giá trị {vi} phải là một trong: {choices}.",
                              f"{en[0].upper()}{en[1:]} must be one of: {choices}.")
    if kind == "oneOf":
        names = [r for alt in error.validator_value for r in alt.get("required", [])]
        if names:
            listed_vi = " hoặc ".join(f"'{n}'" for n in names)
            listed_en = " or ".join(f"'{n}'" for n in names)
            return InvalidRequest("invalid_field", f"Cần đúng một trong hai trường {listed_vi}.",
                                  f"Exactly one of {listed_en} is required.")
    if kind == "pattern":
        return InvalidRequest("invalid_field", f"Giá trị {vi} không đúng định dạng.",
                              f"{en[0].upper()}{en[1:]} has the wrong format.")
    return InvalidRequest("invalid_field", f"Giá trị {vi} không hợp lệ.",
                          f"{en[0].upper()}{en[1:]} is not valid.")


class RequestReader:
    """Reads and validates JSON bodies (the one place request JSON is decoded); builds its
    validators once. Refusals are InvalidRequest (400) with a Vietnamese and English reason."""

    def __init__(self) -> None:
        self._validators: dict[int, Any] = {}

    def body(self, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
        """The request's JSON body, valid against `schema`; `required=False` reads an empty body
        as {}. Raises InvalidRequest (see decode_json_body, schema_error) or RequestEntityTooLarge."""
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
            data = decode_json_body(raw)
        validator = self._validators.get(id(schema))
        if validator is None:
            validator = self._validators[id(schema)] = StrictValidator(schema)
        errors_found = sorted(validator.iter_errors(data), key=lambda e: (len(e.path), list(map(str, e.path))))
        if errors_found:
            raise schema_error(errors_found[0], schema)
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
    names_en: dict[str, str] = getattr(auth.config, "priority_names_en", {})  # [priority] groups
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

    # One request per Idempotency-Key at a time: striped locks (the same caller and key always take
    # the same lock; no table to grow). The table's primary key is the guarantee; this only keeps
    # two racing repeats from both reaching the database.
    key_locks = [threading.Lock() for _ in range(64)]

    def replay(route: str, n: int, events: list[tuple[str, str | None]]) -> Any:
        """The answer to a repeated Idempotency-Key: the same status, and the ticket (or the
        counter) the first request acted on, as it is now."""
        if route in ("pause", "resume"):
            return jsonify(service.counter_view(n))
        if route == "next":
            called = [t for kind, t in events if kind == "called" and t]
            if not called:
                return Response(status=204)
            return ticket_out(service.get_ticket(called[-1]))
        acted = [t for _kind, t in events if t]
        if not acted:
            raise InvalidRequest("idempotency_unknown", "Không tìm thấy kết quả của yêu cầu trước.",
                                 "The earlier request with this Idempotency-Key left no result.")
        ticket = service.get_ticket(acted[-1])
        if route == "rating":
            return jsonify({"number": ticket.number, "level": ticket.rating, "counter": n,
                            "label": service.rules.rating_levels[(ticket.rating or 1) - 1]}), 201
        return ticket_out(ticket)

    def once(route: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """`Idempotency-Key` on a counter action or rating: the first request with a key acts and
        stores the key with the events it logged, in the same transaction; a repeat (same caller,
        same key) acts no more and is answered from that record, with the header
        `Idempotent-Replayed: true`. A key reused for another route or counter: 409."""
        def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
            def run(n: int) -> Any:
                key = request.headers.get("Idempotency-Key")
                if key is None:
                    return view(n)
                if not IDEMPOTENCY_KEY.match(key):
                    raise InvalidRequest("bad_idempotency_key",
                                         "Idempotency-Key phải gồm 1–128 ký tự chữ, số, '-', '_', '.', ':'.",
                                         "Idempotency-Key must be 1-128 letters, digits, '-', '_', '.' or ':'.")
                principal = caller(auth, device=route == "rating")
                assert principal is not None
                target = f"{route} {n}"
                with key_locks[hash((principal.name, key)) % len(key_locks)]:
                    done = store.idempotency_record(principal.name, key)
                    if done is not None:
                        if done[0] != target:
                            raise errors.Conflict(
                                "idempotency_key_reused",
                                "Idempotency-Key này đã dùng cho một yêu cầu khác.",
                                f"This Idempotency-Key was used for another request ({done[0]}).")
                        answer = make_response(replay(route, n, done[1]))
                        answer.headers["Idempotent-Replayed"] = "true"
                        return answer
                    with store.idempotent(principal.name, key, target) as scope:
                        answer = make_response(view(n))
                    if answer.status_code < 400 and not scope.recorded:
                        store.record_idempotency(scope)
                    return answer
            run.__name__ = view.__name__
            run.__doc__ = view.__doc__
            return run
        return wrap

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
            "priority_groups": [{"id": i, "name": n, "name_en": names_en.get(i) or n}
                                for i, n in service.rules.priority.groups]
            if service.rules.priority.enabled else [],
        })

    @bp.get("/api/v1/state")
    def state() -> Response:
        zone = request.args.get("zone") or None
        if zone is not None and zone not in {c.zone for c in service.rules.counters.values()}:
            # the same refusal a Socket.IO `join` gets; the value sent is not echoed
            raise InvalidRequest("unknown_zone", "Không có khu vực này.", "Unknown zone.")
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
    @once("next")
    def call_next(n: int) -> Any:
        principal = acting_on(n)
        reader.body(openapi.EMPTY, required=False)
        ticket = service.call_next(n, principal.name)
        if ticket is None:
            return Response(status=204)
        return ticket_out(ticket)

    @bp.post("/api/v1/counters/<int:n>/recall")
    @once("recall")
    def recall(n: int) -> tuple[Response, int]:
        principal = acting_on(n)
        reader.body(openapi.EMPTY, required=False)
        return ticket_out(service.recall(n, principal.name))

    @bp.post("/api/v1/counters/<int:n>/no-show")
    @once("no-show")
    def no_show(n: int) -> tuple[Response, int]:
        principal = acting_on(n)
        data = reader.body(openapi.NO_SHOW, required=False)
        return ticket_out(service.no_show(n, principal.name, data.get("ticket")))

    @bp.post("/api/v1/counters/<int:n>/transfer")
    @once("transfer")
    def transfer(n: int) -> tuple[Response, int]:
        principal = acting_on(n)
        data = reader.body(openapi.TRANSFER)
        return ticket_out(service.transfer(n, principal.name, data.get("service"), data.get("counter")))

    @bp.post("/api/v1/counters/<int:n>/finish")
    @once("finish")
    def finish(n: int) -> tuple[Response, int]:
        principal = acting_on(n)
        data = reader.body(openapi.FINISH)
        return ticket_out(service.finish(n, principal.name, Outcome(data["outcome"]), data.get("dossiers")))

    @bp.post("/api/v1/counters/<int:n>/pause")
    @once("pause")
    def pause(n: int) -> Response:
        principal = acting_on(n)
        data = reader.body(openapi.PAUSE)
        service.pause(n, principal.name, data["reason"], data.get("minutes"), data.get("note"))
        return jsonify(service.counter_view(n))

    @bp.post("/api/v1/counters/<int:n>/resume")
    @once("resume")
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
    @once("rating")
    def rate_at_counter(n: int) -> tuple[Response, int]:
        principal = caller(auth, device=True)
        assert principal is not None
        principal.require("rate")
        service.authorize_counter(n, principal.counters_allowed("rate"))
        data = reader.body(counter_rating)
        ticket = service.rate_at_counter(n, data["level"], data.get("reason"), source=principal.name)
        return jsonify({"number": ticket.number, "level": ticket.rating, "counter": n,
                        "label": service.rules.rating_levels[data["level"] - 1]}), 201

    device_health = DeviceHealthBoard()

    @bp.put("/api/v1/devices/health")
    def put_device_health() -> Response:
        principal = caller(auth, device=True)
        assert principal is not None
        principal.require("counter")
        data = reader.body(openapi.DEVICE_HEALTH)
        if not device_health.report(data):
            raise errors.Conflict("too_many_bridges", "Quá nhiều bộ cầu nối thiết bị đang báo cáo.",
                                  "Too many device bridges report to this hub.")
        return jsonify({"ok": True})

    @bp.get("/api/v1/devices")
    def get_devices() -> Response:
        principal = caller(auth)
        assert principal is not None
        principal.require("manage")
        return jsonify(device_health.view())

    def _stats() -> dict[str, Any]:
        principal = caller(auth)
        assert principal is not None
        principal.require("manage")
        first, last = _date_range()
        config = current_app.extensions.get("hub_config")
        target = (config.sections.get("reports", {}) if config else {}).get(
            "target_wait_min", stats.TARGET_WAIT_MINUTES)
        return stats.from_store(store, service.rules, first, last, target)

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

    # The report tables in the centers' formats (report_tables.py), as JSON for the report page
    # and as XLSX / CSV files (exports.py); manager and admin only, like the statistics.
    def _report_lang() -> str:
        lang = request.args.get("lang") or "vi"
        if lang not in ("vi", "en"):
            raise InvalidRequest("bad_lang", "Ngôn ngữ phải là 'vi' hoặc 'en'.",
                                 "'lang' must be 'vi' or 'en'.")
        return lang

    def _report_tables(names: list[str]) -> tuple[dict[str, Any], list[Any], str]:
        from . import report_tables

        lang = _report_lang()
        data = _stats()
        staff_names = {u: s.name for u, s in getattr(auth.config, "staff", {}).items() if s.name}
        return data, [report_tables.build(n, data, service.rules, staff_names) for n in names], lang

    @bp.get("/api/v1/reports/tables")
    def report_tables_json() -> Response:
        from .exports import cell_text, title_lines
        from .report_tables import TABLES

        data, tables, lang = _report_tables(list(TABLES))
        first, last = date.fromisoformat(data["from"]), date.fromisoformat(data["to"])
        return jsonify({
            "from": data["from"], "to": data["to"], "lang": lang,
            "center": service.rules.center_name,
            "staff_names": {u: a.name for u, a in getattr(auth.config, "staff", {}).items() if a.name},
            "tables": [{"key": t.key, "title": title_lines(t, service.rules.center_name, first, last, lang)[1],
                        "groups": [{"text": g, "span": n} for g, n in t.group_headers(lang)],
                        "headers": t.headers(lang),
                        "rows": [[cell_text(v, lang) for v in r] for r in t.rows],
                        "note": t.note_vi if lang == "vi" else t.note_en,
                        "summary_rows": t.summary_rows} for t in tables],
            "stats": data,
        })

    @bp.get("/api/v1/reports/<name>.<fmt>")
    def report_file(name: str, fmt: str) -> Response:
        from . import exports
        from .report_tables import TABLES

        if fmt not in ("xlsx", "csv") or (name not in TABLES and not (name == "all" and fmt == "xlsx")):
            raise errors.NotFound(
                "unknown_report",
                f"Không có bảng báo cáo này. Các bảng: {', '.join(TABLES)} (.xlsx hoặc .csv); all.xlsx.",
                f"No such report table. Tables: {', '.join(TABLES)} (.xlsx or .csv); all.xlsx.")
        data, tables, lang = _report_tables(list(TABLES) if name == "all" else [name])
        first, last = date.fromisoformat(data["from"]), date.fromisoformat(data["to"])
        center = service.rules.center_name
        if fmt == "csv":
            body, mime = exports.csv_bytes(tables[0], center, first, last, lang), exports.CSV_MIME
        else:
            body, mime = exports.xlsx_bytes(tables, center, first, last, lang), exports.XLSX_MIME
        filename = f"bao-cao-{name}-{data['from']}_{data['to']}.{fmt}"
        return Response(body, mimetype=mime,
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

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
