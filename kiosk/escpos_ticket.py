"""The exact ESC/POS byte stream of a ticket, built with python-escpos's Dummy printer.

Only the Vietnamese text is rastered (GS v 0); the number uses the printer's font
magnified with GS !, and the QR code is the printer's own (GS ( k), so a full 80 mm
ticket stays well under the 16 KB budget a 115200-baud serial line moves in ~1.5 s.

Where the python-escpos profile says the printer has no native QR (`profile.supports("qrCode")`
is false, e.g. the cheap 58 mm "POS-5890" family, which silently ignores GS ( k), the same symbol
is sent as a raster image instead: `render_qr` of the layout's QRBlock, the very image the preview
draws (SPEC §4: "use the printer's own ... QR command where its profile has them").
"""

from __future__ import annotations

import logging
from typing import Final

from escpos.capabilities import get_profile
from escpos.constants import ESC, QR_ECLEVEL_H, QR_ECLEVEL_L, QR_ECLEVEL_M, QR_ECLEVEL_Q
from escpos.printer import Dummy

from PIL import Image

from kiosk.ticket import TicketContent
from kiosk.ticket_image import (
    PAPER,
    PAPER_80MM,
    PRINTER_FONT_CELL,
    Block,
    FeedBlock,
    NumberBlock,
    QRBlock,
    RasterBlock,
    render_qr,
    ticket_layout,
)

# "default" also has native QR, but its media width is "Unknown", which makes
# Escpos.image() print a warning on stdout for every block and skip width checks.
# TM-T20II is a common 80 mm / 576-dot / 203 dpi Epson with GS ( k QR, GS v 0 and cut;
# a 58 mm ticket (384 dots) fits inside its width as well.
DEFAULT_PROFILE: Final = "TM-T20II"

log = logging.getLogger(__name__)

TICKET_BYTE_BUDGET: Final = 16 * 1024

_EC_LEVELS: Final = {"L": QR_ECLEVEL_L, "M": QR_ECLEVEL_M, "Q": QR_ECLEVEL_Q, "H": QR_ECLEVEL_H}


def _feed(printer: Dummy, dots: int) -> None:
    """ESC J n: print and feed n motion units; python-escpos only feeds whole lines."""
    while dots > 0:
        step = min(dots, 255)
        printer._raw(ESC + b"J" + bytes((step,)))
        dots -= step


def _byte_wide(image: Image.Image) -> Image.Image:
    """Pad to whole bytes on both sides, so ESC a 1 centres the symbol where the preview does
    (python-escpos would pad on the right only, one or more dots off centre)."""
    w8 = (image.width + 7) // 8 * 8
    if w8 == image.width:
        return image
    out = Image.new("1", (w8, image.height), PAPER)
    out.paste(image, ((w8 - image.width) // 2, 0))
    return out


def _raster_qr(printer: Dummy, block: QRBlock) -> None:
    """The QR as GS v 0. An even module (6 dots on 80 mm) is sent at half size in quadruple
    density (m = 3: every dot printed 2 x 2), a quarter of the bytes for the same symbol on paper
    (~1.3 KB instead of ~5 KB), which keeps an 80 mm ticket within the budget; an odd one
    (5 on 58 mm) is sent dot for dot."""
    if block.module % 2 == 0:
        half = QRBlock(block.data, block.module // 2, block.error_level)
        printer.image(_byte_wide(render_qr(half)), high_density_vertical=False,
                      high_density_horizontal=False, impl="bitImageRaster", center=False)
    else:
        printer.image(_byte_wide(render_qr(block)), impl="bitImageRaster", center=False)


def native_qr(profile: str) -> bool:
    """Does the python-escpos capability database say this printer draws QR codes itself?"""
    return bool(get_profile(profile).supports("qrCode"))


def _emit(printer: Dummy, block: Block) -> None:
    match block:
        case RasterBlock(image=image):
            printer.image(image, impl="bitImageRaster", center=False)
        case FeedBlock(dots=dots):
            _feed(printer, dots)
        case NumberBlock(text=text, magnification=m):
            # Line spacing = magnified cell height, so the paper advances exactly the glyphs.
            printer.line_spacing(PRINTER_FONT_CELL[1] * m)
            printer.set(bold=True, custom_size=True, width=m, height=m)
            printer.text(text + "\n")
            printer.set(bold=False, custom_size=True, width=1, height=1)
            printer.line_spacing()
        case QRBlock(data=data, module=module, error_level=level):
            if printer.profile.supports("qrCode"):
                printer.qr(data, ec=_EC_LEVELS[level], size=module, native=True)
            else:  # the printer would ignore GS ( k: send the symbol's dots
                _raster_qr(printer, block)
        case _:
            raise TypeError(f"unknown block {block!r}")


def layout_bytes(blocks: list[Block], profile: str = DEFAULT_PROFILE) -> bytes:
    """Serialise a layout: initialise, centre, blocks, then feed to the cutter and cut."""
    printer = Dummy(profile=profile)
    printer.hw("INIT")  # ESC @: forget whatever the previous job left set
    printer.set(align="center")  # ESC a 1 also centres GS v 0 images and GS ( k symbols
    for block in blocks:
        _emit(printer, block)
    # GS V 66 0: feed until the last line passes the blade, then cut; no wasted lines.
    printer.cut(feed=False)
    return bytes(printer.output)


def ticket_bytes(
    content: TicketContent, width: int = PAPER_80MM, profile: str = DEFAULT_PROFILE
) -> bytes:
    """The exact bytes to send to the printer for one ticket."""
    data = layout_bytes(ticket_layout(content, width), profile)
    if len(data) > TICKET_BYTE_BUDGET:  # still print: a slow ticket beats no ticket
        log.warning(
            "ticket %s is %d bytes, over the %d-byte budget",
            content.number,
            len(data),
            TICKET_BYTE_BUDGET,
        )
    return data
