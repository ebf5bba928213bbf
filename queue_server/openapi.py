"""Request and response schemas, used twice: to validate every request body (jsonschema) and to
publish the OpenAPI document at /api/v1/openapi.json. One definition, so the document cannot drift
from what the server accepts."""

from __future__ import annotations

from typing import Any

from .core.models import PAUSE_REASONS, Outcome

TEXT = {"type": "string", "maxLength": 500}
SERVICE_ID = {"type": "string", "minLength": 1, "maxLength": 40}
COUNTER_NO = {"type": "integer", "minimum": 1, "maximum": 999}


def _obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


LOGIN = _obj({"username": {"type": "string", "minLength": 1, "maxLength": 64},
              "password": {"type": "string", "minLength": 1, "maxLength": 256}},
             ["username", "password"])
ISSUE = _obj({"service": SERVICE_ID, "priority": {"type": "boolean"},
              "priority_group": {"type": "string", "minLength": 1, "maxLength": 40}}, ["service"])
EMPTY = _obj({})
UNLOCK = _obj({"username": {"type": "string", "minLength": 1, "maxLength": 64},
               "address": {"type": "string", "minLength": 1, "maxLength": 64}},
              anyOf=[{"required": ["username"]}, {"required": ["address"]}])
NO_SHOW = _obj({"ticket": {"type": "string", "minLength": 1, "maxLength": 64}})
TRANSFER = _obj({"service": SERVICE_ID, "counter": COUNTER_NO},
                oneOf=[{"required": ["service"]}, {"required": ["counter"]}])
FINISH = _obj({"outcome": {"type": "string", "enum": [o.value for o in Outcome]},
               "dossiers": {"type": "integer", "minimum": 0, "maximum": 999}}, ["outcome"])
PAUSE = _obj({"reason": {"type": "string", "enum": list(PAUSE_REASONS)},
              "minutes": {"type": "integer", "minimum": 1, "maximum": 480}, "note": TEXT}, ["reason"])
CANCEL = _obj({"reason": TEXT})
REQUEUE_AT_COUNTER = _obj({"ticket": {"type": "string", "minLength": 1, "maxLength": 64}}, ["ticket"])
CALL_NUMBER = _obj({"number": {"type": "string", "minLength": 1, "maxLength": 20}}, ["number"])


# Optional on counter actions and counter ratings (api.py `once`): a repeat of the same key by the
# same caller is answered from the hub's record (header `Idempotent-Replayed: true`) and acts no
# more; the same key on another route or counter is 409. Kept 7 days (storage.IDEMPOTENCY_KEEP_S).
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Makes a retried request safe: the first request with this key acts, a repeat "
                   "returns the first one's status and ticket (as it is now) with "
                   "`Idempotent-Replayed: true`. Used by firmware-bridge for every key press.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
}


_NUM_OR_NULL = {"type": ["number", "null"], "minimum": 0}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 2**53}
_SHORT = {"type": ["string", "null"], "maxLength": 300}
DEVICE_HEALTH = _obj({
    "bridge": _obj({
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,39}$"},
        "reported_at": {"type": "string", "maxLength": 40},
        "hub_reachable": {"type": "boolean"},
        "queued_presses": _COUNT, "queue_max": _COUNT, "refused_presses": _COUNT,
        "expired_presses": _COUNT,
        "error": _SHORT,
        "buses": {"type": "array", "maxItems": 32, "items": _obj({
            "name": {"type": "string", "maxLength": 40}, "port": {"type": "string", "maxLength": 300},
            "baud": {"type": "integer", "minimum": 1200, "maximum": 1_000_000}})},
    }, ["id", "reported_at", "hub_reachable"]),
    # a center has tens of devices; a report stays far below the hub's 64 KiB body limit
    "devices": {"type": "array", "maxItems": 256, "items": _obj({
        "id": {"type": "string", "maxLength": 60}, "bus": {"type": "string", "maxLength": 40},
        "unit": {"type": "integer", "minimum": 1, "maximum": 247},
        "kind": {"type": "string", "enum": ["counter-display", "counter-terminal", "rating-box",
                                            "lobby-board", "numeric-led"]},
        "counter": {"type": ["integer", "null"], "minimum": 1, "maximum": 999},
        "name": _SHORT, "online": {"type": "boolean"}, "last_seen": _SHORT,
        "frames_ok": _COUNT, "frames_bad": _COUNT, "timeouts": _COUNT, "exceptions": _COUNT,
        "rtt_ms": _NUM_OR_NULL, "error": _SHORT, "firmware": _SHORT, "serial": _SHORT,
        "pending_events": {"type": ["integer", "null"], "minimum": 0, "maximum": 65535},
        "overflows": {"type": ["integer", "null"], "minimum": 0, "maximum": 65535},
        "line_noise": _COUNT, "backoff_s": _NUM_OR_NULL,
    }, ["id", "bus", "unit", "kind", "online"])},
}, ["bridge", "devices"])


def counter_rating_schema(levels: int) -> dict[str, Any]:
    return _obj({"level": {"type": "integer", "minimum": 1, "maximum": levels}, "reason": TEXT}, ["level"])


def rating_schema(levels: int) -> dict[str, Any]:
    return _obj({"ticket": {"type": "string", "minLength": 1, "maxLength": 64},
                 "level": {"type": "integer", "minimum": 1, "maximum": levels}, "reason": TEXT},
                ["ticket", "level"])


ERROR = _obj({"error": _obj({"code": {"type": "string"}, "message": {"type": "string"},
                             "message_en": {"type": "string"}, "details": {}},
                            ["code", "message", "message_en"])}, ["error"])
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}
TICKET = {
    "type": "object",
    "required": ["id", "number", "service", "status", "issued_at"],
    "properties": {
        "id": {"type": "string"}, "number": {"type": "string"}, "service": {"type": "string"},
        "service_name": {"type": "string"},
        "status": {"type": "string", "enum": ["waiting", "called", "no_show", "done", "cancelled"]},
        "priority": {"type": "boolean"}, "priority_group": _NULLABLE_STR,
        "issued_at": {"type": "string"}, "called_at": _NULLABLE_STR, "finished_at": _NULLABLE_STR,
        "counter": _NULLABLE_INT, "target_counter": _NULLABLE_INT, "outcome": _NULLABLE_STR,
        "dossiers": _NULLABLE_INT, "rated": {"type": "boolean"},
        "waiting_ahead": _NULLABLE_INT,
        # null: no counter is staffed yet, so no estimate is possible
        "est_wait_min": _NULLABLE_INT,
        # "day_end": still open when its day ended (status is then "cancelled")
        "closed_reason": {"type": ["string", "null"], "enum": ["day_end", None]},
    },
}


HEALTH = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded"]},
        "problems": {"type": "array", "items": {"type": "object", "properties": {
            "code": {"type": "string", "enum": ["database_unreachable", "write_failed",
                                                "low_disk_space", "disk_unreadable"]},
            "message": {"type": "string"}, "message_en": {"type": "string"}}}},
        "schema": {"type": "integer"}, "day": {"type": "string", "format": "date"},
    },
}


def _json(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


_TICKET_ID_EXAMPLE = "3f0c2a4e-8d1b-4c6a-9e2f-5b7d1a0c9e84"
# One request body per operation that takes one, in the demo center's words (`--demo`). Each is
# valid against its schema and accepted by the server (tests/hub/test_hub_openapi.py).
REQUEST_EXAMPLES: dict[str, Any] = {
    "/api/v1/auth/login": {"username": "staff1", "password": "demo"},
    "/api/v1/auth/unlock": {"username": "staff3"},
    "/api/v1/tickets": {"service": "ho-tich", "priority": True, "priority_group": "elderly"},
    "/api/v1/tickets/{ticket_id}/requeue": {},
    "/api/v1/tickets/{ticket_id}/cancel": {"reason": "Công dân không cần làm thủ tục nữa"},
    "/api/v1/counters/{n}/next": {},
    "/api/v1/counters/{n}/recall": {},
    "/api/v1/counters/{n}/no-show": {},
    "/api/v1/counters/{n}/transfer": {"service": "chung-thuc"},
    "/api/v1/counters/{n}/finish": {"outcome": "received", "dossiers": 1},
    "/api/v1/counters/{n}/pause": {"reason": "meeting", "minutes": 15, "note": "Họp giao ban"},
    "/api/v1/counters/{n}/resume": {},
    "/api/v1/counters/{n}/rating": {"level": 1},
    "/api/v1/ratings": {"ticket": _TICKET_ID_EXAMPLE, "level": 3, "reason": "Thời gian chờ quá lâu"},
    "/api/v1/kiosk/tickets": {"service": "ho-tich"},
    "/api/v1/tickets/{ticket_id}/reprint": {},
    "/api/v1/printer/simulate": {"state": "paper_out"},
    "/api/v1/buttons/press": {"pin": 17},
    "/api/v1/config/staff": {"username": "staff9", "name": "Lê Văn Chín", "role": "staff", "counter": 2,
                             "password": "mat-khau-chin"},
    "/api/v1/config/staff/{username}/password": {"password": "mat-khau-moi"},
}


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "Bad request", 401: "Not logged in", 403: "Not allowed", 404: "Not found",
             409: "Not possible in the current state", 413: "Request body over 64 KiB",
             429: "Too many requests",
             503: "Storage or device unavailable"}
    return {str(c): {"description": names[c], "content": _json({"$ref": "#/components/schemas/Error"})}
            for c in codes}


def _op(summary: str, ok: dict[str, Any], body: dict[str, Any] | None = None, auth: bool = True,
        errors: tuple[int, ...] = (400, 401, 403, 404, 409, 503), params: list[Any] | None = None,
        body_required: bool = True) -> dict[str, Any]:
    """One operation: `ok` its success responses (from _ok), `body` its request-body schema."""
    op: dict[str, Any] = {"summary": summary, "responses": {**ok, **_errors(*errors)}}
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": _json(body)}
    if auth:
        op["security"] = [{"bearer": []}]
    if params:
        op["parameters"] = params
    return op


def _ok(description: str, schema: dict[str, Any] | None = None, code: int = 200) -> dict[str, Any]:
    return {str(code): {"description": description, **({"content": _json(schema)} if schema else {})}}


def _with_examples(paths: dict[str, Any]) -> dict[str, Any]:
    for path, example in REQUEST_EXAMPLES.items():
        body = paths.get(path, {}).get("post", {}).get("requestBody")
        if body is not None:
            body["content"]["application/json"]["example"] = example
    return paths


# GET /api/v1/stats (queue_server/stats.py; definitions in docs/statistics.md). Durations in
# minutes, percents 0–100 with 2 places; null where there is nothing to divide by.
_NUM = {"type": ["number", "null"]}
_SUMMARY = {"type": "object", "required": ["avg", "median", "p90"],
            "properties": {"avg": _NUM, "median": _NUM, "p90": _NUM},
            "description": "minutes; median of an even count = mean of the middle two; p90 = nearest rank"}
_COUNT = {"type": "integer", "minimum": 0}
STATS_BLOCK = {
    "type": "object",
    "required": ["issued", "served", "no_show", "cancelled", "closed_at_day_end", "print_failed",
                 "waiting", "dossiers", "transferred", "no_show_pct", "cancelled_pct", "wait_min",
                 "service_min", "within_target", "within_target_pct", "clock_anomalies"],
    "properties": {
        **{k: _COUNT for k in ("issued", "served", "no_show", "cancelled", "closed_at_day_end",
                               "print_failed", "waiting", "dossiers", "transferred",
                               "within_target", "clock_anomalies")},
        "no_show_pct": _NUM, "cancelled_pct": _NUM, "within_target_pct": _NUM,
        "wait_min": _SUMMARY, "service_min": _SUMMARY,
    },
}
SATISFACTION = {"type": "object", "required": ["total", "levels"], "properties": {
    "total": _COUNT, "levels": {"type": "array", "items": {
        "type": "object", "required": ["level", "label", "count", "percent"],
        "properties": {"level": _COUNT, "label": {"type": "string"}, "count": _COUNT, "percent": _NUM}}}}}
_AT_DESK = {"allOf": [STATS_BLOCK, {"type": "object", "required": ["pauses", "paused_min", "satisfaction"],
                                    "properties": {"pauses": _COUNT, "paused_min": {"type": "number"},
                                                   "satisfaction": SATISFACTION}}]}


def _rows(key: str, kind: Any, block: Any = STATS_BLOCK, **more: Any) -> dict[str, Any]:
    return {"type": "array", "items": {"allOf": [block, {"type": "object", "required": [key, *more],
                                                        "properties": {key: kind, **more}}]}}


STATISTICS = {
    "type": "object",
    "required": ["from", "to", "target_wait_min", "totals", "days_with_visits", "visits_per_day",
                 "served_per_day", "dossiers_per_day", "by_service", "by_counter", "by_staff",
                 "by_hour", "by_weekday", "by_day", "by_priority", "by_month", "by_staff_month",
                 "wait_histogram", "satisfaction"],
    "properties": {
        "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
        "target_wait_min": {"type": "number"}, "totals": STATS_BLOCK,
        "days_with_visits": _COUNT, "visits_per_day": _NUM, "served_per_day": _NUM,
        "dossiers_per_day": _NUM,
        "by_service": _rows("service", {"type": "string"}, name={"type": "string"}),
        "by_counter": _rows("counter", {"type": "integer"}, _AT_DESK, name={"type": "string"}),
        "by_staff": _rows("staff", {"type": "string"}, _AT_DESK),
        "by_hour": _rows("hour", {"type": "integer", "minimum": 0, "maximum": 23},
                         days=_COUNT, issued_per_day=_NUM),
        "by_weekday": _rows("weekday", {"type": "integer", "minimum": 0, "maximum": 6,
                                        "description": "0 = Monday"}, days=_COUNT, issued_per_day=_NUM),
        "by_day": _rows("day", {"type": "string", "format": "date"}),
        "by_priority": _rows("priority", {"type": "boolean"}),
        "by_month": {"type": "array", "items": {"type": "object", "required": ["month", "issued", "served", "dossiers"],
                     "properties": {"month": {"type": "string"}, "issued": _COUNT, "served": _COUNT, "dossiers": _COUNT}}},
        "by_staff_month": {"type": "array", "items": {"type": "object", "required": ["staff", "month", "served", "dossiers"],
                           "properties": {"staff": {"type": "string"}, "month": {"type": "string"},
                                          "served": _COUNT, "dossiers": _COUNT}}},
        "wait_histogram": {"type": "array", "items": {"type": "object", "required": ["from_min", "to_min", "visits"],
                           "properties": {"from_min": {"type": "number"}, "to_min": _NUM, "visits": _COUNT}}},
        "satisfaction": SATISFACTION,
    },
}
REPORT_TABLE_NAMES = ["summary", "satisfaction", "staff-ratings", "fields", "counters", "visits-daily",
                      "staff-monthly", "hours", "weekdays"]


def report_paths(date_params: list[Any]) -> dict[str, Any]:
    """The report tables' routes (api.py; report_tables.py, exports.py)."""
    lang = [{"name": "lang", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["vi", "en"], "default": "vi"}}]
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    binary = {"schema": {"type": "string", "format": "binary"}}
    name = [{"name": "name", "in": "path", "required": True, "description": "a table (or `all`, XLSX only)",
             "schema": {"type": "string", "enum": [*REPORT_TABLE_NAMES, "all"]}}]
    return {
        "/api/v1/reports/tables": {"get": _op(
            "Every report table, formatted for the page, and the statistics (manager)",
            _ok("Tables: key, title, groups, headers, rows (text in the language's number format)"),
            params=[*date_params, *lang], errors=(400, 401, 403))},
        "/api/v1/reports/{name}.xlsx": {"get": _op(
            "One report table (or all, one sheet each) as XLSX, center and range in the title (manager)",
            {"200": {"description": "XLSX workbook", "content": {xlsx: binary}}},
            params=[*name, *date_params, *lang], errors=(400, 401, 403, 404))},
        "/api/v1/reports/{name}.csv": {"get": _op(
            "One report table as CSV (UTF-8 with BOM), center and range in the first lines (manager)",
            {"200": {"description": "CSV", "content": {"text/csv": binary}}},
            params=[*name, *date_params, *lang], errors=(400, 401, 403, 404))},
    }


def build_document(rating_levels: int, extra_paths: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document (its schemas are the JSON Schema 2020-12 the server validates
    with); `extra_paths` adds the kiosk's routes (kiosk_paths)."""
    ticket_ref = {"$ref": "#/components/schemas/Ticket"}
    counter_param = [{"name": "n", "in": "path", "required": True, "schema": COUNTER_NO}]
    ticket_param = [{"name": "ticket_id", "in": "path", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 64}}]
    date_params = [{"name": n, "in": "query", "required": False,
                    "schema": {"type": "string", "format": "date"}} for n in ("from", "to")]

    def counter_op(summary: str, ok: dict[str, Any], body: dict[str, Any], required: bool) -> dict[str, Any]:
        # (summary, responses, request body, body required): the order every call below uses
        return {"post": _op(summary, ok, body, params=[*counter_param, IDEMPOTENCY_HEADER],
                            body_required=required)}

    return {
        "openapi": "3.1.0",
        "info": {"title": "Queue hub API", "version": "1.0.0",
                 "description": "Kiosk and queue management for Vietnamese public service centers. "
                                "Errors carry a stable code and a Vietnamese and English message."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR, "Ticket": TICKET},
        },
        "paths": _with_examples({
            "/healthz": {"get": {"summary": "Liveness and storage check (queue_server/health.py)", "responses": {
                "200": {"description": "Healthy", "content": _json(HEALTH)},
                "503": {"description": "Degraded: database unreachable, last write failed, or low disk space",
                        "content": _json(HEALTH)}}}},
            "/api/v1/auth/login": {"post": _op("Log in; returns a bearer token", _ok("Token"), LOGIN,
                                               auth=False, errors=(400, 401, 429, 503))},
            "/api/v1/auth/logout": {"post": _op("Log out (revoke the token)", _ok("Logged out"),
                                                errors=(401,))},
            "/api/v1/auth/lockouts": {"get": _op("Login lockouts in force (admin)", _ok("Lockouts"),
                                                 errors=(401, 403))},
            "/api/v1/auth/unlock": {"post": _op("Lift a login lockout of a username and/or address (admin)",
                                                _ok("Unlocked"), UNLOCK, errors=(400, 401, 403))},
            "/api/v1/services": {"get": _op("Services (fields) with waiting counts and issuing state",
                                            _ok("Services"), auth=False, errors=())},
            "/api/v1/state": {"get": _op("Full public state (what a display gets on connect)",
                                         _ok("State"), auth=False, errors=(400,),
                                         params=[{"name": "zone", "in": "query", "required": False,
                                                  "schema": {"type": "string"}}])},
            "/api/v1/tickets": {"post": _op("Issue a ticket", _ok("Issued", ticket_ref, 201), ISSUE,
                                            errors=(400, 401, 403, 409, 429, 503))},
            "/api/v1/tickets/{ticket_id}": {"get": _op("A ticket's public status", _ok("Ticket", ticket_ref),
                                                       auth=False, errors=(404,), params=ticket_param)},
            "/api/v1/tickets/{ticket_id}/requeue": {"post": _op(
                "Put a no-show ticket back in its queue", _ok("Re-queued", ticket_ref), EMPTY,
                params=ticket_param, body_required=False)},
            "/api/v1/tickets/{ticket_id}/cancel": {"post": _op(
                "Cancel an open ticket", _ok("Cancelled", ticket_ref), CANCEL, params=ticket_param,
                body_required=False)},
            "/api/v1/counters": {"get": _op("Counters and their state", _ok("Counters"), auth=False, errors=())},
            "/api/v1/counters/{n}/next": counter_op(
                "Finish the current ticket and call the next", {**_ok("Called", ticket_ref),
                                                                **_ok("Nobody waiting", code=204)}, EMPTY, False),
            "/api/v1/counters/{n}/recall": counter_op("Call the current ticket again",
                                                      _ok("Recalled", ticket_ref), EMPTY, False),
            "/api/v1/counters/{n}/no-show": counter_op("Mark the citizen absent",
                                                       _ok("Marked", ticket_ref), NO_SHOW, False),
            "/api/v1/counters/{n}/transfer": counter_op("Move the current ticket to a service or counter",
                                                        _ok("Transferred", ticket_ref), TRANSFER, True),
            "/api/v1/counters/{n}/finish": counter_op("Finish the current ticket with its outcome",
                                                      _ok("Finished", ticket_ref), FINISH, True),
            "/api/v1/counters/{n}/pause": counter_op("Pause the counter", _ok("Paused"), PAUSE, True),
            "/api/v1/counters/{n}/resume": counter_op("Resume the counter", _ok("Open"), EMPTY, False),
            "/api/v1/counters/{n}/rating": {
                "get": _op("What the counter-side rating screen offers now (the number just served), "
                           "and whether the caller's bearer token may record it (`authorized`)",
                           _ok("Rating target or null"), auth=False, errors=(401, 404), params=counter_param),
                "post": _op("Rate the visit this counter just finished", _ok("Rated", code=201),
                            counter_rating_schema(rating_levels), errors=(400, 401, 403, 404, 409),
                            params=[*counter_param, IDEMPOTENCY_HEADER])},
            "/api/v1/ratings": {"post": _op("Rate a served ticket (the ticket id is the capability)",
                                            _ok("Rated", code=201), rating_schema(rating_levels),
                                            auth=False, errors=(400, 401, 404, 409))},
            "/api/v1/reporting/status": {"get": _op(
                "Reporting to the province (manager, admin): last acknowledged batch, backlog, last error",
                _ok("Reporting state"), errors=(401, 403))},
            "/api/v1/reporting/retry-refused": {"post": _op(
                "Send again the batches the central refused for good (admin; docs/reporting.md)",
                _ok("How many batches were queued again"), errors=(401, 403))},
            "/api/v1/stats": {"get": _op("Statistics for a date range (manager; docs/statistics.md)",
                                         _ok("Statistics", STATISTICS),
                                         params=date_params, errors=(400, 401, 403))},
            **report_paths(date_params),
            "/api/v1/reports/summary.xlsx": {"get": _op(
                "Summary workbook for a date range (manager)",
                {"200": {"description": "XLSX workbook", "content": {
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                        "schema": {"type": "string", "format": "binary"}}}}},
                params=date_params, errors=(400, 401, 403))},
            "/api/v1/devices/health": {"put": _op(
                "A device bridge's report of its RS485 devices (device token with the counter scope)",
                _ok("Kept"), DEVICE_HEALTH, errors=(400, 401, 403, 409, 413))},
            "/api/v1/devices": {"get": _op(
                "RS485 device health as the bridges last reported it (manager, admin)",
                _ok("Bridges and devices"), errors=(401, 403))},
            **panel_paths(counter_param, ticket_ref),
            **(extra_paths or {}),
        }),
    }


def kiosk_paths(printer_states: list[str]) -> dict[str, Any]:
    """The kiosk's routes (kiosk/web.py), published in the same document."""
    ticket_param = [{"name": "ticket_id", "in": "path", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 64}}]
    return {
        "/api/v1/kiosk/status": {"get": _op("What a kiosk screen shows: services and printer state",
                                            _ok("Kiosk status"), auth=False, errors=(401,))},
        "/api/v1/kiosk/tickets": {"post": _op(
            "Issue and print a ticket (nothing is issued when the printer cannot print)",
            _ok("Issued and printed", {"$ref": "#/components/schemas/Ticket"}, 201), ISSUE,
            errors=(400, 401, 403, 409, 429, 503))},
        "/api/v1/tickets/{ticket_id}/reprint": {"post": _op(
            "Print a waiting or called ticket again", _ok("Reprinted"), EMPTY, params=ticket_param,
            body_required=False)},
        "/api/v1/printer": {"get": _op(
            "Printer and ticket-button health: the caller's printer, and `printers` (every one)",
            _ok("Health"), auth=False, errors=(401, 404), params=[
                {"name": "printer", "in": "query", "required": False,
                 "schema": {"type": "string", "maxLength": 40}},
                {"name": "refresh", "in": "query", "required": False,
                 "schema": {"type": "string", "maxLength": 8}}])},
        "/api/v1/printer/simulate": {"post": _op(
            "Set the simulated printer's state (admin, simulated printer only)", _ok("State"),
            printer_simulate_schema(printer_states))},
        "/api/v1/buttons/press": {"post": _op(
            "Press a simulated GPIO ticket button (admin, mock pins only)", _ok("Buttons"),
            BUTTON_PRESS)},
    }


def printer_simulate_schema(states: list[str]) -> dict[str, Any]:
    return _obj({"state": {"type": "string", "enum": states},
                 "printer": {"type": "string", "maxLength": 40}}, ["state"])


BUTTON_PRESS = _obj({"pin": {"type": ["integer", "string"], "maxLength": 12, "minimum": 0,
                             "maximum": 53}}, ["pin"])


def panel_paths(counter_param: list[Any], ticket_ref: dict[str, Any]) -> dict[str, Any]:
    """The staff panel's routes (SPEC §3): what a counter can call, its no-shows, call by number."""
    queue_row = _obj({"service": {"type": "string"}, "own": {"type": "boolean"},
                      "callable": {"type": "integer"}, "waiting": {"type": "integer"},
                      "reserved_here": {"type": "integer"}, "reserved_elsewhere": {"type": "integer"}})
    queue = _obj({"counter": {"type": "integer"}, "seq": {"type": "integer"},
                  "callable": {"type": "integer"}, "fields": {"type": "array", "items": queue_row},
                  "no_shows": {"type": "array", "items": ticket_ref}})
    queue_op = _op(
        "What this counter can call per service (tickets transferred to other counters counted "
        "apart) and today's no-shows of its services (staff: own counter only)",
        _ok("Counter queue", queue), errors=(401, 403, 404), params=counter_param)
    queue_op["responses"]["200"]["content"]["application/json"]["example"] = {
        "counter": 1, "seq": 42, "callable": 2,
        "fields": [{"service": "ho-tich", "own": True, "callable": 2, "waiting": 2,
                    "reserved_here": 0, "reserved_elsewhere": 1}],
        "no_shows": [{"id": "6f1c0c1e-8d3a-4c39-9a57-2f4a1c7e9b10", "number": "1004",
                      "service": "ho-tich", "status": "no_show", "counter": 1,
                      "issued_at": "2026-11-30T08:02:11+07:00"}]}

    def post(summary: str, body: dict[str, Any], example: dict[str, Any], ok: str) -> dict[str, Any]:
        op = _op(summary, _ok(ok, ticket_ref), body, params=counter_param)
        op["requestBody"]["content"]["application/json"]["example"] = example
        return {"post": op}

    return {
        "/api/v1/counters/{n}/queue": {"get": queue_op},
        "/api/v1/counters/{n}/requeue": post(
            "Put today's no-show of this counter's services back in its queue, at its original place",
            REQUEUE_AT_COUNTER, {"ticket": "6f1c0c1e-8d3a-4c39-9a57-2f4a1c7e9b10"}, "Re-queued"),
        "/api/v1/counters/{n}/call": post(
            "Call one ticket by the number printed on it: waiting in this counter's services (not "
            "transferred to another counter), or today's no-show (re-queued and called); the "
            "ticket being served is finished first, as with next",
            CALL_NUMBER, {"number": "1023"}, "Called"),
    }


# ------------------------------------------------------------------ the manager page (issue 11)
_USERNAME = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,39}$"}
_ACCOUNT_NAME = {"type": "string", "minLength": 1, "maxLength": 100}
_ROLE = {"type": "string", "enum": ["admin", "manager", "staff"]}
_ACCOUNT_COUNTER = {"type": ["integer", "null"], "minimum": 1, "maximum": 999}
_PASSWORD = {"type": "string", "minLength": 1, "maxLength": 200}
CONFIG_SECTIONS = ["fields", "counters", "staff", "hours", "ratings"]
# PUT /api/v1/config/<section>: the section in its TOML shape (docs/configuration.md)
REPLACE_SECTION = _obj({"value": {"type": ["array", "object"]}}, ["value"])
CREATE_ACCOUNT = _obj({"username": _USERNAME, "name": _ACCOUNT_NAME, "role": _ROLE,
                       "counter": _ACCOUNT_COUNTER, "password": _PASSWORD},
                      ["username", "role", "password"])
UPDATE_ACCOUNT = _obj({"name": _ACCOUNT_NAME, "role": _ROLE, "counter": _ACCOUNT_COUNTER,
                       "disabled": {"type": "boolean"}})
RESET_PASSWORD = _obj({"password": _PASSWORD}, ["password"])


def manager_paths() -> dict[str, Any]:
    """The manager page's routes (queue_server/manager.py), published in the same document."""
    section = [{"name": "section", "in": "path", "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 40}}]
    username = [{"name": "username", "in": "path", "required": True,
                 "schema": {"type": "string", "minLength": 1, "maxLength": 40}}]
    number = {"type": "string", "maxLength": 12}
    return {
        "/api/v1/manager/hall": {"get": _op("The live hall: counters, waiting, today's totals, printers "
                                            "(manager, admin)", _ok("Hall"), errors=(401, 403))},
        "/api/v1/config": {"get": _op("The editable configuration sections as in effect (admin)",
                                      _ok("Configuration"), errors=(401, 403))},
        "/api/v1/config/{section}": {
            "put": _op("Replace a section (fields, counters, hours, ratings), checked by the config "
                       "file's rules (admin)", _ok("Configuration"), REPLACE_SECTION, params=section),
            "delete": _op("Back to the config file's section (admin)", _ok("Configuration"),
                          params=section)},
        "/api/v1/config/staff": {"post": _op("Create a staff account (admin)", _ok("Created", code=201),
                                             CREATE_ACCOUNT)},
        "/api/v1/config/staff/{username}": {"patch": _op(
            "Change an account's name, role, counter, or disable it (admin)", _ok("Account"),
            UPDATE_ACCOUNT, params=username)},
        "/api/v1/config/staff/{username}/password": {"post": _op(
            "Set a new password (admin)", _ok("Account"), RESET_PASSWORD, params=username)},
        "/api/v1/config/audit": {"get": _op(
            "Who changed the configuration, what and when (manager, admin)", _ok("Audit log"),
            errors=(400, 401, 403),
            params=[{"name": "limit", "in": "query", "required": False, "schema": number}])},
        "/api/v1/forecast": {"get": _op(
            "Counters to open per weekday and hour (Erlang C; docs/forecast.md) (manager, admin)",
            _ok("Forecast"), errors=(400, 401, 403),
            params=[{"name": n, "in": "query", "required": False, "schema": number}
                    for n in ("weeks", "target_min", "share")])},
    }
