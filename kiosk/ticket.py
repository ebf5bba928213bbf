"""What goes on a printed ticket, independent of how it is rendered or sent.

Both the raster preview (ticket_image) and the ESC/POS stream (escpos_ticket) read the
printed sentences from here, so the paper and the PNG can never disagree on wording.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

DEFAULT_FOOTER = "Vui lòng chờ gọi số"
PRIORITY_MARK = "ƯU TIÊN"

# The number is printed with the printer's own font (no Vietnamese code page needed),
# so it must stay plain ASCII letters and digits.
_NUMBER_RE = re.compile(r"[A-Za-z0-9]{1,8}")


def _nfc(text: str) -> str:
    """Compose combining marks: fonts and QR payloads expect precomposed Vietnamese."""
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True, slots=True)
class TicketContent:
    """One ticket's data; validated and NFC-normalised once, at construction."""

    center_name: str
    field_name: str
    number: str
    waiting_ahead: int
    est_wait_min: int | None
    issued_at: datetime
    status_url: str
    priority: bool = False
    footer: str = DEFAULT_FOOTER

    def __post_init__(self) -> None:
        for name in ("center_name", "field_name", "number", "status_url", "footer"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {type(value).__name__}")
            object.__setattr__(self, name, _nfc(value.strip()))
        if not self.center_name:
            raise ValueError("center_name must not be empty")
        if not self.field_name:
            raise ValueError("field_name must not be empty")
        if not _NUMBER_RE.fullmatch(self.number):
            raise ValueError(
                f"number must be 1-8 ASCII letters/digits (e.g. '1023', 'A023'), "
                f"got {self.number!r}"
            )
        if isinstance(self.waiting_ahead, bool) or not isinstance(self.waiting_ahead, int):
            raise TypeError("waiting_ahead must be an int")
        if self.waiting_ahead < 0:
            raise ValueError("waiting_ahead must be >= 0")
        if self.est_wait_min is not None:
            if isinstance(self.est_wait_min, bool) or not isinstance(self.est_wait_min, int):
                raise TypeError("est_wait_min must be an int or None")
            if self.est_wait_min < 0:
                raise ValueError("est_wait_min must be >= 0 or None")
        if not isinstance(self.issued_at, datetime) or self.issued_at.utcoffset() is None:
            raise ValueError("issued_at must be a timezone-aware datetime (local time)")
        if not self.status_url:
            raise ValueError("status_url must not be empty")

    # The sentences below are the ticket's wording; renderers never build their own.

    def waiting_line(self) -> str:
        """People ahead in this field's queue."""
        return f"Số người đang chờ trước bạn: {self.waiting_ahead}"

    def wait_line(self) -> str | None:
        """Estimated wait, or None when the server has no estimate (line is omitted)."""
        if self.est_wait_min is None:
            return None
        if self.est_wait_min == 0:
            return "Thời gian chờ dự kiến: dưới 1 phút"
        return f"Thời gian chờ dự kiến: khoảng {self.est_wait_min} phút"

    def issued_line(self) -> str:
        """Issue time as Vietnamese readers write it (dd/mm/yyyy HH:MM), in its own zone."""
        return f"Ngày giờ lấy số: {self.issued_at:%d/%m/%Y %H:%M}"
