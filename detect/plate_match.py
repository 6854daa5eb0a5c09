"""Plate query patterns and the OCR-confusion-weighted plate distance (issue #14); pure, no I/O.

A query is parsed once into a `PlatePattern` (exact, prefix, contains, wildcard or fuzzy), with
a `PlatePatternError` (a ValueError) naming why a malformed one is refused. The catalog turns
exact/prefix/contains/wildcard patterns into SQL; fuzzy search scores the filtered candidates
with `plate_distance`, which plate search, watchlists and the plate benchmark all share.

The distance is a weighted edit distance: substituting characters an OCR (or a witness) mixes
up costs `LOOKALIKE_COST` (0/O/D/Q, 1/I/7/T, 8/B, 2/Z, 5/S, 6/G, and look-alike province
characters), two different Chinese characters `HANZI_COST` (the province is the hardest
character to read at low resolution), anything else 1; a missing or extra character costs
`INDEL_COST`. The groups are disjoint and the costs nest (look-alike ≤ hanzi ≤ 1), so the
substitution cost is a metric and so is the distance (symmetric, zero only for equal texts,
triangle inequality): a watchlist's "within 1.5" means the same thing in both directions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

PlateMatchMode = Literal["exact", "prefix", "contains", "wildcard", "fuzzy"]
PLATE_MATCH_MODES: tuple[PlateMatchMode, ...] = ("exact", "prefix", "contains", "wildcard", "fuzzy")
MAX_PATTERN_CHARS = 20
DEFAULT_MAX_DISTANCE = 2.0
ANY_RUN, ANY_CHAR = "*", "?"

LOOKALIKE_COST = 0.3
HANZI_COST = 0.7
INDEL_COST = 1.0
OTHER_COST = 1.0

# Characters an OCR reads for one another on plates (letters I and O never appear on Chinese
# plates, so a read I or O is nearly always a 1 or a 0). Groups are disjoint (a metric needs it).
ALNUM_LOOKALIKES: tuple[str, ...] = ("0ODQ", "1I7T", "8B", "2Z", "5S", "6G")
# Province characters and what they are misread as at low resolution (another province or a
# character of similar shape the recogniser may emit); disjoint groups.
PROVINCE_LOOKALIKES: tuple[str, ...] = (
    "鄂粤",
    "晋青",
    "沪泸",
    "浙淅",
    "冀翼",
    "闽阀",
    "鲁鱼",
    "苏芬",
    "贵责",
    "宁字",
    "吉古",
    "蒙豪",
    "皖睆",
    "湘相",
)
_GROUP_OF: dict[str, int] = {
    char: index
    for index, group in enumerate((*ALNUM_LOOKALIKES, *PROVINCE_LOOKALIKES))
    for char in group
}

# Separators people type or OCR prints between a plate's parts ("吉A·12345", "吉A 12345").
_SEPARATORS = frozenset(" \t·•・-")
_SQL_MARKERS = ("'", '"', ";", "%", "_", "\\", "--", "/*", "*/", "=")
_SQL_WORDS = re.compile(r"\b(SELECT|UNION|DROP|INSERT|DELETE|UPDATE|OR|AND|WHERE|FROM)\b")


class PlatePatternError(ValueError):
    """A plate query pattern that cannot be searched; the message says why."""


def is_hanzi(char: str) -> bool:
    """A CJK unified ideograph (province characters, suffixes like 学 警 挂 港 澳 领 使)."""
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def _is_plate_char(char: str) -> bool:
    return ("A" <= char <= "Z") or ("0" <= char <= "9") or is_hanzi(char)


@dataclass(frozen=True)
class PlatePattern:
    """A parsed plate query: normalised `text` (upper-case, no separators; `*` and `?` only in
    wildcard mode) and how it matches a plate's text."""

    text: str
    mode: PlateMatchMode
    max_distance: float = DEFAULT_MAX_DISTANCE  # fuzzy only

    def literal_chars(self) -> str:
        """The pattern's plate characters (wildcards dropped)."""
        return self.text.replace(ANY_RUN, "").replace(ANY_CHAR, "")

    def matches(self, plate_text: str) -> bool:
        """Whether `plate_text` (normalised) matches; fuzzy: within `max_distance`."""
        if self.mode == "exact":
            return plate_text == self.text
        if self.mode == "prefix":
            return plate_text.startswith(self.text)
        if self.mode == "contains":
            return self.text in plate_text
        if self.mode == "wildcard":
            return wildcard_regex(self.text).fullmatch(plate_text) is not None
        return plate_distance(self.text, plate_text) <= self.max_distance


def normalise_query(raw: str) -> str:
    """`raw` upper-cased without separators (no validation)."""
    return "".join(char for char in raw.upper() if char not in _SEPARATORS)


def parse_plate_pattern(
    raw: str, mode: str = "exact", max_distance: float = DEFAULT_MAX_DISTANCE
) -> PlatePattern:
    """Parse a user's plate query; raise PlatePatternError naming why a pattern is refused:
    empty, longer than MAX_PATTERN_CHARS, control characters, SQL-like text, brackets, a
    character that is on no plate, wildcards outside wildcard mode, or only wildcards."""
    if mode not in PLATE_MATCH_MODES:
        raise PlatePatternError(f"mode {mode!r} is not one of {list(PLATE_MATCH_MODES)}")
    if not isinstance(raw, str):
        raise PlatePatternError(f"pattern must be text, got {type(raw).__name__}")
    if len(raw) > MAX_PATTERN_CHARS:
        raise PlatePatternError(
            f"pattern is {len(raw)} characters long; at most {MAX_PATTERN_CHARS}"
        )
    control = [c for c in raw if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn")]
    if any(c != "\t" for c in control):
        raise PlatePatternError(f"pattern holds control character(s) {control!r}")
    upper = raw.upper()
    if any(marker in upper for marker in _SQL_MARKERS) or _SQL_WORDS.search(upper):
        raise PlatePatternError(
            "pattern looks like SQL (quotes, ';', '%', '_', '=', comments or SQL words); "
            "use * and ? as wildcards"
        )
    if any(c in upper for c in "[](){}"):
        opened = sum(upper.count(c) for c in "[({")
        closed = sum(upper.count(c) for c in "])}")
        why = "unbalanced brackets" if opened != closed else "brackets (character classes)"
        raise PlatePatternError(f"pattern has {why}; use ? for one character, * for any run")
    text = normalise_query(raw)
    if not text:
        raise PlatePatternError("pattern is empty")
    wildcards = {c for c in text if c in (ANY_RUN, ANY_CHAR)}
    if wildcards and mode != "wildcard":
        raise PlatePatternError(
            f"pattern has wildcard(s) {sorted(wildcards)} but mode is {mode!r}; use mode wildcard"
        )
    strange = sorted({c for c in text if not _is_plate_char(c) and c not in wildcards})
    if strange:
        raise PlatePatternError(f"pattern has character(s) {strange} that are on no plate")
    if mode == "wildcard":
        if not any(_is_plate_char(c) for c in text):
            raise PlatePatternError("pattern is only wildcards; give at least one plate character")
        text = re.sub(r"\*+", ANY_RUN, text)  # "**" is "*"
    if mode == "fuzzy" and not 0.0 <= max_distance <= MAX_PATTERN_CHARS:
        raise PlatePatternError(f"max_distance {max_distance} not in [0, {MAX_PATTERN_CHARS}]")
    return PlatePattern(text=text, mode=mode, max_distance=float(max_distance))


def wildcard_regex(pattern_text: str) -> re.Pattern[str]:
    """A regular expression matching the whole plate for a wildcard pattern (* any run, ? one)."""
    parts = [".*" if c == ANY_RUN else "." if c == ANY_CHAR else re.escape(c) for c in pattern_text]
    return re.compile("".join(parts), re.DOTALL)


# ---- the distance -------------------------------------------------------------------------


def substitution_cost(a: str, b: str) -> float:
    """What reading `b` where `a` is written costs (symmetric)."""
    if a == b:
        return 0.0
    group_a = _GROUP_OF.get(a)
    if group_a is not None and group_a == _GROUP_OF.get(b):
        return LOOKALIKE_COST
    if is_hanzi(a) and is_hanzi(b):
        return HANZI_COST
    return OTHER_COST


def _cost_table(a: str, b: str) -> list[list[float]]:
    rows, cols = len(a) + 1, len(b) + 1
    table = [[0.0] * cols for _ in range(rows)]
    for i in range(1, rows):
        table[i][0] = i * INDEL_COST
    for j in range(1, cols):
        table[0][j] = j * INDEL_COST
    for i in range(1, rows):
        for j in range(1, cols):
            table[i][j] = min(
                table[i - 1][j] + INDEL_COST,
                table[i][j - 1] + INDEL_COST,
                table[i - 1][j - 1] + substitution_cost(a[i - 1], b[j - 1]),
            )
    return table


def plate_distance(a: str, b: str) -> float:
    """The OCR-confusion-weighted edit distance between two normalised plate texts."""
    if a == b:
        return 0.0
    return round(_cost_table(a, b)[len(a)][len(b)], 6)


def plate_distance_within(a: str, b: str, max_distance: float) -> float | None:
    """`plate_distance(a, b)` when it is at most `max_distance`, else None, usually without
    filling the whole table: the length gap is a lower bound, and a row whose every cell
    already exceeds the limit ends the computation (costs only add up). Fuzzy search over
    many plates runs this (random 7-character plates against a query, limit 2: 11 µs each
    instead of 18 µs for the full table)."""
    if a == b:
        return 0.0
    limit = max_distance + 1e-9
    if abs(len(a) - len(b)) * INDEL_COST > limit:
        return None
    previous = [j * INDEL_COST for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        char_a = a[i - 1]
        current = [i * INDEL_COST]
        for j in range(1, len(b) + 1):
            current.append(
                min(
                    previous[j] + INDEL_COST,
                    current[j - 1] + INDEL_COST,
                    previous[j - 1] + substitution_cost(char_a, b[j - 1]),
                )
            )
        if min(current) > limit:
            return None
        previous = current
    distance = round(previous[-1], 6)
    return distance if distance <= limit else None


def explain_distance(query: str, plate_text: str) -> str:
    """Why `plate_text` is at its distance from `query`, e.g. "0→D look-alike; 1 missing"."""
    table = _cost_table(query, plate_text)
    i, j = len(query), len(plate_text)
    lookalikes: list[str] = []
    others: list[str] = []
    missing = extra = 0
    while i > 0 or j > 0:
        here = table[i][j]
        if i > 0 and j > 0:
            cost = substitution_cost(query[i - 1], plate_text[j - 1])
            if abs(table[i - 1][j - 1] + cost - here) < 1e-9:
                if cost == LOOKALIKE_COST:
                    lookalikes.append(f"{query[i - 1]}→{plate_text[j - 1]}")
                elif cost > 0:
                    others.append(f"{query[i - 1]}→{plate_text[j - 1]}")
                i, j = i - 1, j - 1
                continue
        if i > 0 and abs(table[i - 1][j] + INDEL_COST - here) < 1e-9:
            extra += 1  # a query character the plate lacks
            i -= 1
        else:
            missing += 1  # a plate character the query lacks
            j -= 1
    parts = []
    if lookalikes:
        parts.append(f"look-alike {', '.join(reversed(lookalikes))}")
    if others:
        parts.append(f"different {', '.join(reversed(others))}")
    if missing:
        parts.append(f"{missing} character(s) missing from the query")
    if extra:
        parts.append(f"{extra} query character(s) not on the plate")
    return "; ".join(parts) or "identical"


@dataclass(frozen=True)
class PlateScore:
    """A candidate plate's fuzzy score: the distance of its best-matching text (its read or an
    alternative) to the query, and which text that was."""

    distance: float
    matched_text: str
    is_alternative: bool


def score_plate(query: str, plate_text: str, alternatives: Iterable[str] = ()) -> PlateScore:
    """The best distance from `query` to the plate's voted text or one of its alternatives (an
    alternative is a read the vote ranked lower: the plate may still be that one)."""
    best = PlateScore(plate_distance(query, plate_text), plate_text, False)
    for alternative in alternatives:
        distance = plate_distance(query, alternative)
        if distance < best.distance:
            best = PlateScore(distance, alternative, True)
    return best


def score_plate_within(
    query: str, plate_text: str, alternatives: Iterable[str], max_distance: float
) -> PlateScore | None:
    """`score_plate` when the best distance is at most `max_distance`, else None (fast)."""
    best: PlateScore | None = None
    for text, is_alternative in ((plate_text, False), *((t, True) for t in alternatives)):
        bound = max_distance if best is None else best.distance
        distance = plate_distance_within(query, text, bound)
        if distance is not None and (best is None or distance < best.distance):
            best = PlateScore(distance, text, is_alternative)
    return best


def rank_plates(
    query: str,
    candidates: Iterable[tuple[str, Iterable[str]]],
    max_distance: float = DEFAULT_MAX_DISTANCE,
    top_k: int | None = None,
) -> list[tuple[int, PlateScore]]:
    """(candidate index, score) for candidates (text, alternatives) within `max_distance`,
    nearest first (ties keep input order); at most `top_k`."""
    scored = [
        (index, score)
        for index, (text, alternatives) in enumerate(candidates)
        if (score := score_plate_within(query, text, alternatives, max_distance)) is not None
    ]
    scored.sort(key=lambda item: (item[1].distance, item[0]))
    return scored if top_k is None else scored[:top_k]
