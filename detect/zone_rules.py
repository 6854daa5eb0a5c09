"""Zone rules for city management and the violations they produce (issue #13).

A `ZoneRule` says what a zone forbids (its kind), when (a schedule in the camera's local time
zone), for how long an occupation may last before it counts (`min_dwell_s`), how readily
stationary things count (`sensitivity`) and which object classes take part. The violation
detector (detect/violations.py) turns analysed frames into `ViolationUpdate`s; the index stage
stores them as events. These are the detect stage's values: the catalog stores zones and their
rules, and converts them to `ZoneRule` for the detector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from detect.detections import COCO_CLASSES

ZoneKind = Literal[
    "generic", "no_vending", "sidewalk", "roadway", "fire_lane", "restricted_vehicles"
]
ZONE_KINDS: tuple[ZoneKind, ...] = (
    "generic", "no_vending", "sidewalk", "roadway", "fire_lane", "restricted_vehicles",
)  # fmt: skip
ViolationKind = Literal["street_vending", "fire_lane_occupation", "restricted_vehicle"]
VIOLATION_KINDS: tuple[ViolationKind, ...] = (
    "street_vending", "fire_lane_occupation", "restricted_vehicle",
)  # fmt: skip
Severity = Literal["low", "medium", "high"]
UpdatePhase = Literal["opened", "updated", "ended"]

# Objects that stand in for a stall: what the COCO detector can see of one.
STALL_PROXIES: frozenset[str] = frozenset(
    {"umbrella", "chair", "bench", "dining table", "potted plant", "suitcase", "handbag",
     "backpack", "bicycle", "motorcycle", "car", "truck"}
)  # fmt: skip
VEHICLES: frozenset[str] = frozenset({"car", "truck", "bus", "motorcycle"})
# Which classes take part in each kind of zone unless the rule names its own.
DEFAULT_RULE_CLASSES: dict[ZoneKind, frozenset[str]] = {
    "generic": frozenset(),  # a plain zone (search filters): no violation rule
    "no_vending": STALL_PROXIES | {"person"},
    "sidewalk": STALL_PROXIES | {"person"},
    "roadway": STALL_PROXIES | {"person"},
    "fire_lane": VEHICLES,
    "restricted_vehicles": frozenset({"truck"}),
}
DEFAULT_MIN_DWELL_S = 300.0
WEEK = frozenset(range(7))  # Monday = 0


@dataclass(frozen=True)
class TimeWindow:
    """From `start` to `end` local time; an `end` at or before `start` runs past midnight
    (22:00-06:00), and 00:00-00:00 is the whole day."""

    start: time
    end: time

    def contains(self, at: time) -> bool:
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """`HH:MM-HH:MM`; ValueError naming the text otherwise."""
        try:
            first, last = text.split("-")
            return cls(time.fromisoformat(first.strip()), time.fromisoformat(last.strip()))
        except ValueError as error:
            raise ValueError(f"time window {text!r} is not HH:MM-HH:MM") from error

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Schedule:
    """When a rule applies: on `days` (0 = Monday), within any of `windows` (none: all day).
    The default is always. A window past midnight belongs to the day it starts on."""

    days: frozenset[int] = WEEK
    windows: tuple[TimeWindow, ...] = ()

    def __post_init__(self) -> None:
        if not self.days or not self.days <= WEEK:
            raise ValueError(f"schedule days must be a non-empty subset of 0-6, got {self.days}")

    @property
    def always(self) -> bool:
        return self.days == WEEK and not self.windows

    def active_at(self, at: datetime, timezone: str) -> bool:
        """True when the aware time `at` falls inside the schedule in `timezone`."""
        local = at.astimezone(ZoneInfo(timezone))
        if not self.windows:
            return local.weekday() in self.days
        for window in self.windows:
            if not window.contains(local.time()):
                continue
            starts_today = window.start < window.end or local.time() >= window.start
            weekday = local.weekday() if starts_today else (local.weekday() - 1) % 7
            if weekday in self.days:
                return True
        return False


ALWAYS = Schedule()


def check_timezone(name: str) -> str:
    """An IANA time zone name; ValueError naming it otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        message = f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)"
        raise ValueError(message) from error
    return name


@dataclass(frozen=True)
class ZoneRule:
    """A zone's rule as the detector applies it; `polygon` vertices are fractions of the frame's
    width and height; `classes` empty: the kind's defaults."""

    zone_id: int
    camera_id: str
    zone_name: str
    polygon: tuple[tuple[float, float], ...]
    kind: ZoneKind = "generic"
    schedule: Schedule = ALWAYS
    min_dwell_s: float = DEFAULT_MIN_DWELL_S
    sensitivity: float = 0.5  # 0..1: higher counts smaller / shorter-lived stationary things
    classes: frozenset[str] = frozenset()
    timezone: str = "UTC"  # the camera's local time zone

    def __post_init__(self) -> None:
        if self.kind not in ZONE_KINDS:
            raise ValueError(f"kind must be one of {ZONE_KINDS}, got {self.kind!r}")
        if not 0.0 <= self.sensitivity <= 1.0:
            raise ValueError(f"sensitivity must be within 0..1, got {self.sensitivity}")
        if not 0.0 <= self.min_dwell_s <= 24 * 3600:
            raise ValueError(f"min_dwell_s must be within 0..86400, got {self.min_dwell_s}")
        unknown = sorted(self.classes - set(COCO_CLASSES))
        if unknown:
            raise ValueError(f"classes: unknown class name(s) {unknown}")
        check_timezone(self.timezone)

    @property
    def counted_classes(self) -> frozenset[str]:
        return self.classes or DEFAULT_RULE_CLASSES[self.kind]


@dataclass(frozen=True)
class Snapshot:
    """One evidence picture: the frame at `at` with the zone and the boxes drawn in (JPEG)."""

    at: datetime
    jpeg: bytes = field(repr=False)


@dataclass(frozen=True)
class ViolationUpdate:
    """A violation as the detector sees it now: `opened` once, `updated` while it goes on
    (new track ids, a new middle snapshot), `ended` when it stopped (or the schedule closed).

    `local_track_ids` are the tracker's ids on this camera (the catalog's tracks are found by
    camera, local id and time); `snapshots` are the new evidence pictures of this update.
    """

    camera_id: str
    zone_id: int
    kind: ViolationKind
    phase: UpdatePhase
    started_at: datetime
    last_seen_at: datetime
    severity: Severity
    local_track_ids: tuple[int, ...] = ()
    snapshots: tuple[Snapshot, ...] = ()
