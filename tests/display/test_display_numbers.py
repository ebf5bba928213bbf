"""Vietnamese number reading: hand-written expectations from everyday usage."""

import unicodedata

import pytest

from display.vietnamese_numbers import (
    NORTHERN,
    SOUTHERN,
    NumberStyle,
    number_to_words,
    ticket_number_to_words,
)

# Written by hand, as a northern announcer says them (not produced by the function under test).
NORTHERN_READINGS = [
    (0, "không"),
    (1, "một"),
    (2, "hai"),
    (3, "ba"),
    (4, "bốn"),
    (5, "năm"),
    (6, "sáu"),
    (7, "bảy"),
    (8, "tám"),
    (9, "chín"),
    (10, "mười"),
    (11, "mười một"),
    (12, "mười hai"),
    (14, "mười bốn"),
    (15, "mười lăm"),
    (19, "mười chín"),
    (20, "hai mươi"),
    (21, "hai mươi mốt"),
    (22, "hai mươi hai"),
    (24, "hai mươi tư"),
    (25, "hai mươi lăm"),
    (30, "ba mươi"),
    (31, "ba mươi mốt"),
    (44, "bốn mươi tư"),
    (45, "bốn mươi lăm"),
    (55, "năm mươi lăm"),
    (71, "bảy mươi mốt"),
    (99, "chín mươi chín"),
    (100, "một trăm"),
    (101, "một trăm linh một"),
    (104, "một trăm linh bốn"),
    (105, "một trăm linh năm"),
    (110, "một trăm mười"),
    (111, "một trăm mười một"),
    (114, "một trăm mười bốn"),
    (115, "một trăm mười lăm"),
    (120, "một trăm hai mươi"),
    (121, "một trăm hai mươi mốt"),
    (124, "một trăm hai mươi tư"),
    (125, "một trăm hai mươi lăm"),
    (200, "hai trăm"),
    (305, "ba trăm linh năm"),
    (999, "chín trăm chín mươi chín"),
    (1000, "một nghìn"),
    (1001, "một nghìn không trăm linh một"),
    (1005, "một nghìn không trăm linh năm"),
    (1010, "một nghìn không trăm mười"),
    (1011, "một nghìn không trăm mười một"),
    (1015, "một nghìn không trăm mười lăm"),
    (1021, "một nghìn không trăm hai mươi mốt"),
    (1023, "một nghìn không trăm hai mươi ba"),
    (1100, "một nghìn một trăm"),
    (1105, "một nghìn một trăm linh năm"),
    (1205, "một nghìn hai trăm linh năm"),
    (1999, "một nghìn chín trăm chín mươi chín"),
    (2000, "hai nghìn"),
    (2001, "hai nghìn không trăm linh một"),
    (2024, "hai nghìn không trăm hai mươi tư"),
    (2025, "hai nghìn không trăm hai mươi lăm"),
    (5000, "năm nghìn"),
    (10000, "mười nghìn"),
    (10005, "mười nghìn không trăm linh năm"),
    (11000, "mười một nghìn"),
    (15000, "mười lăm nghìn"),
    (21000, "hai mươi mốt nghìn"),
    (24000, "hai mươi tư nghìn"),
    (100000, "một trăm nghìn"),
    (100001, "một trăm nghìn không trăm linh một"),
    (105000, "một trăm linh năm nghìn"),
    (999999, "chín trăm chín mươi chín nghìn chín trăm chín mươi chín"),
    (1000000, "một triệu"),
    (1000001, "một triệu không trăm linh một"),
    (1001000, "một triệu không trăm linh một nghìn"),
    (1005000, "một triệu không trăm linh năm nghìn"),
    (1010000, "một triệu không trăm mười nghìn"),
    (1234567, "một triệu hai trăm ba mươi tư nghìn năm trăm sáu mươi bảy"),
    (2000000, "hai triệu"),
    (10000000, "mười triệu"),
    (25000000, "hai mươi lăm triệu"),
    (100000000, "một trăm triệu"),
    (
        123456789,
        "một trăm hai mươi ba triệu bốn trăm năm mươi sáu nghìn bảy trăm tám mươi chín",
    ),
    (
        999999999,
        "chín trăm chín mươi chín triệu chín trăm chín mươi chín nghìn chín trăm chín mươi chín",
    ),
    (1000000000, "một tỷ"),
    (1000000005, "một tỷ không trăm linh năm"),
    (1000000000000, "một nghìn tỷ"),
]


@pytest.mark.parametrize(("n", "words"), NORTHERN_READINGS)
def test_number_to_words_reads_the_northern_way(n: int, words: str) -> None:
    assert number_to_words(n) == words


def test_the_table_is_large_and_nfc() -> None:
    assert len(NORTHERN_READINGS) >= 60
    for _, words in NORTHERN_READINGS:
        assert unicodedata.is_normalized("NFC", words)


@pytest.mark.parametrize(
    ("n", "style", "words"),
    [
        (105, NumberStyle(zero_tens="lẻ"), "một trăm lẻ năm"),
        (1005, NumberStyle(zero_tens="lẻ"), "một nghìn không trăm lẻ năm"),
        (1023, NumberStyle(thousand="ngàn"), "một ngàn không trăm hai mươi ba"),
        (1000000000000, NumberStyle(thousand="ngàn"), "một ngàn tỷ"),
        (25, NumberStyle(five="nhăm"), "hai mươi nhăm"),
        (1035, NumberStyle(five="nhăm"), "một nghìn không trăm ba mươi nhăm"),
        # "nhăm" only follows "mươi": 15, 105 and 5 keep their usual reading.
        (15, NumberStyle(five="nhăm"), "mười lăm"),
        (105, NumberStyle(five="nhăm"), "một trăm linh năm"),
        (5, NumberStyle(five="nhăm"), "năm"),
        (2005, SOUTHERN, "hai ngàn không trăm lẻ năm"),
        (125, SOUTHERN, "một trăm hai mươi lăm"),
        (2005, NORTHERN, "hai nghìn không trăm linh năm"),
    ],
)
def test_regional_options(n: int, style: NumberStyle, words: str) -> None:
    assert number_to_words(n, style) == words


@pytest.mark.parametrize(
    "kwargs", [{"zero_tens": "le"}, {"thousand": "ngan"}, {"five": "năm"}, {"five": ""}]
)
def test_unknown_style_values_are_rejected(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="NumberStyle"):
        NumberStyle(**kwargs)  # type: ignore[arg-type]


def test_negative_numbers_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        number_to_words(-1)


@pytest.mark.parametrize("value", [True, 1.0, "12", None])
def test_non_integers_are_rejected(value: object) -> None:
    with pytest.raises(TypeError):
        number_to_words(value)  # type: ignore[arg-type]


def test_every_reading_is_distinct_nfc_and_uses_known_words() -> None:
    vocabulary = {
        "không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín",
        "mười", "mươi", "mốt", "tư", "lăm", "linh", "trăm", "nghìn", "triệu", "tỷ",
    }  # fmt: skip
    numbers = [*range(0, 21000), *range(999_000, 1_002_000, 7), 10**9 + 1, 10**12 + 10**6]
    readings = {number_to_words(n) for n in numbers}
    assert len(readings) == len(numbers)
    for words in readings:
        assert unicodedata.is_normalized("NFC", words)
        assert set(words.split(" ")) <= vocabulary, words


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("1023", "một nghìn không trăm hai mươi ba"),
        ("7", "bảy"),
        ("0023", "hai mươi ba"),
        ("A023", "a hai mươi ba"),
        ("a023", "a hai mươi ba"),
        ("A000", "a không"),
        ("B105", "bê một trăm linh năm"),
        ("C1", "xê một"),
        ("D24", "dê hai mươi tư"),
        ("Đ7", "đê bảy"),
        ("đ7", "đê bảy"),
        ("X15", "ích xì mười lăm"),
        ("HT12", "hát tê mười hai"),
        ("A\u03061", "á một"),  # NFD "Ă" from a badly behaved client
    ],
)
def test_ticket_number_to_words(number: str, words: str) -> None:
    assert ticket_number_to_words(number) == words


def test_ticket_number_uses_the_style() -> None:
    assert ticket_number_to_words("A1005", SOUTHERN) == "a một ngàn không trăm lẻ năm"


@pytest.mark.parametrize(
    "number",
    [
        "",
        "A",
        "12A",
        "A-12",
        "A 12",
        " 12",
        "12 ",
        "1.5",
        "-1",
        "A_1",
        "\u0661\u0662",  # Arabic-Indic digits
        "Ω1",  # a letter without a Vietnamese name
        "ß1",
        "1234567890",  # longer than any ticket number
    ],
)
def test_bad_ticket_numbers_are_rejected(number: str) -> None:
    with pytest.raises(ValueError):
        ticket_number_to_words(number)


def test_ticket_number_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        ticket_number_to_words(1023)  # type: ignore[arg-type]
