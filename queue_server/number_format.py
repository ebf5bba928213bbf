"""Numbers and dates as the reports print them: Vietnamese `1.924` and `95,40`, English `1,924`
and `95.40` (issue 11; the reference reports in docs/statistics.md).

Vietnamese uses "." to group thousands and "," before decimals (TCVN / the decree on
administrative documents' style, and every reference report: "3.311", "99,03"). Decimals are
rounded half-up on the decimal value (Decimal), never on a binary float, so 0,125 → 0,13.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

LANGS = ("vi", "en")


def _decimal(value: float | int | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def number(value: float | int | Decimal | None, lang: str = "vi", places: int = 0) -> str:
    """`value` with `places` decimals and grouped thousands, in `lang` ("vi" or "en"); "" for
    None (no figure: nothing to divide by). Raises ValueError for another language."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}")
    if value is None:
        return ""
    d = _decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign = "-" if d < 0 else ""
    whole, _, frac = f"{abs(d):f}".partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    thousands, point = (".", ",") if lang == "vi" else (",", ".")
    text = sign + thousands.join(groups)
    return f"{text}{point}{frac}" if places > 0 else text


def day(value: date, lang: str = "vi") -> str:
    """A date as the reports write it: 31/03/2024 in Vietnamese, 2024-03-31 in English."""
    return value.strftime("%d/%m/%Y") if lang == "vi" else value.isoformat()


def date_range(first: date, last: date, lang: str = "vi") -> str:
    """"từ ngày 01/01/2024 đến ngày 31/03/2024" / "from 2024-01-01 to 2024-03-31"."""
    if lang == "vi":
        return f"từ ngày {day(first, lang)} đến ngày {day(last, lang)}"
    return f"from {day(first, lang)} to {day(last, lang)}"
