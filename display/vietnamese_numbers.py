"""Read numbers and ticket numbers aloud the Vietnamese way, for voice announcements.

The spoken form is what a citizen waiting in the hall expects to hear: 1023 is "một nghìn không
trăm hai mươi ba", not digit by digit. The rules (northern standard, as on radio and in offices):

- 10-19 use "mười"; 20-99 use "<digit> mươi"; a units 1 after "mươi" is "mốt" (21), 4 is "tư" (24),
  5 after "mười"/"mươi" is "lăm" (15, 25); 11 stays "mười một" and 14 "mười bốn".
- A zero tens digit before a non-zero unit is "linh" (105 "một trăm linh năm").
- Groups of three digits take "nghìn", "triệu", "tỷ"; a group after the first one always reads its
  hundreds, even zero (1023 "một nghìn không trăm hai mươi ba"); an all-zero group is skipped
  (1000001 "một triệu không trăm linh một"). Above 999 tỷ the scales repeat ("một nghìn tỷ").

Regional variants ("lẻ", "ngàn", "nhăm") are options of `NumberStyle`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "LETTER_NAMES",
    "NORTHERN",
    "SOUTHERN",
    "NumberStyle",
    "number_to_words",
    "ticket_number_to_words",
]

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")

# Names of the letters as Vietnamese speakers spell them aloud (the school alphabet, plus the
# common names of F, J, W, Z). Multi-syllable names are written with spaces so that both espeak-ng
# and a folder of recorded clips (one clip per syllable) can say them.
LETTER_NAMES: dict[str, str] = {
    "A": "a",
    "Ă": "á",
    "Â": "ớ",
    "B": "bê",
    "C": "xê",
    "D": "dê",
    "Đ": "đê",
    "E": "e",
    "Ê": "ê",
    "F": "ép",
    "G": "giê",
    "H": "hát",
    "I": "i",
    "J": "gi",
    "K": "ca",
    "L": "e lờ",
    "M": "em mờ",
    "N": "en nờ",
    "O": "o",
    "Ô": "ô",
    "Ơ": "ơ",
    "P": "pê",
    "Q": "quy",
    "R": "e rờ",
    "S": "ét xì",
    "T": "tê",
    "U": "u",
    "Ư": "ư",
    "V": "vê",
    "W": "vê kép",
    "X": "ích xì",
    "Y": "i dài",
    "Z": "dét",
}

# Ticket numbers are short; a cap turns a garbage string into a clear error instead of a
# sentence that takes a minute to say.
MAX_TICKET_DIGITS = 9

_TICKET = re.compile(r"([^\W\d_]*)([0-9]+)")


@dataclass(frozen=True)
class NumberStyle:
    """Regional choices in reading numbers; the defaults are the northern standard.

    zero_tens: word for a zero tens digit, 105 "một trăm linh năm" / "một trăm lẻ năm".
    thousand: "nghìn" / "ngàn".
    five: a units 5 after "mươi", 25 "hai mươi lăm" / "hai mươi nhăm"; 15 is "mười lăm" in both.
    """

    zero_tens: Literal["linh", "lẻ"] = "linh"
    thousand: Literal["nghìn", "ngàn"] = "nghìn"
    five: Literal["lăm", "nhăm"] = "lăm"

    def __post_init__(self) -> None:
        # Literal is not enforced at run time and a style usually comes from a config file.
        for field, allowed in (
            ("zero_tens", ("linh", "lẻ")),
            ("thousand", ("nghìn", "ngàn")),
            ("five", ("lăm", "nhăm")),
        ):
            value = getattr(self, field)
            if value not in allowed:
                raise ValueError(
                    f"NumberStyle.{field} must be one of {', '.join(allowed)}; got {value!r}"
                )


NORTHERN = NumberStyle()
SOUTHERN = NumberStyle(zero_tens="lẻ", thousand="ngàn")

# (size, name) from the largest; None stands for the style's word for a thousand.
_SCALES: tuple[tuple[int, str | None], ...] = ((10**9, "tỷ"), (10**6, "triệu"), (10**3, None))


def number_to_words(n: int, style: NumberStyle = NORTHERN) -> str:
    """Vietnamese words for a non-negative integer: 1023 -> "một nghìn không trăm hai mươi ba"."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"number_to_words() needs an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"number_to_words() reads non-negative numbers only, got {n}")
    if n == 0:
        return DIGITS[0]
    return " ".join(_read(n, style, leading=True))


def _read(n: int, style: NumberStyle, leading: bool) -> list[str]:
    """Words for 0 < n; leading=False means higher groups were already read."""
    for size, name in _SCALES:
        if n >= size:
            high, low = divmod(n, size)
            words = [*_read(high, style, leading), name or style.thousand]
            if low:
                words += _read(low, style, leading=False)
            return words
    return _read_group(n, style, leading)


def _read_group(n: int, style: NumberStyle, leading: bool) -> list[str]:
    """Words for one group 0 < n < 1000."""
    hundreds, rest = divmod(n, 100)
    tens, units = divmod(rest, 10)
    words: list[str] = []
    if hundreds or not leading:
        words += [DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            words += ([style.zero_tens] if words else []) + [DIGITS[units]]
    elif tens == 1:
        words.append("mười")
        if units:
            words.append("lăm" if units == 5 else DIGITS[units])
    else:
        words += [DIGITS[tens], "mươi"]
        if units:
            words.append({1: "mốt", 4: "tư", 5: style.five}.get(units, DIGITS[units]))
    return words


def ticket_number_to_words(number: str, style: NumberStyle = NORTHERN) -> str:
    """Words for a ticket number as shown to people: "1023", or a letter prefix and digits "A023".

    Each prefix letter is read by its Vietnamese name and the digits by their value, so "A023" is
    "a hai mươi ba": the zeros only pad the printed number, and announcers say the value.
    """
    if not isinstance(number, str):
        raise TypeError(f"a ticket number is a string, got {type(number).__name__}")
    text = unicodedata.normalize("NFC", number)
    match = _TICKET.fullmatch(text)
    if match is None:
        raise ValueError(
            f"not a ticket number: {number!r}; expected digits with an optional letter prefix, "
            "e.g. '1023' or 'A023'"
        )
    prefix, digits = match.groups()
    if len(digits) > MAX_TICKET_DIGITS:
        raise ValueError(
            f"ticket number {number!r} has {len(digits)} digits; "
            f"at most {MAX_TICKET_DIGITS} are read"
        )
    words = []
    for letter in prefix:
        name = LETTER_NAMES.get(letter.upper())
        if name is None:
            raise ValueError(
                f"ticket number {number!r}: the letter {letter!r} has no Vietnamese name to read; "
                "use letters of the Vietnamese alphabet (or F, J, W, Z)"
            )
        words.append(name)
    words.append(number_to_words(int(digits), style))
    return " ".join(words)
