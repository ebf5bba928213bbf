"""The kiosk's HTTP side: the touchscreen page, the phone page behind the QR code, and the API
that issues *and prints* a ticket.

    GET  /kiosk                          touchscreen (open once as /kiosk?token=<device token>)
    GET  /t/<ticket id>                  the ticket's live status page (no login, no personal data)
    GET  /api/v1/kiosk/status            may this screen issue? is the printer ready?
    POST /api/v1/kiosk/tickets           issue + print {service, priority?, priority_group?} → 201
    POST /api/v1/tickets/<id>/reprint    staff, manager, admin, or a device with the issue scope
    GET  /api/v1/printer                 printer health (status, last error, tickets printed):
                                         the caller's printer (`?printer=<id>` another one) and
                                         `printers`, every configured printer's health
    POST /api/v1/printer/simulate        {state, printer?}: admin, simulated printer only

Several printers (`[[printers]]`, see runtime.py): a device token prints on the printer that lists
it; everything else (no token, staff, the GPIO buttons) on the default `[printer]`.
    POST /api/v1/buttons/press           {pin}: admin, mock GPIO pins only (demos): one press

Public issuing (no device token, `[kiosk] public_issuing = true`) is limited per client address
to `[kiosk] rate_limit_per_minute`, on this API and on the hub's `POST /api/v1/tickets`; calls
with a device token or a staff login are never throttled.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    jsonify,
    request,
    send_file,
)

from kiosk.dispenser import Dispensed, TicketDispenser
from kiosk.printers import PrinterStatus, SpoolPrinter
from kiosk.runtime import KioskRuntime, build_runtime
from queue_server import openapi
from queue_server.api import RequestReader, bearer_token, caller
from queue_server.auth import Authenticator
from queue_server.config import Config
from queue_server.core.errors import Forbidden, NotFound, RateLimited, Unauthorized
from queue_server.core.service import QueueService, ticket_json
from queue_server.pages import UNSATISFIED_REASONS, error_page, rating_levels_en, render_page

HERE = Path(__file__).resolve().parent
STATIC_URL = "/assets/kiosk"
SOCKET_IO_JS = HERE.parent / "display" / "static" / "vendor" / "socket.io.min.js"
REFRESH_SECONDS = 1.0
_TICKET_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# The phone page of a QR code whose ticket is unknown: the hub's error page with these words.
TICKET_MISSING = (
    "Không tìm thấy số thứ tự",
    "Mã trên phiếu không đúng hoặc số thứ tự này không còn trong hệ thống. Vui lòng quét lại mã QR "
    "trên phiếu, hoặc hỏi cán bộ hướng dẫn tại Trung tâm.",
    "Ticket not found",
    "Please scan the QR code on your ticket again, or ask a staff member.",
)



def request_base_url() -> str | None:
    """The address the caller used, for the QR code; None for a loopback address (a kiosk browser
    on the hub itself), so that the dispenser keeps the address it took from the socket the hub
    listens on (`KioskRuntime.listening_on`): this machine's LAN address when the hub listens on
    every interface, the loopback address itself when it listens only there. (Guessing the LAN
    address for a hub on 127.0.0.1 printed a QR code no phone could open, and the start-up warning
    named another address than the ticket; found by a new user.)"""
    url = request.host_url.rstrip("/")
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return None if loopback else url


def _dispensed_json(done: Dispensed, service: QueueService) -> dict[str, Any]:
    return {
        **ticket_json(done.ticket, service.rules),
        "waiting_ahead": done.waiting_ahead,
        "est_wait_min": done.est_wait_min,
        "status_url": done.content.status_url,
        "printed": True,
        "printer": {"status": done.printer_status.value, "bytes": done.bytes_written,
                    "warning": done.warnings[0] if done.warnings else None},
    }


SIMULATED_STATES = sorted({s.value for s in PrinterStatus} | {"near_end", "silent"})


def throttle_public(runtime: KioskRuntime) -> None:
    """The per-screen limit on issuing without a device token (one client address, one screen)."""
    key = request.remote_addr or "?"
    if not runtime.limiter.allow(key):
        raise RateLimited(runtime.limiter.retry_after(key))


def create_kiosk_blueprint(runtime: KioskRuntime, service: QueueService,
                           auth: Authenticator) -> Blueprint:
    bp = Blueprint("kiosk", __name__, template_folder=str(HERE / "templates"),
                   static_folder=str(HERE / "static"), static_url_path=STATIC_URL)
    reader = RequestReader()
    simulate_schema = openapi.printer_simulate_schema(SIMULATED_STATES)
    press_schema = openapi.BUTTON_PRESS
    settings = runtime.settings
    rules = service.rules

    def require_admin(action_vi: str, action_en: str) -> None:
        principal = caller(auth, required=True)
        if principal is None or principal.role != "admin":
            raise Forbidden("forbidden", f"Chỉ quản trị viên được {action_vi}.",
                            f"Only an admin may {action_en}.")

    def dispenser_of(principal: Any) -> TicketDispenser:
        """The printer that prints for this caller: a device's own, else the default."""
        device = principal.name if principal is not None and principal.role == "device" else None
        return runtime.dispenser_for(device)

    def chosen_dispenser(principal: Any, printer_id: Any) -> TicketDispenser:
        if printer_id is None:
            return dispenser_of(principal)
        if printer_id not in runtime.dispensers:
            raise NotFound("unknown_printer", f"Không có máy in '{printer_id}'.",
                           f"No printer '{printer_id}' is configured.")
        return runtime.dispensers[printer_id]

    def page(template: str, status: int = 200, **context: Any) -> Response:
        return render_page(template, status, center_name=rules.center_name,
                           center_name_en=rules.center_name_en or rules.center_name,
                           timezone=str(rules.timezone), static=STATIC_URL, **context)

    # ------------------------------------------------------------------ pages
    @bp.get("/kiosk")
    def kiosk_page() -> Response:
        return page("kiosk/kiosk.html", title="Lấy số thứ tự",
                    public_issuing=settings.public_issuing, return_seconds=settings.return_seconds,
                    language=settings.language)

    @bp.get("/t/<ticket_id>")
    def ticket_page(ticket_id: str) -> Response:
        ticket = None
        if _TICKET_ID.match(ticket_id):
            try:
                ticket = service.get_ticket(ticket_id)
            except NotFound:
                ticket = None
        if ticket is None:
            return error_page(404, service.rules.center_name, TICKET_MISSING)
        rules = service.rules  # now: an admin may rename fields and labels while the hub runs
        field = rules.fields.get(ticket.field_id)
        return page("kiosk/ticket.html", title=f"Số thứ tự {ticket.number}", ticket_id=ticket.id,
                    number=ticket.number, service_name=field.name if field else ticket.field_id,
                    levels=list(rules.rating_levels), levels_en=rating_levels_en(rules.rating_levels),
                    reasons=UNSATISFIED_REASONS)

    @bp.get(f"{STATIC_URL}/vendor/socket.io.min.js")
    def socket_io_js() -> Response:
        # The one vendored copy lives with the display pages; served here under the kiosk's path.
        return send_file(SOCKET_IO_JS, mimetype="text/javascript", max_age=86400)

    # -------------------------------------------------------------------- API
    @bp.get("/api/v1/kiosk/status")
    def kiosk_status() -> Response:
        principal = caller(auth, required=False, device=True)
        authorized = (principal is not None and (principal.role != "device" or "issue" in principal.scopes)) \
            or settings.public_issuing
        return jsonify({
            "authorized": authorized,
            "device": principal.name if principal is not None else None,
            "public_issuing": settings.public_issuing,
            "return_seconds": settings.return_seconds,
            "printer": dispenser_of(principal).health().as_dict(),
        })

    @bp.post("/api/v1/kiosk/tickets")
    def kiosk_issue() -> tuple[Response, int]:
        principal = caller(auth, required=False, device=True)
        if principal is None:
            if not settings.public_issuing:
                raise Unauthorized("device_token_required",
                                   "Màn hình này chưa được cấp quyền cấp số. Vui lòng báo cán bộ hướng dẫn.",
                                   "This screen has no device token; issuing needs one.")
            throttle_public(runtime)
        else:
            principal.require("issue")
        data = reader.body(openapi.ISSUE)
        done = dispenser_of(principal).dispense(data["service"], data.get("priority"), data.get("priority_group"),
                                  source=principal.name if principal else "kiosk",
                                  base_url=request_base_url())
        return jsonify(_dispensed_json(done, service)), 201

    @bp.post("/api/v1/tickets/<ticket_id>/reprint")
    def reprint(ticket_id: str) -> Response:
        principal = caller(auth, required=True)
        assert principal is not None
        principal.require("issue")
        reader.body(openapi.EMPTY, required=False)
        # A device reprints on its own printer; staff on the default one or `?printer=<id>`.
        target = dispenser_of(principal) if principal.role == "device" else \
            chosen_dispenser(principal, request.args.get("printer"))
        done = target.reprint(ticket_id, principal.name, base_url=request_base_url())
        return jsonify({**_dispensed_json(done, service), "reprint": True})

    @bp.get("/api/v1/printer")
    def printer_health() -> Response:
        principal = auth.principal(bearer_token())
        staff = principal is not None and principal.role in ("admin", "manager", "staff")
        dispenser = chosen_dispenser(principal, request.args.get("printer"))
        health = dispenser.health()
        if request.args.get("refresh"):
            # Anyone may ask for a fresh reading; the printer hears at most one question a second.
            checked = health.checked_at
            if checked is None or (service.clock.now() - checked).total_seconds() >= REFRESH_SECONDS:
                health = dispenser.check_printer(blocking=False)
        body: dict[str, Any] = {
            **health.as_dict(detail=staff),
            "simulated": isinstance(dispenser.printer, SpoolPrinter),
            "printers": [{**d.health().as_dict(detail=staff),
                          "simulated": isinstance(d.printer, SpoolPrinter),
                          "devices": sorted(k for k, v in runtime.device_printers.items()
                                            if v == printer_id)}
                         for printer_id, d in runtime.dispensers.items()],
        }
        if runtime.buttons is not None:
            body["buttons"] = runtime.buttons.health()
        elif runtime.buttons_error:
            body["buttons"] = {"device": "buttons", "error": runtime.buttons_error}
        return jsonify(body)

    @bp.post("/api/v1/printer/simulate")
    def simulate() -> Response:
        require_admin("giả lập trạng thái máy in", "simulate printer states")
        data = reader.body(simulate_schema)
        target = runtime.dispensers.get(data.get("printer") or "default")
        if target is None:
            raise NotFound("unknown_printer", f"Không có máy in '{data['printer']}'.",
                           f"No printer '{data['printer']}' is configured.")
        if not isinstance(target.printer, SpoolPrinter):
            raise NotFound("not_simulated", "Máy in đang dùng là máy in thật, không giả lập được.",
                           "The configured printer is real; only a simulated printer takes a state.")
        return jsonify(target.simulate(data["state"]).as_dict(detail=True))

    @bp.post("/api/v1/buttons/press")
    def press_button() -> Response:
        require_admin("giả lập nút bấm", "simulate button presses")
        buttons = runtime.buttons
        if buttons is None or not buttons.simulated:
            raise NotFound("not_simulated", "Không có nút bấm giả lập (pin_factory = \"mock\").",
                           'No simulated GPIO buttons (pin_factory = "mock").')
        data = reader.body(press_schema)
        if not buttons.simulate_press(data["pin"]):
            raise NotFound("unknown_button", f"Không có nút bấm ở chân {data['pin']}.",
                           f"No button is configured on pin {data['pin']}.")
        buttons.wait_idle(timeout=runtime.dispenser.lock_timeout)
        return jsonify(buttons.health())

    return bp


def install_kiosk(app: Flask, service: QueueService, auth: Authenticator, config: Config,
                  data_dir: Path, publish: Any) -> KioskRuntime:
    """Build the kiosk runtime from the config, register its blueprint and the public issuing
    limit; the caller closes the returned runtime. Raises ConfigError for a bad [kiosk],
    [printer] or [gpio] section."""
    runtime = build_runtime(config, data_dir, publish, service)
    try:
        app.register_blueprint(create_kiosk_blueprint(runtime, service, auth))
    except BaseException:
        runtime.close()
        raise

    app.extensions["openapi_paths"] = openapi.kiosk_paths(SIMULATED_STATES)

    @app.before_request
    def _limit_public_api_issuing() -> Any:
        # The hub's own POST /api/v1/tickets takes public tickets too when public issuing is on:
        # the same per-screen limit applies there (a bearer token, valid or not, is the API's
        # business).
        if (request.method == "POST" and request.path == "/api/v1/tickets"
                and runtime.settings.public_issuing and bearer_token() is None):
            throttle_public(runtime)  # a refusal is answered by the app's QueueError handler
        return None

    return runtime
