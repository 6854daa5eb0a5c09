"""Normalisation of recognised plate text to Chinese plate formats (issue #14).

A mainland plate is a province character, a letter (the issuing office) and 5 alphanumerics
(`standard`, e.g. 京A12345), 6 for new-energy plates with D/F at the third or last place
(`new_energy`, 粤BD12345, 粤B12345F), or 4 plus a special suffix 学 警 挂 港 澳 领 使
(`special`, 京A1234警). The letters I and O never appear: where a digit is expected they are
the digits 1 and 0. Two-row plates (trucks, trailers, motorcycles) carry the province and
letter on the top row and the rest below; `merge_rows` joins them. Anything else (military,
embassy 使 prefixes, foreign text) falls back to `generic`: upper-case alphanumerics.

Confidences travel with their characters through every step (dropped separators drop theirs).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from detect.plate_values import PlateFormat

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
SPECIAL_SUFFIXES = "学警挂港澳领使"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O
DIGITS = "0123456789"
ALNUM = LETTERS + DIGITS
PLATE_ALPHABET = PROVINCES + SPECIAL_SUFFIXES + LETTERS + DIGITS + "IO"
NEW_ENERGY_MARKS = "DF"

# A recogniser reading a digit where the issuing-office letter must stand: the look-alike letter.
_DIGIT_AS_LETTER = {"0": "D", "8": "B", "2": "Z", "5": "S", "6": "G", "4": "A", "7": "T"}
_LETTER_AS_DIGIT = {"I": "1", "O": "0"}
_MAX_INPUT_CHARS = 32


@dataclass(frozen=True)
class NormalisedPlate:
    """Normalised plate text, its format and one confidence per character."""

    text: str
    plate_format: PlateFormat
    char_confidences: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.char_confidences) != len(self.text):
            raise ValueError("one confidence per character")


def clean(text: str, confidences: Sequence[float] | None = None) -> tuple[str, tuple[float, ...]]:
    """Upper-case alphanumerics of `text` (full-width forms folded, separators dropped) and the
    confidences of the characters kept (1.0 each when none are given)."""
    confs = [1.0] * len(text) if confidences is None else [float(c) for c in confidences]
    if len(confs) != len(text):
        raise ValueError(f"{len(confs)} confidences for {len(text)} characters")
    chars: list[str] = []
    kept: list[float] = []
    for ch, conf in zip(text[:_MAX_INPUT_CHARS], confs[:_MAX_INPUT_CHARS], strict=True):
        folded = unicodedata.normalize("NFKC", ch).upper()
        for sub in folded:
            if sub.isalnum():
                chars.append(sub)
                kept.append(min(max(conf, 0.0), 1.0))
    return "".join(chars), tuple(kept)


def _mainland(text: str, confs: tuple[float, ...]) -> NormalisedPlate | None:
    """`text` (starting with a province) as a mainland format, or None if it is none of them."""
    if len(text) < 7 or text[0] not in PROVINCES:
        return None
    office = _DIGIT_AS_LETTER.get(text[1], text[1])
    if office == "O":
        office = "D"  # O is never issued; D is the look-alike office letter
    if office not in LETTERS:
        return None
    rest = "".join(_LETTER_AS_DIGIT.get(ch, ch) for ch in text[2:])
    fmt: PlateFormat
    if len(rest) == 5 and all(ch in ALNUM for ch in rest):
        fmt = "standard"
    elif (
        len(rest) == 6
        and all(ch in ALNUM for ch in rest)
        and (rest[0] in NEW_ENERGY_MARKS or rest[-1] in NEW_ENERGY_MARKS)
    ):
        fmt = "new_energy"
    elif len(rest) == 5 and rest[-1] in SPECIAL_SUFFIXES and all(ch in ALNUM for ch in rest[:-1]):
        fmt = "special"
    else:
        return None
    return NormalisedPlate(text[0] + office + rest, fmt, confs)


def normalise_plate(
    text: str, confidences: Sequence[float] | None = None
) -> NormalisedPlate | None:
    """The plate in `text` in its format; None when no alphanumeric is left.

    A mainland plate is looked for from each province character in the text (a recogniser
    often adds a stray character from the frame or a rivet before or after it): the longest
    window that is a valid format wins. Failing that the whole cleaned text is `generic`.
    """
    cleaned, confs = clean(text, confidences)
    if not cleaned:
        return None
    best: NormalisedPlate | None = None
    for start, ch in enumerate(cleaned):
        if ch not in PROVINCES:
            continue
        for length in (8, 7):
            window = cleaned[start : start + length]
            found = _mainland(window, confs[start : start + length])
            if found is not None and (best is None or len(found.text) > len(best.text)):
                best = found
    if best is not None:
        return best
    return NormalisedPlate(cleaned, "generic", confs)


def merge_rows(
    top: str,
    bottom: str,
    top_confidences: Sequence[float] | None = None,
    bottom_confidences: Sequence[float] | None = None,
) -> NormalisedPlate | None:
    """A two-row plate: the top row (province + letter) followed by the bottom row (the rest),
    normalised like a one-row plate."""
    top_text, top_confs = clean(top, top_confidences)
    bottom_text, bottom_confs = clean(bottom, bottom_confidences)
    return normalise_plate(top_text + bottom_text, top_confs + bottom_confs)


EMBASSY_MARK = "使"
LEAD_CHARS = PROVINCES + EMBASSY_MARK  # what may stand before a read that lost its first char
MIN_HINT_PROBABILITY = 0.05  # a lead / tail hint below this is noise, not a hidden character


@dataclass(frozen=True)
class LineRead:
    """A recogniser's read of one text line: text, one confidence per character, and the most
    likely `LEAD_CHARS` character in the blank frames before the text and `SPECIAL_SUFFIXES`
    character in those after it, each with its probability (None where there are no such
    frames). Small province and suffix glyphs often lose to the blank there. `top_row`: the
    likeliest province followed by a letter in the line, with their probabilities — what the
    line says if it is a two-row plate's top row (None if it has no frames for two)."""

    text: str
    confidences: tuple[float, ...]
    lead: tuple[str, float] | None = None
    tail: tuple[str, float] | None = None
    top_row: tuple[str, tuple[float, float]] | None = None

    def __post_init__(self) -> None:
        if len(self.confidences) != len(self.text):
            raise ValueError("one confidence per character")

    @cached_property
    def plate(self) -> NormalisedPlate | None:
        """The read normalised (`normalise_plate`), worked out once per read."""
        return normalise_plate(self.text, self.confidences)


def is_known_layout(plate: NormalisedPlate) -> bool:
    """A mainland format, or an embassy plate (使 and six digits)."""
    if plate.plate_format != "generic":
        return True
    text = plate.text
    return len(text) == 7 and text[0] == EMBASSY_MARK and text[1:].isdigit()


def complete_plate(
    read: LineRead, min_hint_probability: float = MIN_HINT_PROBABILITY
) -> NormalisedPlate | None:
    """`read` normalised; when that is no known layout, the read with its lead or its tail
    character added (one, at least `min_hint_probability` likely), if that makes one; the
    added character keeps its low probability as its confidence."""
    plate = read.plate
    if plate is None or is_known_layout(plate):
        return plate
    variants: list[tuple[str, tuple[float, ...]]] = []
    if read.lead is not None and read.lead[1] >= min_hint_probability:
        variants.append((read.lead[0] + read.text, (read.lead[1], *read.confidences)))
    if read.tail is not None and read.tail[1] >= min_hint_probability:
        variants.append((read.text + read.tail[0], (*read.confidences, read.tail[1])))
    for text, confidences in variants:
        completed = normalise_plate(text, confidences)
        if completed is not None and is_known_layout(completed):
            return completed
    return plate
