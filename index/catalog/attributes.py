"""Track attribute filters: the vocabulary a query may use and matching against stored attributes.

The catalog stores each track's attributes as a JSON document and a `TrackQuery` carries an
`AttributeFilter`; the catalog's track search matches them (in Python, so the same code runs on
SQLite and PostgreSQL whatever shape the attributes take).

A track's `attributes` (written by the track finalizer) hold one entry per attribute. Accepted
shapes, so that readers do not depend on one writer's layout::

    {"colour": {"value": "red", "confidence": 0.82}}          # value + confidence
    {"colour": "red", "colour_confidence": 0.82}              # flat value, sibling confidence
    {"colour": "red", "confidences": {"colour": 0.82}}        # flat value, confidence map
    {"colour": "red"}                                         # no confidence (taken as 1)

The stationary flag takes the same shapes with a bool value. Dwell (`dwell_s`) and mean speed
(`mean_speed_px_s`, image pixels per second) are plain numbers filtered by inclusive ranges.
Carried objects (`carrying`) map each carried class to the share of the track's frames it was
seen on, which is its confidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from detect.attributes import PALETTE, SECTORS
from detect.detections import PERSON_CLASSES as PERSON_CLASSES  # re-exported for search_api
from detect.detections import VEHICLE_TYPES
from detect.track_builder import CARRIED_CLASSES

# The vocabulary detect/attributes.py writes: its palette, vehicle classes and 8 sectors.
COLOURS: tuple[str, ...] = PALETTE
# Hues the attribute writer folds into its palette, and common spellings.
COLOUR_SYNONYMS: dict[str, str] = {"gray": "grey", "pink": "red", "purple": "red"}
DIRECTIONS: tuple[str, ...] = (*SECTORS, "none")

ATTRIBUTE_VOCABULARY: dict[str, tuple[str, ...]] = {
    "colour": COLOURS,
    "upper_colour": COLOURS,
    "lower_colour": COLOURS,
    "vehicle_type": VEHICLE_TYPES,
    "direction": DIRECTIONS,
    "compass": SECTORS,
}
SECTOR_KEYS = frozenset({"direction", "compass"})
# Stored measurement → the filter's (minimum, maximum) fields.
RANGE_KEYS: dict[str, tuple[str, str]] = {
    "dwell_s": ("min_dwell_s", "max_dwell_s"),
    "mean_speed_px_s": ("min_speed_px_s", "max_speed_px_s"),
}


def normalise_term(key: str, value: str) -> str:
    """`value` as the vocabulary spells it; ValueError naming `key` when it is not known."""
    term = value.strip().lower()
    if key in ("colour", "upper_colour", "lower_colour"):
        term = COLOUR_SYNONYMS.get(term, term)
    if key in SECTOR_KEYS and term != "none":
        term = term.upper()
    allowed = ATTRIBUTE_VOCABULARY[key]
    if term not in allowed:
        raise ValueError(f"{key}: {value!r} is not one of {list(allowed)}")
    return term


def stored_entry(attributes: Mapping[str, Any], key: str) -> tuple[Any, float] | None:
    """The stored value for `key` in any accepted shape and its confidence, or None if absent."""
    entry = attributes.get(key)
    if entry is None:
        return None
    if isinstance(entry, Mapping):
        value = entry.get("value", entry.get("label"))
        confidence = entry.get("confidence", entry.get("score", 1.0))
    else:
        value = entry
        confidences = attributes.get("confidences")
        confidence = attributes.get(f"{key}_confidence", 1.0)
        if isinstance(confidences, Mapping) and key in confidences:
            confidence = confidences[key]
    try:
        return value, float(confidence)
    except (TypeError, ValueError):
        return value, 1.0


def attribute_value(attributes: Mapping[str, Any], key: str) -> tuple[str, float] | None:
    """The stored value (lower case) and its confidence for `key`, or None if absent."""
    stored = stored_entry(attributes, key)
    if stored is None or isinstance(stored[0], bool) or not isinstance(stored[0], str):
        return None
    return stored[0], stored[1]


def flag_value(attributes: Mapping[str, Any], key: str) -> tuple[bool, float] | None:
    """A stored true/false attribute (e.g. `stationary`) and its confidence, or None."""
    stored = stored_entry(attributes, key)
    if stored is None or not isinstance(stored[0], bool):
        return None
    return stored[0], stored[1]


def measurement(attributes: Mapping[str, Any], key: str) -> float | None:
    """A stored number (e.g. `dwell_s`), or None when absent or not a number."""
    value = attributes.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def carried_share(attributes: Mapping[str, Any], name: str) -> float | None:
    """The share of frames a track was seen carrying `name`, or None when it never was."""
    carrying = attributes.get("carrying")
    if not isinstance(carrying, Mapping):
        return None
    share = carrying.get(name)
    return float(share) if isinstance(share, int | float) and not isinstance(share, bool) else None


def same_or_adjacent_sector(stored: str, wanted: str) -> bool:
    """Headings match within one 45° sector either side ("going left" covers NW, W and SW)."""
    if stored not in SECTORS or wanted not in SECTORS:
        return stored == wanted
    steps = abs(SECTORS.index(stored) - SECTORS.index(wanted)) % len(SECTORS)
    return min(steps, len(SECTORS) - steps) <= 1


def values_match(key: str, stored: str, wanted: str) -> bool:
    if key in SECTOR_KEYS:
        return same_or_adjacent_sector(stored if stored == "none" else stored.upper(), wanted)
    stored = COLOUR_SYNONYMS.get(stored.lower(), stored.lower())
    # Cameras rarely tell silver from grey: either one matches the other.
    return stored == wanted or {stored, wanted} == {"grey", "silver"}


@dataclass(frozen=True)
class AttributeFilter:
    """Wanted attribute values; None leaves an attribute unrestricted."""

    colour: str | None = None
    vehicle_type: str | None = None
    upper_colour: str | None = None
    lower_colour: str | None = None
    direction: str | None = None
    compass: str | None = None
    stationary: bool | None = None
    carrying: str | None = None  # one of CARRIED_CLASSES
    min_dwell_s: float | None = None
    max_dwell_s: float | None = None
    min_speed_px_s: float | None = None
    max_speed_px_s: float | None = None
    min_confidence: float = 0.0

    def __post_init__(self) -> None:
        for key, value in self.wanted().items():
            object.__setattr__(self, key, normalise_term(key, value))
        if self.carrying is not None:
            carried = self.carrying.strip().lower()
            if carried not in CARRIED_CLASSES:
                allowed = list(CARRIED_CLASSES)
                raise ValueError(f"carrying: {self.carrying!r} is not one of {allowed}")
            object.__setattr__(self, "carrying", carried)
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence: {self.min_confidence} not in [0, 1]")
        for low_name, high_name in RANGE_KEYS.values():
            low, high = getattr(self, low_name), getattr(self, high_name)
            for name, bound in ((low_name, low), (high_name, high)):
                if bound is not None and bound < 0:
                    raise ValueError(f"{name}: {bound} is negative")
            if low is not None and high is not None and low > high:
                raise ValueError(f"{high_name}: {high} is below {low_name} {low}")

    def wanted(self) -> dict[str, str]:
        """The restricted attributes and their wanted values."""
        return {
            f.name: value
            for f in fields(self)
            if f.name in ATTRIBUTE_VOCABULARY and isinstance(value := getattr(self, f.name), str)
        }

    def ranges(self) -> dict[str, tuple[float | None, float | None]]:
        """The restricted measurements (stored key → (minimum, maximum), None: open)."""
        out = {}
        for key, (low_name, high_name) in RANGE_KEYS.items():
            low, high = getattr(self, low_name), getattr(self, high_name)
            if low is not None or high is not None:
                out[key] = (low, high)
        return out

    def is_empty(self) -> bool:
        flags = (self.stationary, self.carrying)
        return not self.wanted() and flags == (None, None) and not self.ranges()

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = dict(self.wanted())
        if self.stationary is not None:
            out["stationary"] = self.stationary
        if self.carrying is not None:
            out["carrying"] = self.carrying
        for low_name, high_name in RANGE_KEYS.values():
            for name in (low_name, high_name):
                if getattr(self, name) is not None:
                    out[name] = getattr(self, name)
        return out

    def match(self, attributes: Mapping[str, Any]) -> dict[str, float] | None:
        """Confidence of each wanted attribute when all match, else None (a measurement in
        range counts with confidence 1)."""
        matched: dict[str, float] = {}
        if self.stationary is not None:
            flag = flag_value(attributes, "stationary")
            if flag is None or flag[0] is not self.stationary or flag[1] < self.min_confidence:
                return None
            matched["stationary"] = round(flag[1], 4)
        if self.carrying is not None:
            share = carried_share(attributes, self.carrying)
            if share is None or share < self.min_confidence:
                return None
            matched["carrying"] = round(share, 4)
        for key, (low, high) in self.ranges().items():
            number = measurement(attributes, key)
            if number is None or (low is not None and number < low):
                return None
            if high is not None and number > high:
                return None
            matched[key] = 1.0
        for key, wanted in self.wanted().items():
            stored = attribute_value(attributes, key)
            if stored is None:
                return None
            value, confidence = stored
            if not values_match(key, value, wanted):
                return None
            if confidence < self.min_confidence:
                return None
            matched[key] = round(confidence, 4)
        return matched
