"""One exception tree for everything the queue refuses, with a bilingual reason.

Each error carries a stable machine `code`, a Vietnamese message (what people read first) and an
English one. The HTTP layer maps the *kind* (the subclass) to a status code; the core knows nothing
of HTTP.
"""

from __future__ import annotations

import math


class QueueError(Exception):
    """Base of every refusal. `code` is stable; messages are for people."""

    def __init__(self, code: str, message_vi: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_vi = message_vi
        self.message_en = message_en

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message_vi, "message_en": self.message_en}


class InvalidRequest(QueueError, ValueError):
    """The request itself is wrong (unknown service, bad outcome, out-of-range value)."""


class NotFound(QueueError, LookupError):
    """The ticket, counter or service does not exist."""


class Conflict(QueueError):
    """The request is well-formed but the queue's state does not allow it now."""


class IssuingClosed(Conflict):
    """Outside working hours, past the cut-off, or the day's cap is reached."""


class Forbidden(QueueError, PermissionError):
    """The caller may not act here (e.g. staff on another counter)."""


class Unauthorized(QueueError, PermissionError):
    """No valid credentials."""


class RateLimited(QueueError):
    """Too many tickets from one screen or button in a short time; `retry_after` in seconds."""

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__("rate_limited",
                         f"Màn hình này vừa cấp nhiều số liên tiếp. Vui lòng chờ {seconds} giây rồi thử lại.",
                         f"Too many tickets from this screen; try again in {seconds} s.")
        self.retry_after = seconds


class Unavailable(QueueError):
    """A device the request depends on (e.g. the printer) cannot serve it now."""
