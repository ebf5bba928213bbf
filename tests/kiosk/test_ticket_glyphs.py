"""Every Vietnamese letter must come out of DejaVu Sans as itself, never as tofu."""

from __future__ import annotations

import unicodedata

import pytest
from PIL import Image, ImageDraw, ImageFont

from kiosk.ticket_image import load_font, render_text

BASE_VOWELS = "a ă â e ê i o ô ơ u ư y".split()
# huyền, sắc, hỏi, ngã, nặng
TONES = ["\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]


def vietnamese_letters() -> list[str]:
    """All precomposed letters: 12 vowels x 6 tones + đ, in both cases (146)."""
    lower = []
    for vowel in BASE_VOWELS:
        lower.append(vowel)
        for tone in TONES:
            letter = unicodedata.normalize("NFC", vowel + tone)
            assert len(letter) == 1, f"{vowel}+tone has no precomposed form"
            lower.append(letter)
    lower.append("đ")
    letters = lower + [c.upper() for c in lower]
    assert len(set(letters)) == 146
    return letters


LETTERS = vietnamese_letters()
NOTDEF = "\ue000"  # private use: DejaVu has no glyph, so this draws .notdef


def glyph(font: ImageFont.FreeTypeFont, text: str) -> bytes:
    img = Image.new("L", (96, 96), 0)
    ImageDraw.Draw(img).text((16, 16), text, font=font, fill=255)
    return img.tobytes()


@pytest.mark.parametrize("bold", [False, True], ids=["regular", "bold"])
@pytest.mark.parametrize("size", [20, 24, 40])
def test_every_vietnamese_letter_has_a_glyph(bold: bool, size: int) -> None:
    font = load_font(size, bold=bold)
    tofu = glyph(font, NOTDEF)
    assert any(tofu), ".notdef should draw a visible box"
    missing = [c for c in LETTERS if glyph(font, c) == tofu or not any(glyph(font, c))]
    assert not missing, f"no glyph for {''.join(missing)}"
    # Each toned letter differs from its bare vowel: the tone mark is really drawn.
    for vowel in BASE_VOWELS:
        for case in (str.lower, str.upper):
            bare = glyph(font, case(vowel))
            for tone in TONES:
                toned = case(unicodedata.normalize("NFC", vowel + tone))
                assert glyph(font, toned) != bare, f"{toned} looks like {case(vowel)}"
    # Distinct letters render distinctly (no silent fallback to one shape).
    assert len({glyph(font, c) for c in LETTERS}) == len(LETTERS)


def test_decomposed_input_renders_like_precomposed() -> None:
    from datetime import UTC, datetime

    from kiosk.ticket import TicketContent

    decomposed = unicodedata.normalize("NFD", "Hộ tịch")
    content = TicketContent(
        center_name="UBND xã",
        field_name=decomposed,
        number="1",
        waiting_ahead=0,
        est_wait_min=None,
        issued_at=datetime.now(UTC),
        status_url="http://x/t/1",
    )
    assert content.field_name == "Hộ tịch" and len(content.field_name) == 7
    a = render_text(content.field_name, 40, 500, bold=True)
    b = render_text("Hộ tịch", 40, 500, bold=True)
    assert a.tobytes() == b.tobytes()
