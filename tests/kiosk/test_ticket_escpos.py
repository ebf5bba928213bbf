"""The spooled ESC/POS bytes, decoded independently, must be exactly the PNG preview."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from kiosk_escpos_parser import Decoded, decode
from PIL import Image, ImageChops, ImageOps

from kiosk.escpos_ticket import TICKET_BYTE_BUDGET, ticket_bytes
from kiosk.printers import SpoolPrinter
from kiosk.ticket import TicketContent
from kiosk.ticket_image import render_preview

VARIANTS = {
    "plain": {},
    "priority": {"priority": True, "number": "A023"},
    "no-estimate": {"est_wait_min": None, "waiting_ahead": 0},
    "long-center": {
        "center_name": "Trung tâm Phục vụ hành chính công tỉnh Hải Dương – Bộ phận tiếp nhận "
        "và trả kết quả giải quyết thủ tục hành chính",
        "field_name": "Bảo trợ xã hội và giảm nghèo",
    },
}


def _spool(tmp_path: Path, content: TicketContent, width: int) -> tuple[bytes, Image.Image]:
    with SpoolPrinter(tmp_path / "printer-spool", width=width) as printer:
        written = printer.print_ticket(content)
        job = printer.last_job
    assert job is not None
    data = job.bin_path.read_bytes()
    assert written == len(data)
    assert job.png_path.with_suffix(".bin") == job.bin_path
    assert job.bin_path.name.startswith(f"{content.number}-")
    png = Image.open(job.png_path)
    png.load()
    return data, png.convert("1")


@pytest.mark.parametrize("width", [576, 384])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_spool_bin_decodes_to_png(
    tmp_path: Path, make_ticket: Callable[..., TicketContent], width: int, variant: str
) -> None:
    content = make_ticket(**VARIANTS[variant])
    data, png = _spool(tmp_path, content, width)
    assert data == ticket_bytes(content, width)

    doc: Decoded = decode(data, width)
    assert doc.initialised and doc.cut == "feed+partial"
    assert png.size == (width, doc.height)

    # Every raster block sits, bit for bit, where the printer will put it.
    assert len(doc.rasters) >= 6
    covered = Image.new("1", png.size, 0)
    for r in doc.rasters:
        assert r.mode == 0 and r.width <= width and 0 <= r.x
        assert r.x == (width - r.width) // 2, "centred by ESC a 1"
        region = png.crop((r.x, r.y, r.x + r.width, r.y + r.height))
        diff = ImageChops.difference(region.convert("L"), r.image().convert("L"))
        assert diff.getbbox() is None, f"raster at y={r.y} differs from the preview"
        covered.paste(1, (r.x, r.y, r.x + r.width, r.y + r.height))

    # The number: printer font, magnified, ASCII only; the preview draws it in that box.
    (number,) = doc.texts
    assert number.text == content.number
    assert number.mag_w == number.mag_h >= 6 and number.bold
    w, h = number.size
    assert w <= width
    box = (number.x, number.y, number.x + w, number.y + h)
    assert png.crop(box).convert("L").point(lambda v: 255 - v).getbbox() is not None
    covered.paste(1, box)

    # The QR: the printer's own command, carrying the status URL.
    (qr,) = doc.qrs
    assert qr.data == content.status_url.encode()
    assert qr.model == 50 and qr.ec == 49  # model 2, level M
    assert 4 * qr.module <= min(qr.y, doc.height - qr.y - qr.side), "quiet zone above/below"
    box = (qr.x, qr.y, qr.x + qr.side, qr.y + qr.side)
    assert png.crop(box).getpixel((0, 0)) == 0, "finder pattern corner is dark"
    covered.paste(1, box)

    # Nothing is drawn in the preview that the printer would not print.
    ink = png.convert("L").point(lambda v: 255 if v == 0 else 0)
    outside = ImageChops.multiply(ink, covered.convert("L").point(lambda v: 0 if v else 255))
    assert outside.getbbox() is None


def test_preview_matches_render_preview(tmp_path: Path, ticket: TicketContent) -> None:
    _, png = _spool(tmp_path, ticket, 576)
    direct = render_preview(ticket, 576)
    assert ImageChops.difference(png.convert("L"), direct.convert("L")).getbbox() is None


def test_vietnamese_text_is_never_sent_as_text(ticket: TicketContent) -> None:
    data = ticket_bytes(ticket)
    # No code-page text path: the only printable text outside images is the number + URL.
    doc = decode(data, 576)
    assert [t.text for t in doc.texts] == [ticket.number]
    for word in ("Số người", "Đăng ký", "Vui lòng"):
        for encoding in ("utf-8", "cp1258"):
            assert word.encode(encoding, errors="ignore") not in data


def test_byte_budget_realistic_ticket(make_ticket: Callable[..., TicketContent]) -> None:
    content = make_ticket(priority=True)
    sizes = {w: len(ticket_bytes(content, w)) for w in (576, 384)}
    print(f"\nticket bytes: 80 mm = {sizes[576]}, 58 mm = {sizes[384]}")
    assert sizes[576] <= TICKET_BYTE_BUDGET
    assert sizes[384] < sizes[576]


def test_no_estimate_omits_the_line(make_ticket: Callable[..., TicketContent]) -> None:
    with_estimate = decode(ticket_bytes(make_ticket()), 576)
    without = decode(ticket_bytes(make_ticket(est_wait_min=None)), 576)
    assert len(without.rasters) == len(with_estimate.rasters) - 1


def _profiles_without_native_qr() -> list[tuple[str, int]]:
    """From python-escpos's capability database, not a list of our own: (profile, paper width)
    for every raster-capable profile without native QR, at each of our widths it can print."""
    from escpos.capabilities import CAPABILITIES

    cases = []
    for name, data in CAPABILITIES["profiles"].items():
        features = data.get("features", {})
        pixels = data.get("media", {}).get("width", {}).get("pixels")
        if features.get("qrCode", False) or not features.get("bitImageRaster", False):
            continue
        if isinstance(pixels, int):
            cases += [(name, w) for w in (384, 576) if w <= pixels]
    assert ("POS-5890", 384) in cases and ("TH230", 576) in cases
    return sorted(cases)


@pytest.mark.parametrize(("profile", "width"), _profiles_without_native_qr())
@pytest.mark.parametrize("variant", ["plain", "long-center"])
def test_a_printer_without_native_qr_gets_the_qr_as_raster(
    tmp_path: Path, make_ticket: Callable[..., TicketContent], profile: str, width: int,
    variant: str
) -> None:
    import qrcode
    import qrcode.constants

    content = make_ticket(priority=True, **VARIANTS[variant])
    with SpoolPrinter(tmp_path / "printer-spool", width=width, profile=profile) as printer:
        printer.print_ticket(content)
        job = printer.last_job
    assert job is not None
    data = job.bin_path.read_bytes()
    assert b"\x1d(k" not in data, "no GS ( k: the printer would ignore it"
    native = len(ticket_bytes(content, width))  # the same ticket on a printer with GS ( k
    print(f"\n{profile} {width} {variant}: {len(data)} bytes (native QR: {native})")
    assert len(data) - native <= {384: 3700, 576: 1400}[width], "what the raster QR costs"
    if variant == "plain":
        assert len(data) <= TICKET_BYTE_BUDGET
    doc = decode(data, width)
    assert doc.qrs == []
    png = Image.open(job.png_path).convert("1")
    assert png.size == (width, doc.height)

    # The symbol, independently: qrcode's matrix for the status URL (model 2, level M), no border.
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    qr.add_data(content.status_url)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    n = len(matrix)
    candidates = [r for r in doc.rasters if r.height % n == 0 and r.height // n >= 3
                  and r.width >= r.height and r.width - r.height < 16]
    assert len(candidates) == 1, [(r.width, r.height) for r in doc.rasters]
    (symbol,) = candidates
    module = symbol.height // n
    assert module == {384: 5, 576: 6}[width], "the module size of the native QR"
    assert symbol.mode == (3 if width == 576 else 0), "80 mm: half the dots, printed 2 x 2"
    img = symbol.image()  # as printed
    left, top, right, bottom = ImageOps.invert(img.convert("L")).getbbox()
    assert (top, bottom, right - left) == (0, symbol.height, symbol.height), "square, no border"
    ink = [[img.getpixel((left + c * module + module // 2, r * module + module // 2)) == 0
            for c in range(n)] for r in range(n)]
    assert ink == matrix, "every module of the printed raster is the QR of the status URL"
    # Quiet zone of 4 modules above and below (centring gives the sides); the preview draws the
    # same symbol at the same place (quadruple density moves in steps of 2 dots: within 1 dot).
    assert 4 * module <= symbol.y and 4 * module <= doc.height - symbol.y - symbol.height
    preview_left = (width - symbol.height) // 2
    assert abs(symbol.x + left - preview_left) <= (1 if symbol.mode else 0)
    shown = png.crop((preview_left, symbol.y, preview_left + symbol.height,
                      symbol.y + symbol.height))
    printed = img.crop((left, 0, right, symbol.height))
    assert ImageChops.difference(shown.convert("L"), printed.convert("L")).getbbox() is None


def test_a_profile_narrower_than_the_paper_is_a_config_error(tmp_path: Path) -> None:
    from kiosk.printers import printer_from_config

    with pytest.raises(ValueError, match="'width' is 576 dots, wider than the 384 dots"):
        printer_from_config({"profile": "POS-5890"}, tmp_path)
    assert printer_from_config({"profile": "POS-5890", "width": 384}, tmp_path).width == 384
