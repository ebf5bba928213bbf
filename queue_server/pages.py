"""What every browser page of the hub shares: one same-origin Content-Security-Policy, the
security headers, the preset reasons an unsatisfied citizen may pick (counter-side rating
screen and phone page alike), and the error page a browser gets instead of JSON (`wants_html`,
`error_page`; API clients keep the JSON error)."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Only this origin: scripts, styles, sounds, the Socket.IO connection. No inline script, nothing
# from the internet: a page that tried would already fail in development.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self' blob:; connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

UNSATISFIED_REASONS = (
    ("Thời gian chờ quá lâu", "Waited too long"),
    ("Thái độ phục vụ chưa tốt", "Unfriendly service"),
    ("Hướng dẫn chưa rõ ràng", "Unclear guidance"),
    ("Thủ tục, giấy tờ phức tạp", "Complicated paperwork"),
)

# English for the rating labels SPEC §6 names (the default levels and the variants other
# provinces print); a label not listed here is shown as configured in English mode too.
RATING_LABELS_EN = {
    "Rất hài lòng": "Very satisfied", "Hài lòng": "Satisfied", "Chưa hài lòng": "Not satisfied",
    "Không hài lòng": "Dissatisfied", "Rất không hài lòng": "Very dissatisfied",
    "Bình thường": "Neutral",
}


def rating_levels_en(levels: list[str] | tuple[str, ...]) -> list[str]:
    """The English label of each configured rating level (RATING_LABELS_EN), in order; a label
    without an English form is kept as it is."""
    return [RATING_LABELS_EN.get(label.strip(), label) for label in levels]


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    """`template` rendered with `context`, sent with CSP and the security headers."""
    response = make_response(render_template(template, **context), status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # ?token=… and ticket ids never leak
    return response


# What a browser reads for each HTTP status: (title vi, text vi, title en, text en).
ERROR_PAGES: dict[int, tuple[str, str, str, str]] = {
    400: ("Yêu cầu không hợp lệ", "Trình duyệt đã gửi một yêu cầu mà hệ thống không hiểu. Vui lòng quay lại và thử lại.",
          "Bad request", "The browser sent a request the system does not understand. Please go back and try again."),
    401: ("Cần đăng nhập", "Vui lòng đăng nhập để xem trang này.",
          "Login required", "Please log in to see this page."),
    403: ("Không được phép", "Tài khoản hoặc thiết bị này không được phép xem trang này.",
          "Not allowed", "This account or device may not see this page."),
    404: ("Không tìm thấy trang", "Địa chỉ này không có trong hệ thống. Vui lòng kiểm tra lại đường dẫn, hoặc quay về trang chủ.",
          "Page not found", "There is no such page. Please check the address, or go back to the start page."),
    405: ("Thao tác không được hỗ trợ", "Trang này không nhận thao tác vừa gửi.",
          "Method not allowed", "This page does not accept that kind of request."),
    413: ("Dữ liệu quá lớn", "Dữ liệu gửi lên vượt quá giới hạn cho phép.",
          "Request too large", "The data sent is larger than allowed."),
    414: ("Địa chỉ quá dài", "Đường dẫn vượt quá độ dài cho phép.",
          "Address too long", "The address is longer than allowed."),
    429: ("Quá nhiều yêu cầu", "Vui lòng chờ một lát rồi thử lại.",
          "Too many requests", "Please wait a moment and try again."),
    500: ("Hệ thống gặp lỗi", "Hệ thống gặp lỗi ngoài dự kiến, lỗi đã được ghi lại. Vui lòng thử lại sau giây lát hoặc báo cán bộ hướng dẫn.",
          "Something went wrong", "An unexpected error occurred and was logged. Please try again in a moment or ask a staff member."),
    501: ("Trang chưa sẵn sàng", "Chức năng này chưa được xây dựng.",
          "Not available yet", "This part of the system has not been built yet."),
    503: ("Tạm thời gián đoạn", "Hệ thống tạm thời chưa phục vụ được. Vui lòng thử lại sau.",
          "Temporarily unavailable", "The system cannot serve this right now. Please try again later."),
}


def wants_html() -> bool:
    """Content negotiation for errors: True for a browser asking for a page (Accept prefers
    text/html), False for the API (/api/…, /healthz, /socket.io), for `Accept: application/json`
    and for clients that accept anything (`*/*`: curl, requests), which keep the JSON answer."""
    path = request.path
    if path.startswith(("/api/", "/socket.io")) or path == "/healthz":
        return False
    accept = request.accept_mimetypes
    return accept.best_match(["application/json", "text/html"]) == "text/html" \
        and accept.quality("text/html") > accept.quality("application/json")


def error_page(status: int, center_name: str, wording: tuple[str, str, str, str] | None = None,
               headers: Any = None) -> Response:
    """The HTML error page for `status` (ERROR_PAGES wording unless `wording` is given), with the
    same security headers as every page; `headers` (e.g. Allow) are added."""
    title_vi, text_vi, title_en, text_en = wording or ERROR_PAGES.get(
        status, ERROR_PAGES[500 if status >= 500 else 400])
    response = render_page("errors/error.html", status, center_name=center_name, code=status,
                           title_vi=title_vi, text_vi=text_vi, title_en=title_en, text_en=text_en)
    for name, value in headers or ():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


# The Vietnamese reason of each HTTP-level refusal (routing, method, size); English is werkzeug's.
HTTP_MESSAGES_VI = {
    400: "Yêu cầu không hợp lệ.", 401: "Vui lòng đăng nhập.", 403: "Không được phép.",
    404: "Không tìm thấy.", 405: "Phương thức không được hỗ trợ.",
    406: "Không có định dạng trả lời phù hợp.", 408: "Yêu cầu quá thời gian chờ.",
    411: "Thiếu độ dài dữ liệu (Content-Length).", 413: "Dữ liệu gửi lên quá lớn.",
    414: "Địa chỉ quá dài.", 415: "Định dạng dữ liệu không được hỗ trợ.",
    429: "Quá nhiều yêu cầu. Vui lòng thử lại sau.", 431: "Tiêu đề yêu cầu quá lớn.",
    501: "Chức năng chưa được hỗ trợ.", 503: "Dịch vụ tạm thời gián đoạn.",
}


def http_error_response(exc: HTTPException, center_name: str) -> Any:
    """The answer to a werkzeug HTTPException (unknown path, wrong method, body too large…):
    the error page for a browser (wants_html), else {"error": {code, message, message_en}}.
    The exception's headers (a 405's Allow) are kept; nothing from the request is echoed."""
    if exc.code is None:
        return exc
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    if wants_html():
        try:
            return error_page(exc.code, center_name, headers=headers)
        except Exception:  # the page itself failed: the JSON answer below still goes out
            log.exception("error page failed")
    vi = HTTP_MESSAGES_VI.get(exc.code, "Yêu cầu không hợp lệ." if exc.code < 500
                              else "Hệ thống gặp lỗi ngoài dự kiến. Vui lòng thử lại.")
    code = re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower()).strip("_")
    response = jsonify({"error": {"code": code, "message": vi,
                                  "message_en": exc.description or exc.name}})
    response.headers.extend(headers)
    response.status_code = exc.code
    return response


def unexpected_error_response(center_name: str) -> Response:
    """The 500 answer to an unhandled exception (already logged by the caller): a page for a
    browser, JSON otherwise; never a stack trace."""
    if wants_html():
        try:
            return error_page(500, center_name)
        except Exception:  # the page itself failed: the JSON answer below still goes out
            log.exception("error page failed")
    response = jsonify({"error": {"code": "internal_error",
                                  "message": "Hệ thống gặp lỗi ngoài dự kiến. Vui lòng thử lại.",
                                  "message_en": "Unexpected error; it has been logged."}})
    response.status_code = 500
    return response
