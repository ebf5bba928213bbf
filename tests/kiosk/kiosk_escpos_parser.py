"""A small, strict ESC/POS decoder for tests, written from the Epson command tables.

It shares no code with kiosk/: it walks the byte stream, rejects any byte it does not
understand, and tracks where on the paper each raster image, text line and QR symbol
lands (y in dots, x from the centring rule), so tests can compare the printer stream
with the PNG preview pixel by pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import qrcode
import qrcode.constants
from PIL import Image, ImageOps

ESC, GS, LF = 0x1B, 0x1D, 0x0A
DEFAULT_LINE_SPACING = 30  # ESC 2 default on 203 dpi Epson models (dots); only used if no ESC 3
FONT_A = (12, 24)

_QR_EC = {
    48: qrcode.constants.ERROR_CORRECT_L,
    49: qrcode.constants.ERROR_CORRECT_M,
    50: qrcode.constants.ERROR_CORRECT_Q,
    51: qrcode.constants.ERROR_CORRECT_H,
}


class DecodeError(ValueError):
    pass


@dataclass
class Raster:
    width_bytes: int
    rows: int
    mode: int  # GS v 0 m: bit 0 double width, bit 1 double height (3 = quadruple)
    data: bytes
    x: int
    y: int

    @property
    def scale(self) -> tuple[int, int]:
        return (2 if self.mode & 1 else 1, 2 if self.mode & 2 else 1)

    @property
    def width(self) -> int:
        """On paper, in dots."""
        return self.width_bytes * 8 * self.scale[0]

    @property
    def height(self) -> int:
        """On paper, in dots."""
        return self.rows * self.scale[1]

    def image(self) -> Image.Image:
        """As printed, a mode "1" image with PIL's convention (0 = black ink)."""
        img = Image.frombytes("1", (self.width_bytes * 8, self.rows), self.data)
        # GS v 0: bit 1 = print a dot; PIL mode 1 frombytes: bit 1 = white.
        img = ImageOps.invert(img.convert("L")).convert("1")
        if self.scale != (1, 1):
            img = img.resize((self.width, self.height), Image.Resampling.NEAREST)
        return img


@dataclass
class TextLine:
    text: str
    mag_w: int
    mag_h: int
    bold: bool
    x: int
    y: int
    advance: int

    @property
    def size(self) -> tuple[int, int]:
        return FONT_A[0] * self.mag_w * len(self.text), FONT_A[1] * self.mag_h


@dataclass
class QRSymbol:
    data: bytes
    module: int
    ec: int
    model: int
    x: int
    y: int
    side: int


@dataclass
class Decoded:
    paper_width: int
    rasters: list[Raster] = field(default_factory=list)
    texts: list[TextLine] = field(default_factory=list)
    qrs: list[QRSymbol] = field(default_factory=list)
    cut: str | None = None
    height: int = 0  # y at the cut
    initialised: bool = False


def decode(stream: bytes, paper_width: int) -> Decoded:
    """Decode a ticket; raise DecodeError on any unknown or truncated command."""
    out = Decoded(paper_width)
    i, n = 0, len(stream)
    y = 0
    align = 0
    spacing = DEFAULT_LINE_SPACING
    mag_w = mag_h = 1
    bold = False
    buffer = ""
    qr_store: dict[str, int | bytes] = {"module": 3, "ec": 48, "model": 50}

    def need(count: int) -> bytes:
        if i + count > n:
            raise DecodeError(f"truncated command at offset {i}")
        return stream[i : i + count]

    def x_for(width: int) -> int:
        if align == 1:
            return (paper_width - width) // 2
        if align == 2:
            return paper_width - width
        return 0

    while i < n:
        b = stream[i]
        if b == ESC:
            cmd = need(2)[1]
            if cmd == 0x40:  # ESC @
                out.initialised = True
                align, spacing, mag_w, mag_h, bold = 0, DEFAULT_LINE_SPACING, 1, 1, False
                i += 2
            elif cmd == 0x61:  # ESC a n
                value = need(3)[2]
                align = value - 48 if value >= 48 else value  # n may be 0-2 or '0'-'2'
                i += 3
            elif cmd == 0x4A:  # ESC J n
                if buffer:
                    raise DecodeError("ESC J with pending text is not expected here")
                y += need(3)[2]
                i += 3
            elif cmd == 0x33:  # ESC 3 n
                spacing = need(3)[2]
                i += 3
            elif cmd == 0x32:  # ESC 2
                spacing = DEFAULT_LINE_SPACING
                i += 2
            elif cmd == 0x45:  # ESC E n
                bold = bool(need(3)[2] & 1)
                i += 3
            elif cmd == 0x74:  # ESC t n (code page; harmless for ASCII)
                i += 3
            elif cmd == 0x21:  # ESC ! n
                mode = need(3)[2]
                mag_w = 2 if mode & 0x20 else 1
                mag_h = 2 if mode & 0x10 else 1
                bold = bool(mode & 0x08)
                i += 3
            else:
                raise DecodeError(f"unknown ESC 0x{cmd:02x} at offset {i}")
        elif b == GS:
            cmd = need(2)[1]
            if cmd == 0x21:  # GS ! n
                size = need(3)[2]
                mag_w, mag_h = (size >> 4) + 1, (size & 0x0F) + 1
                i += 3
            elif cmd == 0x76:  # GS v 0 m xL xH yL yH d...
                head = need(8)
                if head[2] != 0x30:
                    raise DecodeError("GS v must be followed by '0'")
                if buffer:
                    raise DecodeError("GS v 0 with pending text")
                mode = head[3]
                if mode not in (0, 1, 2, 3, 48, 49, 50, 51):
                    raise DecodeError(f"GS v 0: unknown mode {mode}")
                xb = head[4] | head[5] << 8
                h = head[6] | head[7] << 8
                i += 8
                data = need(xb * h)
                i += xb * h
                raster = Raster(xb, h, mode & 3, data, 0, y)
                raster.x = x_for(raster.width)
                out.rasters.append(raster)
                y += raster.height
            elif cmd == 0x28:  # GS ( k pL pH cn fn ...
                head = need(5)
                if head[2] != 0x6B:
                    raise DecodeError(f"unknown GS ( 0x{head[2]:02x}")
                length = head[3] | head[4] << 8
                i += 5
                body = need(length)
                i += length
                cn, fn, params = body[0], body[1], body[2:]
                if cn != 0x31:
                    raise DecodeError("only QR (cn=49) is expected")
                if fn == 0x41:
                    qr_store["model"] = params[0]
                elif fn == 0x43:
                    qr_store["module"] = params[0]
                elif fn == 0x45:
                    qr_store["ec"] = params[0]
                elif fn == 0x50:
                    if params[0] != 0x30:
                        raise DecodeError("QR store needs m=48")
                    qr_store["data"] = bytes(params[1:])
                elif fn == 0x51:
                    payload = qr_store["data"]
                    assert isinstance(payload, bytes)
                    module = int(qr_store["module"])  # type: ignore[arg-type]
                    qr = qrcode.QRCode(error_correction=_QR_EC[int(qr_store["ec"])], border=0)  # type: ignore[arg-type]
                    qr.add_data(payload)
                    qr.make(fit=True)
                    side = len(qr.get_matrix()) * module
                    out.qrs.append(
                        QRSymbol(
                            payload,
                            module,
                            int(qr_store["ec"]),
                            int(qr_store["model"]),
                            x_for(side),
                            y,
                            side,
                        )  # type: ignore[arg-type]
                    )
                    y += side
                else:
                    raise DecodeError(f"unexpected QR function {fn}")
            elif cmd == 0x56:  # GS V m [n]
                m = need(3)[2]
                if m in (65, 66):
                    need(4)
                    i += 4
                else:
                    i += 3
                out.cut = {
                    0: "full",
                    48: "full",
                    1: "partial",
                    49: "partial",
                    65: "feed+full",
                    66: "feed+partial",
                }[m]
                out.height = y
                if i != n:
                    raise DecodeError(f"{n - i} bytes after the cut")
                return out
            else:
                raise DecodeError(f"unknown GS 0x{cmd:02x} at offset {i}")
        elif b == LF:
            if buffer:
                w = FONT_A[0] * mag_w * len(buffer)
                advance = max(spacing, FONT_A[1] * mag_h)
                out.texts.append(TextLine(buffer, mag_w, mag_h, bold, x_for(w), y, advance))
                y += advance
                buffer = ""
            else:
                y += spacing
            i += 1
        elif 0x20 <= b < 0x7F:
            buffer += chr(b)
            i += 1
        else:
            raise DecodeError(f"unexpected byte 0x{b:02x} at offset {i}")
    raise DecodeError("stream ended without a cut")
