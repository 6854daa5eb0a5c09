"""Zone rules as the catalog stores and checks them (issue #13): `ZoneRuleSpec` and its schedule.

A zone's rule is the detect stage's `ZoneRule` less what the zone and camera already hold
(polygon, names, time zone); `Zone.rule` carries it and `zone_rule` (zones.py) joins the two.
A schedule is stored as {"days": [0..6], "windows": ["07:00-22:00", ...]} (Monday = 0; no
windows: all day; no schedule at all: always) and written by people as text, "mon-fri
07:00-22:00; sat,sun 09:00-18:00" or "always". Every check raises `RuleError`, a ValueError
whose message starts with the field at fault ("schedule: ...").
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from itertools import pairwise
from typing import Any, cast

from detect.detections import COCO_CLASSES
from detect.zone_rules import (
    ALWAYS,
    DEFAULT_MIN_DWELL_S,
    WEEK,
    ZONE_KINDS,
    Schedule,
    TimeWindow,
    ZoneKind,
)

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_A_DAY = 24 * 60
MAX_WINDOWS = 16
MAX_DWELL_S = 24 * 3600.0


class RuleError(ValueError):
    """A zone rule field is invalid; `field` names it and the message starts with it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


def window_spans(window: TimeWindow) -> list[tuple[int, int]]:
    """The window as [start, end) minute spans within one day (two when it passes midnight)."""
    start, end = _minutes(window.start), _minutes(window.end)
    if start < end:
        return [(start, end)]
    return [(start, MINUTES_A_DAY), (0, end)] if end else [(start, MINUTES_A_DAY)]


def check_windows(windows: Sequence[TimeWindow]) -> tuple[TimeWindow, ...]:
    """The windows if none overlaps another (RuleError naming the pair otherwise); a window
    past midnight is checked as its two parts, so 22:00-06:00 clashes with 05:00-07:00."""
    if len(windows) > MAX_WINDOWS:
        raise RuleError("schedule", f"at most {MAX_WINDOWS} time windows, got {len(windows)}")
    for window in windows:
        if window.start == window.end and _minutes(window.start) != 0:
            raise RuleError("schedule", f"time window {window} is empty (use 00:00-00:00)")
    spans = sorted((span, str(window)) for window in windows for span in window_spans(window))
    for (first, first_text), (second, second_text) in pairwise(spans):
        if second[0] < first[1]:
            raise RuleError("schedule", f"time windows {first_text} and {second_text} overlap")
    return tuple(windows)


def check_schedule(schedule: Schedule) -> Schedule:
    """The schedule if its days are a non-empty subset of 0-6 and its windows do not overlap."""
    if not schedule.days or not schedule.days <= WEEK:
        raise RuleError("schedule", "needs at least one day of 0-6 (Monday = 0)")
    check_windows(schedule.windows)
    return schedule


def _parse_window(text: str) -> TimeWindow:
    try:
        window = TimeWindow.parse(text)
    except ValueError as error:
        raise RuleError("schedule", str(error)) from None
    if window.start.second or window.end.second or window.start.microsecond:
        raise RuleError("schedule", f"time window {text!r} must be HH:MM-HH:MM")
    return window


def schedule_from_document(document: Mapping[str, Any] | None) -> Schedule:
    """A schedule from its stored form {"days": [...], "windows": [...]} (None: always)."""
    if document is None:
        return ALWAYS
    if not isinstance(document, Mapping) or set(document) - {"days", "windows"}:
        raise RuleError("schedule", 'must be {"days": [0..6], "windows": ["HH:MM-HH:MM", ...]}')
    days = document.get("days", sorted(WEEK))
    windows = document.get("windows", [])
    if not isinstance(days, list) or not all(type(d) is int and 0 <= d <= 6 for d in days):
        raise RuleError("schedule", f"days must be a list of 0-6 (Monday = 0), got {days!r}")
    if not days:
        raise RuleError("schedule", "is empty: needs at least one day")
    if not isinstance(windows, list) or not all(isinstance(w, str) for w in windows):
        raise RuleError("schedule", f"windows must be a list of 'HH:MM-HH:MM', got {windows!r}")
    schedule = Schedule(frozenset(days), tuple(_parse_window(w) for w in windows))
    return check_schedule(schedule)


def schedule_to_document(schedule: Schedule) -> dict[str, Any] | None:
    """The stored form (None for always)."""
    if schedule.always:
        return None
    return {"days": sorted(schedule.days), "windows": [str(w) for w in schedule.windows]}


def _parse_days(text: str) -> set[int]:
    days: set[int] = set()
    for part in text.split(","):
        ends = [name.strip().lower()[:3] for name in part.split("-")]
        if len(ends) > 2 or not all(name in DAY_NAMES for name in ends):
            raise RuleError("schedule", f"unknown day(s) {part!r}: use mon..sun, e.g. 'mon-fri'")
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        days.update(
            range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
        )
    return days


def parse_schedule_text(text: str) -> Schedule:
    """`always`, "DAYS [HH:MM-HH:MM ...]" ("mon-fri 07:00-22:00", "sat,sun", "07:00-09:00
    17:00-19:00" for every day) or such clauses joined by ";" with the same windows (a
    schedule is one set of days times one set of windows); RuleError naming the problem."""
    stripped = text.strip().lower()
    if stripped in ("", "always"):
        if not stripped:
            raise RuleError("schedule", "is empty: use 'always' or e.g. 'mon-fri 07:00-22:00'")
        return ALWAYS
    days: set[int] = set()
    windows: list[TimeWindow] | None = None
    for clause in stripped.split(";"):
        words = clause.split()
        if not words:
            raise RuleError("schedule", f"empty clause in {text!r}")
        if words[0][0].isdigit():  # windows only: every day
            clause_days, clause_windows = set(WEEK), words
        else:
            clause_days, clause_windows = _parse_days(words[0]), words[1:]
        parsed = [_parse_window(w) for w in clause_windows]
        if windows is not None and parsed != windows:
            raise RuleError(
                "schedule", "every clause must have the same time windows (one schedule a zone)"
            )
        days |= clause_days
        windows = parsed
    return check_schedule(Schedule(frozenset(days), tuple(windows or ())))


def schedule_text(schedule: Schedule) -> str:
    """The schedule as people write it ("always", "mon,tue,wed 07:00-22:00")."""
    if schedule.always:
        return "always"
    days = ",".join(DAY_NAMES[d] for d in sorted(schedule.days))
    return " ".join([days, *(str(w) for w in schedule.windows)])


@dataclass(frozen=True)
class ZoneRuleSpec:
    """A zone's rule as stored: what it forbids (`kind`), when, after how long, how readily,
    and which classes take part (empty: the kind's defaults). A plain `generic` zone has no
    violation rule and serves search filters only."""

    kind: ZoneKind = "generic"
    schedule: Schedule = ALWAYS
    min_dwell_s: float = DEFAULT_MIN_DWELL_S
    sensitivity: float = 0.5
    classes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in ZONE_KINDS:
            raise RuleError("kind", f"must be one of {list(ZONE_KINDS)}, got {self.kind!r}")
        check_schedule(self.schedule)
        dwell = self.min_dwell_s
        if not (isinstance(dwell, int | float) and math.isfinite(dwell)):
            raise RuleError("min_dwell_s", f"must be a number of seconds, got {dwell!r}")
        if not 0 <= dwell <= MAX_DWELL_S:
            raise RuleError("min_dwell_s", f"must be within 0..{MAX_DWELL_S:.0f} s, got {dwell}")
        sensitivity = self.sensitivity
        if not (isinstance(sensitivity, int | float) and 0.0 <= sensitivity <= 1.0):
            raise RuleError("sensitivity", f"must be within 0..1, got {sensitivity!r}")
        unknown = sorted(self.classes - set(COCO_CLASSES))
        if unknown:
            raise RuleError("classes", f"unknown class name(s) {unknown}")

    @classmethod
    def checked(
        cls,
        kind: str,
        schedule: Schedule = ALWAYS,
        min_dwell_s: float = DEFAULT_MIN_DWELL_S,
        sensitivity: float = 0.5,
        classes: Collection[str] = (),
    ) -> ZoneRuleSpec:
        """A spec from loosely typed input (API bodies, CLI options), RuleError on any field."""
        if kind not in ZONE_KINDS:
            raise RuleError("kind", f"must be one of {list(ZONE_KINDS)}, got {kind!r}")
        names = frozenset(name.strip() for name in classes)
        return cls(cast(ZoneKind, kind), schedule, float(min_dwell_s), float(sensitivity), names)


DEFAULT_ZONE_RULE = ZoneRuleSpec()
