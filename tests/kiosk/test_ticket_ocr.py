"""OCR round trip: Tesseract (Debian: tesseract-ocr, tesseract-ocr-vie) reads the preview back."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kiosk.ticket import TicketContent
from kiosk.ticket_image import render_preview


def _tesseract_with_vietnamese() -> bool:
    if shutil.which("tesseract") is None:
        return False
    langs = subprocess.run(
        ["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30
    )
    return "vie" in (langs.stdout + langs.stderr).split()


pytestmark = pytest.mark.skipif(
    not _tesseract_with_vietnamese(),
    reason="needs Debian packages tesseract-ocr and tesseract-ocr-vie",
)


@pytest.mark.parametrize("width", [576, 384])
def test_ocr_reads_the_vietnamese_lines(
    tmp_path: Path, make_ticket: Callable[..., TicketContent], width: int
) -> None:
    content = make_ticket(priority=True)
    png = tmp_path / "ticket.png"
    render_preview(content, width).save(png)
    result = subprocess.run(
        ["tesseract", str(png), "stdout", "-l", "vie", "--psm", "6"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = " ".join(result.stdout.split())
    for expected in (
        content.waiting_line(),
        content.field_name,
        content.footer,
        "ƯU TIÊN",
        "Ngày giờ lấy số: 24/11/2025 14:05",
    ):
        assert expected in text, f"{expected!r} not read back from {text!r}"
