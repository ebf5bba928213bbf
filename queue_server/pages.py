"""What every browser page of the hub shares: one same-origin Content-Security-Policy, the
security headers, and the preset reasons an unsatisfied citizen may pick (counter-side rating
screen and phone page alike)."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template

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


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # ?token=… and ticket ids never leak
    return response
