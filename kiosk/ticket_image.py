"""Pillow rendering of the ticket: 1-bit text blocks and a whole-ticket preview.

Most receipt printers have no Vietnamese code page, so every line with diacritics is
drawn here with DejaVu Sans and sent as a raster image. Each block is cropped to its
ink (width rounded up to a whole byte) because raster bytes cost serial-line time.

`ticket_layout` is the single description of a ticket: escpos_ticket turns it into
printer commands and `render_preview` into a PNG, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, TypeAlias

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont, ImageOps

from kiosk.ticket import PRIORITY_MARK, TicketContent

PAPER_80MM: Final = 576  # dots at 203 dpi
PAPER_58MM: Final = 384
PAPER_WIDTHS: Final = (PAPER_80MM, PAPER_58MM)

# Mode "1" pixel values: 0 is black (ink), 1/255 is white (paper).
INK: Final = 0
PAPER: Final = 1

# Font A of Epson-compatible 203 dpi printers; GS ! multiplies this cell.
PRINTER_FONT_CELL: Final = (12, 24)
MAX_MAGNIFICATION: Final = 8

FONT_DIRS: Final = (
    Path(os.environ.get("QUAYSO_FONT_DIR", "/usr/share/fonts/truetype/dejavu")),
    Path("/usr/share/fonts/truetype/dejavu"),
    Path(__file__).resolve().parent / "fonts",
)
_FONT_FILES: Final = {
    (False, False): "DejaVuSans.ttf",
    (True, False): "DejaVuSans-Bold.ttf",
    (False, True): "DejaVuSansMono.ttf",
    (True, True): "DejaVuSansMono-Bold.ttf",
}

QrErrorLevel: TypeAlias = Literal["L", "M", "Q", "H"]
_QR_EC: Final = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


class FontNotFoundError(FileNotFoundError):
    """The Vietnamese-capable TTF is missing: printing must stop, not print tofu."""


@functools.cache
def font_path(bold: bool = False, mono: bool = False) -> Path:
    """Locate a DejaVu face by path; fonts-dejavu-core ships all four we use."""
    name = _FONT_FILES[(bold, mono)]
    for directory in FONT_DIRS:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(d) for d in dict.fromkeys(FONT_DIRS))
    raise FontNotFoundError(
        f"Font {name} not found (searched {searched}). Install the Debian package "
        f"'fonts-dejavu-core' (scripts/setup-system.sh does) or set QUAYSO_FONT_DIR."
    )


@functools.lru_cache(maxsize=64)
def load_font(size: int, bold: bool = False, mono: bool = False) -> ImageFont.FreeTypeFont:
    """Cached FreeType font; sizes are in printer dots."""
    return ImageFont.truetype(str(font_path(bold, mono)), size)


def _check_width(width: int) -> None:
    if width not in PAPER_WIDTHS:
        raise ValueError(f"paper width must be one of {PAPER_WIDTHS} dots, got {width}")


@dataclass(frozen=True, slots=True)
class TicketStyle:
    """Type sizes and spacing (dots) for one paper width."""

    width: int
    margin: int  # left/right clearance text never enters
    center_size: int
    field_size: int
    priority_size: int
    body_size: int
    footer_size: int
    gap: int  # between ordinary lines
    section_gap: int  # between groups
    qr_module: int

    @property
    def text_width(self) -> int:
        return self.width - 2 * self.margin


def style_for(width: int) -> TicketStyle:
    """58 mm paper keeps body text at 20 dots (~2.5 mm) so it stays readable."""
    _check_width(width)
    if width == PAPER_80MM:
        return TicketStyle(width, 16, 24, 40, 30, 26, 26, 6, 16, 6)
    return TicketStyle(width, 8, 20, 32, 26, 20, 20, 5, 12, 5)


# --- text blocks --------------------------------------------------------------------


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Greedy word wrap by rendered width (textwrap counts characters, not dots)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
        # A single word wider than the paper is split by characters as a last resort.
        while font.getlength(current) > max_width and len(current) > 1:
            cut = len(current)
            while cut > 1 and font.getlength(current[:cut]) > max_width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    if current:
        lines.append(current)
    return lines or [""]


def _wrap_balanced(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Same line count as greedy wrapping, but lines as even as possible.

    Even lines look deliberate ("... công / xã Kim Thành", not a lone last word) and make
    the widest line, hence the raster width and its bytes, as small as it can be.
    """
    lines = _wrap(text, font, max_width)
    if len(lines) < 2:
        return lines
    label, sep, value = text.partition(": ")
    if sep:  # "Label: value" reads best broken right after the colon
        split = _wrap_balanced(label + ":", font, max_width) + _wrap_balanced(
            value, font, max_width
        )
        if len(split) <= len(lines):
            return split
    lo, hi = 1, max_width
    while lo < hi:  # smallest width that still needs no more lines
        mid = (lo + hi) // 2
        if len(_wrap(text, font, mid)) <= len(lines):
            hi = mid
        else:
            lo = mid + 1
    return _wrap(text, font, lo)


def crop_to_ink(img: Image.Image) -> Image.Image:
    """Trim white borders; widen to a multiple of 8 dots, centred, for GS v 0 bytes."""
    bbox = ImageOps.invert(img.convert("L")).getbbox()
    if bbox is None:
        return Image.new("1", (8, 1), PAPER)
    x0, y0, x1, y1 = bbox
    ink_w = x1 - x0
    w8 = (ink_w + 7) // 8 * 8
    out = Image.new("1", (w8, y1 - y0), PAPER)
    out.paste(img.crop(bbox), ((w8 - ink_w) // 2, 0))
    return out


def render_text(
    text: str,
    size: int,
    max_width: int,
    *,
    bold: bool = False,
    line_spacing: int = 4,
) -> Image.Image:
    """One centred, wrapped text block as a tight 1-bit image (black ink on white)."""
    font = load_font(size, bold=bold)
    body = "\n".join(_wrap_balanced(text, font, max_width))
    probe = ImageDraw.Draw(Image.new("1", (1, 1), PAPER))
    left, top, right, bottom = probe.multiline_textbbox(
        (0, 0), body, font=font, align="center", spacing=line_spacing
    )
    canvas_size = (math.ceil(right - left) + 16, math.ceil(bottom - top) + 8)
    canvas = Image.new("1", canvas_size, PAPER)
    draw = ImageDraw.Draw(canvas)
    draw.fontmode = "1"  # no anti-aliasing: thermal dots are on or off
    draw.multiline_text(
        (canvas.width // 2, 4 - top),
        body,
        font=font,
        fill=INK,
        anchor="ma",
        align="center",
        spacing=line_spacing,
    )
    return crop_to_ink(canvas)


def render_inverse_label(text: str, size: int, pad: int = 6) -> Image.Image:
    """White text in a black box, for the priority marker (same bytes as plain text)."""
    plain = render_text(text, size, 10_000, bold=True)
    inverted = ImageOps.invert(plain.convert("L")).convert("1")
    boxed = ImageOps.expand(inverted, border=pad, fill=INK)
    w8 = (boxed.width + 7) // 8 * 8
    out = Image.new("1", (w8, boxed.height), INK)
    out.paste(boxed, ((w8 - boxed.width) // 2, 0))
    return out


def render_center_name(content: TicketContent, width: int = PAPER_80MM) -> Image.Image:
    """The center's name, bold, wrapped: commune names are often longer than a line."""
    s = style_for(width)
    return render_text(content.center_name, s.center_size, s.text_width, bold=True)


def render_field_name(content: TicketContent, width: int = PAPER_80MM) -> Image.Image:
    """The field (lĩnh vực), large and bold: it tells the citizen which queue they are in."""
    s = style_for(width)
    return render_text(content.field_name, s.field_size, s.text_width, bold=True)


def render_priority(content: TicketContent, width: int = PAPER_80MM) -> Image.Image | None:
    """The "ƯU TIÊN" marker for priority tickets, or None."""
    if not content.priority:
        return None
    return render_inverse_label(PRIORITY_MARK, style_for(width).priority_size)


def render_waiting(content: TicketContent, width: int = PAPER_80MM) -> Image.Image:
    """ "Số người đang chờ trước bạn: N"."""
    s = style_for(width)
    return render_text(content.waiting_line(), s.body_size, s.text_width)


def render_wait_estimate(content: TicketContent, width: int = PAPER_80MM) -> Image.Image | None:
    """Estimated wait, or None when there is no estimate."""
    line = content.wait_line()
    if line is None:
        return None
    s = style_for(width)
    return render_text(line, s.body_size, s.text_width)


def render_issued(content: TicketContent, width: int = PAPER_80MM) -> Image.Image:
    """Issue date and time; rastered because "Ngày giờ lấy số" has diacritics."""
    s = style_for(width)
    return render_text(content.issued_line(), s.body_size, s.text_width)


def render_footer(content: TicketContent, width: int = PAPER_80MM) -> Image.Image:
    """The closing instruction, e.g. "Vui lòng chờ gọi số"."""
    s = style_for(width)
    return render_text(content.footer, s.footer_size, s.text_width, bold=True)


def render_rule(width: int = PAPER_80MM, dash: int = 8) -> Image.Image:
    """A dashed 1-dot separator across the text width (cheap: width/8 bytes)."""
    s = style_for(width)
    length = s.text_width // 8 * 8
    img = Image.new("1", (length, 1), PAPER)
    draw = ImageDraw.Draw(img)
    for x in range(0, length, 2 * dash):
        draw.line([(x, 0), (min(x + dash, length) - 1, 0)], fill=INK)
    return img


# --- layout -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RasterBlock:
    """A 1-bit image printed with GS v 0, centred by ESC a 1."""

    image: Image.Image
    name: str


@dataclass(frozen=True, slots=True)
class FeedBlock:
    """Blank paper, in dots (ESC J n; 1 motion unit = 1 dot on 203 dpi printers)."""

    dots: int


@dataclass(frozen=True, slots=True)
class NumberBlock:
    """The ticket number in the printer's own font, magnified with GS !."""

    text: str
    magnification: int

    @property
    def size(self) -> tuple[int, int]:
        cw, ch = PRINTER_FONT_CELL
        return cw * self.magnification * len(self.text), ch * self.magnification


@dataclass(frozen=True, slots=True)
class QRBlock:
    """A QR code drawn by the printer itself (GS ( k); we only send the payload."""

    data: str
    module: int
    error_level: QrErrorLevel = "M"

    def matrix(self) -> list[list[bool]]:
        """Modules without quiet zone, as the printer's encoder lays them out."""
        qr = qrcode.QRCode(error_correction=_QR_EC[self.error_level], border=0)
        qr.add_data(self.data)
        qr.make(fit=True)
        matrix: list[list[bool]] = qr.get_matrix()
        return matrix

    @property
    def side(self) -> int:
        return len(self.matrix()) * self.module


Block: TypeAlias = RasterBlock | FeedBlock | NumberBlock | QRBlock


def number_magnification(number: str, width: int) -> int:
    """Largest GS ! factor (<= 8) that fits the number inside the paper's margins."""
    s = style_for(width)
    cw, _ = PRINTER_FONT_CELL
    return max(1, min(MAX_MAGNIFICATION, s.text_width // (cw * len(number))))


def ticket_layout(content: TicketContent, width: int = PAPER_80MM) -> list[Block]:
    """The ticket from top to bottom; shared by the ESC/POS stream and the preview."""
    s = style_for(width)
    blocks: list[Block] = [FeedBlock(s.gap)]

    def raster(img: Image.Image | None, name: str, gap_after: int) -> None:
        if img is not None:
            blocks.append(RasterBlock(img, name))
            blocks.append(FeedBlock(gap_after))

    raster(render_center_name(content, width), "center_name", s.section_gap)
    raster(render_rule(width), "rule", s.section_gap)
    raster(render_field_name(content, width), "field_name", s.section_gap)
    raster(render_priority(content, width), "priority", s.gap)
    blocks.append(NumberBlock(content.number, number_magnification(content.number, width)))
    blocks.append(FeedBlock(s.section_gap))
    raster(render_waiting(content, width), "waiting", s.gap)
    raster(render_wait_estimate(content, width), "wait_estimate", s.gap)
    # QR quiet zone is 4 modules on every side; centring gives the sides.
    quiet = 4 * s.qr_module
    raster(render_issued(content, width), "issued", max(quiet, s.section_gap))
    blocks.append(QRBlock(content.status_url, s.qr_module))
    blocks.append(FeedBlock(quiet))
    raster(render_footer(content, width), "footer", s.section_gap)
    return blocks


# --- preview ------------------------------------------------------------------------


def render_number(block: NumberBlock) -> Image.Image:
    """Imitate the printer: draw 12x24 font-A cells, then magnify dot by dot."""
    cw, ch = PRINTER_FONT_CELL
    cell = Image.new("1", (cw * len(block.text), ch), PAPER)
    draw = ImageDraw.Draw(cell)
    draw.fontmode = "1"
    font = load_font(20, bold=True, mono=True)
    for i, char in enumerate(block.text):
        draw.text((i * cw + cw / 2, ch / 2), char, font=font, fill=INK, anchor="mm")
    w, h = block.size
    return cell.resize((w, h), Image.Resampling.NEAREST)


def render_qr(block: QRBlock) -> Image.Image:
    """The QR symbol as the printer draws it (no quiet zone; feeds provide it)."""
    matrix = block.matrix()
    n = len(matrix)
    img = Image.new("1", (n, n), PAPER)
    img.putdata([INK if dark else PAPER for row in matrix for dark in row])
    return img.resize((n * block.module, n * block.module), Image.Resampling.NEAREST)


def block_image(block: Block) -> Image.Image | None:
    """What a block looks like on paper; None for a plain feed."""
    match block:
        case RasterBlock(image=image):
            return image
        case NumberBlock():
            return render_number(block)
        case QRBlock():
            return render_qr(block)
        case FeedBlock():
            return None
    raise TypeError(f"unknown block {block!r}")


def block_height(block: Block) -> int:
    """How far the paper advances for a block."""
    if isinstance(block, FeedBlock):
        return block.dots
    img = block_image(block)
    assert img is not None
    return img.height


def render_layout(blocks: list[Block], width: int = PAPER_80MM) -> Image.Image:
    """Stack blocks as the printer does: each centred, paper advancing by its height."""
    _check_width(width)
    placed: list[tuple[Image.Image, int]] = []
    y = 0
    for block in blocks:
        img = block_image(block)
        if img is None:
            y += block_height(block)
            continue
        placed.append((img, y))
        y += img.height
    page = Image.new("1", (width, y), PAPER)
    for img, top in placed:
        page.paste(img, ((width - img.width) // 2, top))
    return page


def render_preview(content: TicketContent, width: int = PAPER_80MM) -> Image.Image:
    """The whole ticket as it will come out of the printer, as a 1-bit image."""
    return render_layout(ticket_layout(content, width), width)
