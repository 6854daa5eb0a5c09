"""Plate text normalisation to Chinese plate formats, with per-character confidences kept."""

from __future__ import annotations

import pytest

from detect.plate_format import PROVINCES, LineRead, clean, merge_rows, normalise_plate


def test_thirty_one_provinces() -> None:
    assert len(PROVINCES) == 31 == len(set(PROVINCES))


@pytest.mark.parametrize(
    ("raw", "text", "plate_format"),
    [
        ("京A·12345", "京A12345", "standard"),
        ("吉a 1b2c3", "吉A1B2C3", "standard"),
        ("粤BD12345", "粤BD12345", "new_energy"),
        ("粤B12345F", "粤B12345F", "new_energy"),
        ("京A1234学", "京A1234学", "special"),
        ("京A0001警", "京A0001警", "special"),
        ("粤Z1234港", "粤Z1234港", "special"),
        ("粤Z1234澳", "粤Z1234澳", "special"),
        ("鲁B1234挂", "鲁B1234挂", "special"),
        ("沪A1234领", "沪A1234领", "special"),
        ("WJ1234567", "WJ1234567", "generic"),
        ("使014578", "使014578", "generic"),
    ],
)
def test_formats(raw: str, text: str, plate_format: str) -> None:
    plate = normalise_plate(raw)
    assert plate is not None
    assert (plate.text, plate.plate_format) == (text, plate_format)


def test_no_i_or_o_where_digits_stand() -> None:
    plate = normalise_plate("京AI23O5")
    assert plate is not None and (plate.text, plate.plate_format) == ("京A12305", "standard")


def test_a_digit_where_the_office_letter_stands_becomes_its_look_alike() -> None:
    plate = normalise_plate("京812345")
    assert plate is not None and plate.text == "京B12345"


def test_stray_characters_around_the_plate_are_dropped_with_their_confidences() -> None:
    plate = normalise_plate("1京A123451", [0.3, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.95, 0.2])
    assert plate is not None
    assert (plate.text, plate.plate_format) == ("京A12345", "standard")
    assert plate.char_confidences == (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.95)


def test_confidences_follow_their_characters_through_separators() -> None:
    text, confs = clean("京A·1２", [0.9, 0.8, 0.1, 0.7, 0.6])
    assert text == "京A12" and confs == (0.9, 0.8, 0.7, 0.6)
    with pytest.raises(ValueError, match="confidences"):
        clean("京A", [0.5])


def test_two_row_plate_merges_top_then_bottom() -> None:
    plate = merge_rows("鲁B", "12345", [0.9, 0.8], [0.7, 0.7, 0.7, 0.7, 0.6])
    assert plate is not None
    assert (plate.text, plate.plate_format) == ("鲁B12345", "standard")
    assert plate.char_confidences == (0.9, 0.8, 0.7, 0.7, 0.7, 0.7, 0.6)
    trailer = merge_rows("鲁 B", "1234挂")
    assert trailer is not None and trailer.plate_format == "special"


@pytest.mark.parametrize("raw", ["", "·-  ", "\x00\x1f"])
def test_nothing_readable_is_none(raw: str) -> None:
    assert normalise_plate(raw) is None


def test_long_garbage_is_bounded_generic() -> None:
    plate = normalise_plate("X" * 500)
    assert plate is not None and plate.plate_format == "generic" and len(plate.text) <= 32


def test_a_line_read_is_normalised_once() -> None:
    read = LineRead("1京A123451", (0.3, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.95, 0.2))
    assert read.plate == normalise_plate(read.text, read.confidences)
    assert read.plate is read.plate and read.plate is not None and read.plate.text == "京A12345"
    assert LineRead("", ()).plate is None
