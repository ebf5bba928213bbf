from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kiosk.fake_printer import FakePrinter
from kiosk.ticket import TicketContent

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
def make_ticket() -> Callable[..., TicketContent]:
    """A realistic commune-center ticket; override any field by keyword."""

    def make(**overrides: Any) -> TicketContent:
        fields: dict[str, Any] = {
            "center_name": "Trung tâm Phục vụ hành chính công xã Kim Thành",
            "field_name": "Đăng ký kinh doanh",
            "number": "1023",
            "waiting_ahead": 12,
            "est_wait_min": 25,
            "issued_at": datetime(2025, 11, 24, 14, 5, tzinfo=HCM),
            "status_url": "http://192.168.1.10:8080/t/3f2a9c1e-7b4d-4e8a-9f10-2b6c8d4e5a71",
        }
        fields.update(overrides)
        return TicketContent(**fields)

    return make


@pytest.fixture
def ticket(make_ticket: Callable[..., TicketContent]) -> TicketContent:
    return make_ticket()


@pytest.fixture
def fake_printer() -> Iterator[FakePrinter]:
    with FakePrinter() as fake:
        yield fake
