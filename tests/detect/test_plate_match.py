"""Plate query patterns (parsing, refusals naming why) and the OCR-confusion-weighted distance
(hypothesis: a metric, bounded by the plain edit distance)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detect.plate_match import (
    ALNUM_LOOKALIKES,
    HANZI_COST,
    INDEL_COST,
    LOOKALIKE_COST,
    PROVINCE_LOOKALIKES,
    PlatePatternError,
    explain_distance,
    parse_plate_pattern,
    plate_distance,
    plate_distance_within,
    rank_plates,
    score_plate,
    score_plate_within,
    substitution_cost,
)

PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZOI吉京鄂粤晋青沪泸学警"
plates = st.text(alphabet=PLATE_CHARS, max_size=9)


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


# ---- patterns ---------------------------------------------------------------------------


def test_patterns_are_normalised() -> None:
    pattern = parse_plate_pattern("吉a·123 45", "exact")
    assert (pattern.text, pattern.mode) == ("吉A12345", "exact")
    assert parse_plate_pattern("吉A**23?5", "wildcard").text == "吉A*23?5"


def test_each_mode_matches_what_it_says() -> None:
    assert parse_plate_pattern("吉A12345", "exact").matches("吉A12345")
    assert not parse_plate_pattern("吉A1234", "exact").matches("吉A12345")
    assert parse_plate_pattern("吉A12", "prefix").matches("吉A12345")
    assert not parse_plate_pattern("A12", "prefix").matches("吉A12345")
    assert parse_plate_pattern("A12", "contains").matches("吉A12345")
    wildcard = parse_plate_pattern("吉A*23?5", "wildcard")
    assert wildcard.matches("吉A12345") and wildcard.matches("吉A23X5")
    assert not wildcard.matches("吉A1234") and not wildcard.matches("京A12345")
    fuzzy = parse_plate_pattern("吉A1234S", "fuzzy", max_distance=0.5)
    assert fuzzy.matches("吉A12345") and not fuzzy.matches("吉A12349")


@pytest.mark.parametrize(
    ("raw", "mode", "why"),
    [
        ("", "exact", "empty"),
        (" · ", "exact", "empty"),
        ("A" * 200, "exact", "at most 20"),
        ("A" * 21, "prefix", "at most 20"),
        ("吉A\x0012345", "exact", "control character"),
        ("吉A\u200b12", "contains", "control character"),
        ("' OR 1=1 --", "contains", "looks like SQL"),
        ("A12; DROP", "contains", "looks like SQL"),
        ("A1%", "prefix", "looks like SQL"),
        ("A_1", "wildcard", "looks like SQL"),
        ("A12 OR B", "contains", "looks like SQL"),
        ("[A1", "wildcard", "unbalanced brackets"),
        ("[AB]1", "wildcard", "character classes"),
        ("***", "wildcard", "only wildcards"),
        ("?*?", "wildcard", "only wildcards"),
        ("吉A*12", "exact", "use mode wildcard"),
        ("A?1", "fuzzy", "use mode wildcard"),
        ("A1!", "contains", "on no plate"),
        ("A12", "regex", "not one of"),
        ("A12", "fuzzy", None),
    ],
)
def test_malformed_patterns_are_refused_naming_why(raw: str, mode: str, why: str | None) -> None:
    if why is None:
        with pytest.raises(PlatePatternError, match="max_distance"):
            parse_plate_pattern(raw, mode, max_distance=-1)
        return
    with pytest.raises(PlatePatternError, match=why):
        parse_plate_pattern(raw, mode)
    assert issubclass(PlatePatternError, ValueError)


# ---- distance -----------------------------------------------------------------------------


def test_lookalike_groups_are_disjoint() -> None:
    seen: set[str] = set()
    for group in (*ALNUM_LOOKALIKES, *PROVINCE_LOOKALIKES):
        assert not seen & set(group), group
        seen |= set(group)


def test_ocr_confusions_are_cheap() -> None:
    assert plate_distance("吉A12345", "吉A12345") == 0
    for a, b in ("0O", "0D", "OQ", "1I", "17", "1T", "8B", "2Z", "5S", "6G"):
        assert substitution_cost(a, b) == LOOKALIKE_COST
    assert plate_distance("吉A1O3B5", "吉A10385") == pytest.approx(2 * LOOKALIKE_COST)
    assert plate_distance("鄂A12345", "粤A12345") == pytest.approx(LOOKALIKE_COST)
    assert plate_distance("京A12345", "吉A12345") == pytest.approx(HANZI_COST)
    assert plate_distance("吉A12345", "吉A12349") == 1.0
    assert plate_distance("吉A1235", "吉A12345") == pytest.approx(INDEL_COST)


def test_explanations_name_the_differences() -> None:
    assert explain_distance("吉A1O3B5", "吉A10385") == "look-alike O→0, B→8"
    assert explain_distance("吉A1235", "吉A12345") == "1 character(s) missing from the query"
    assert explain_distance("吉A12345", "吉A12345") == "identical"
    assert "different 5→9" in explain_distance("吉A12345", "吉A12349")


def test_alternatives_and_ranking() -> None:
    score = score_plate("吉A12345", "吉A12845", ["吉A12345"])
    assert (score.distance, score.matched_text, score.is_alternative) == (0.0, "吉A12345", True)
    candidates = [("吉A99999", ()), ("吉A1234S", ()), ("吉A12345", ()), ("吉A1234", ())]
    ranked = rank_plates("吉A12345", candidates, max_distance=1.0, top_k=5)
    assert [index for index, _ in ranked] == [2, 1, 3]


@given(plates, plates)
def test_distance_is_symmetric(a: str, b: str) -> None:
    assert plate_distance(a, b) == plate_distance(b, a)


@given(plates, plates)
def test_distance_is_zero_only_for_identical_texts(a: str, b: str) -> None:
    assert plate_distance(a, a) == 0.0
    assert (plate_distance(a, b) == 0.0) == (a == b)


@given(plates, plates, plates)
def test_distance_obeys_the_triangle_inequality(a: str, b: str, c: str) -> None:
    assert plate_distance(a, c) <= plate_distance(a, b) + plate_distance(b, c) + 1e-6


@given(plates, plates)
def test_distance_lies_between_the_length_gap_and_the_plain_edit_distance(a: str, b: str) -> None:
    distance = plate_distance(a, b)
    assert abs(len(a) - len(b)) * INDEL_COST - 1e-6 <= distance <= _levenshtein(a, b) + 1e-6
    assert distance >= LOOKALIKE_COST * _levenshtein(a, b) - 1e-6


@given(plates, plates, st.floats(min_value=0.0, max_value=4.0))
def test_the_bounded_distance_agrees_with_the_full_one(a: str, b: str, limit: float) -> None:
    full = plate_distance(a, b)
    bounded = plate_distance_within(a, b, limit)
    assert bounded == (full if full <= limit + 1e-9 else None)


@given(plates, st.lists(plates, max_size=3), st.floats(min_value=0.0, max_value=4.0))
def test_the_bounded_score_agrees_with_the_full_one(
    query: str, texts: list[str], limit: float
) -> None:
    full = score_plate(query, "吉A12345", texts)
    bounded = score_plate_within(query, "吉A12345", texts, limit)
    assert bounded == (full if full.distance <= limit + 1e-9 else None)
