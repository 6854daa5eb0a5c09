"""The violation engine: a camera's analysed frames + its zone rules → `ViolationUpdate`s.

Per zone it keeps *stayers*: things seen with their foot point (box bottom centre) inside the
zone, each anchored where it was first seen. An observation within the stationarity radius of
a stayer's anchor (a fraction of the anchor box's size, larger with sensitivity) renews it; a
stayer not seen for `absence_tolerance_s` is gone. So a stayer's age says how long something
has stood still there, short absences (occlusion, a missed detection, a lost track) included,
and a passer-by makes only short-lived stayers. Stayers come from tracked persons and
vehicles, from the detector's stall-proxy classes that are not tracked (umbrella, chair, …:
matched by place, not id) and, in vending zones, from the static-foreground model
(detect/static_foreground.py, one per camera).

Rules (each only while the zone's schedule is active; dwell is counted inside the schedule):
- `no_vending`, `sidewalk`, `roadway` → `street_vending` once a person who stays (older than
  `person_still_s`) and an object that stays (a stall proxy older than `object_still_s`, not
  carried by a person, or static foreground) have been there together for `min_dwell_s` (the
  goods hold the stall while the vendor is away up to `vendor_away_s`); the violation goes on
  while anything of the cluster stays;
- `fire_lane` → `fire_lane_occupation` once a vehicle has stood for `min_dwell_s`;
- `restricted_vehicles` → `restricted_vehicle` the moment a tracked truck is inside (no dwell);
  a car whose box spans `truck_length_frac` of the zone's width counts as a truck (the detector
  calls a pickup "car" on most frames; a truck is longer than a car in the same lane).
A violation ends when its cluster has been gone for `absence_tolerance_s` or the schedule
closes. Snapshots: at opening, the middle one and the last sighting, at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import cv2
import numpy as np

from detect.detections import COCO_CLASSES, DEFAULT_CLASSES, Detections
from detect.static_foreground import StaticBlob, StaticForeground
from detect.violation_evidence import EvidenceFrame, EvidenceFrames
from detect.zone_rules import (
    STALL_PROXIES,
    Severity,
    ViolationKind,
    ViolationUpdate,
    ZoneKind,
    ZoneRule,
)

VENDING_KINDS: frozenset[ZoneKind] = frozenset({"no_vending", "sidewalk", "roadway"})
# Classes the detector returns for the rules only: never tracked, never track records.
SIDE_CLASSES: tuple[str, ...] = tuple(sorted(STALL_PROXIES - set(DEFAULT_CLASSES)))
_SIDE_IDS = np.array([COCO_CLASSES.index(name) for name in SIDE_CLASSES], np.int64)
CARRIED = frozenset({"handbag", "backpack", "suitcase", "umbrella"})
_GROUP = {"car": "vehicle", "truck": "vehicle", "bus": "vehicle", "bicycle": "cycle",
          "motorcycle": "cycle", "person": "person", "static": "static"}  # fmt: skip
STATIC = "static"  # the class name of static-foreground stayers
PEOPLE_MEMORY_S = 6.0
_KIND_OF_ZONE: dict[ZoneKind, ViolationKind] = {
    "no_vending": "street_vending", "sidewalk": "street_vending", "roadway": "street_vending",
    "fire_lane": "fire_lane_occupation", "restricted_vehicles": "restricted_vehicle",
}  # fmt: skip
_SEVERITY: dict[ViolationKind, Severity] = {
    "street_vending": "medium", "fire_lane_occupation": "high", "restricted_vehicle": "high",
}  # fmt: skip


def split_side_detections(detections: Detections) -> tuple[Detections, Detections]:
    """(what the tracker gets, the side classes for the rules alone)."""
    side = np.isin(detections.class_id, _SIDE_IDS)
    if not side.any():
        return detections, Detections.empty()
    return detections[~side], detections[side]


@dataclass(frozen=True)
class ViolationSettings:
    """Timings of the violation detector (sensitivity scales the stillness and the radius)."""

    absence_tolerance_s: float = 30.0
    # A stall's goods keep the vendor's place: while they stay, a vendor away for less than
    # this (fetching stock, serving round the corner) does not restart the dwell.
    vendor_away_s: float = 120.0
    # The static-foreground model (most of the engine's cost) looks at most once a second:
    # what it finds must stay still for many seconds anyway, and it times by real seconds.
    static_interval_s: float = 1.0
    person_still_s: float = 20.0
    object_still_s: float = 20.0
    vehicle_still_s: float = 10.0
    radius_frac: float = 0.6  # of the anchor box's larger side, at sensitivity 0.5
    vehicle_radius_frac: float = 0.25
    # In a restricted_vehicles zone a "car" box at least this share of the zone's width is a
    # truck (chosen on the tune truck crossings: cars span ≤ 0.48, pickups ≥ 0.63 at their
    # longest; the detector called those pickups "car" on 90-100 % of their frames).
    truck_length_frac: float = 0.6


@dataclass
class _Stayer:
    class_name: str
    anchor_foot: tuple[float, float]
    anchor_size_px: float
    since_s: float
    last_seen_s: float
    xyxy: tuple[float, float, float, float]
    track_ids: set[int] = field(default_factory=set)

    def age_s(self) -> float:
        return self.last_seen_s - self.since_s


@dataclass
class _Open:
    """An open violation of a zone."""

    started_s: float
    started_at: datetime
    last_seen_s: float
    last_seen_at: datetime
    track_ids: set[int]
    evidence: EvidenceFrames
    last_sighting: EvidenceFrame


def _foot(xyxy: Sequence[float]) -> tuple[float, float]:
    return ((xyxy[0] + xyxy[2]) / 2.0, float(xyxy[3]))


def _size(xyxy: Sequence[float]) -> float:
    return max(xyxy[2] - xyxy[0], xyxy[3] - xyxy[1], 4.0)


@dataclass(frozen=True)
class _Seen:
    class_name: str
    xyxy: tuple[float, float, float, float]
    track_id: int | None
    still_s: float = 0.0  # how long it had stood still when first seen (static foreground)


class _Zone:
    """One zone's rule, stayers and open violation."""

    def __init__(self, rule: ZoneRule, settings: ViolationSettings) -> None:
        self.rule = rule
        self.settings = settings
        self.kind = _KIND_OF_ZONE.get(rule.kind)
        self.polygon_px = np.zeros((0, 2), np.float32)
        self._frame_wh = (0, 0)
        self.stayers: list[_Stayer] = []
        self.schedule_since_s: float | None = None
        self.cluster_since_s: float | None = None
        self.cluster_last_s: float | None = None
        self.vendor_last_s: float | None = None  # a staying person last part of the cluster
        self.open: _Open | None = None
        scale = 0.5 + rule.sensitivity  # 0.5..1.5, 1 at the default sensitivity
        self.radius_frac = settings.radius_frac * scale
        self.vehicle_radius_frac = settings.vehicle_radius_frac * scale
        self.still_factor = 2.0 ** (1.0 - 2.0 * rule.sensitivity)  # 2..0.5, 1 at 0.5

    def fit(self, width_px: int, height_px: int) -> None:
        if (width_px, height_px) != self._frame_wh:
            self._frame_wh = (width_px, height_px)
            points = np.asarray(self.rule.polygon, np.float32) * (width_px, height_px)
            self.polygon_px = points.astype(np.float32)

    def inside(self, xyxy: Sequence[float]) -> bool:
        if len(self.polygon_px) < 3:
            return False
        return cv2.pointPolygonTest(self.polygon_px, _foot(xyxy), False) >= 0

    def observe(self, seen: list[_Seen], now_s: float) -> None:
        """Renew or start stayers with what is inside the zone now; drop the long gone.

        A tracked thing renews its own track's stayer while it stays within the radius of the
        anchor and re-anchors it (age 0) when it moves further: a stream of passers-by along
        one path never makes an old stayer. A new track id (an id switch after an occlusion)
        and an untracked box take over a stayer of their group at that place that was not seen
        in this frame."""
        counted = self.rule.counted_classes | {STATIC}
        if self.kind == "restricted_vehicle" and "truck" in counted:
            seen = [self._long_vehicle(i) for i in seen]
        inside = [i for i in seen if i.class_name in counted and self.inside(i.xyxy)]
        by_track = {t: n for n, s in enumerate(self.stayers) for t in s.track_ids}
        free = list(range(len(self.stayers)))
        known = [i for i in inside if i.track_id in by_track]
        for item in known:
            index = by_track[item.track_id]  # type: ignore[index]
            if index in free:
                free.remove(index)
            stayer = self.stayers[index]
            if not self._near(item, stayer):
                stayer.anchor_foot, stayer.anchor_size_px = _foot(item.xyxy), _size(item.xyxy)
                stayer.since_s = now_s
            stayer.last_seen_s, stayer.xyxy = now_s, item.xyxy
        for item in inside:
            if item.track_id in by_track:
                continue
            best = self._match(item, free)
            if best is None:  # static foreground is found only after standing still a while
                size, since_s = _size(item.xyxy), now_s - item.still_s
                stayer = _Stayer(
                    item.class_name, _foot(item.xyxy), size, since_s, now_s, item.xyxy
                )
                self.stayers.append(stayer)
            else:
                free.remove(best)
                stayer = self.stayers[best]
                stayer.last_seen_s, stayer.xyxy = now_s, item.xyxy
            if item.track_id is not None:
                stayer.track_ids.add(item.track_id)
        tolerance = self.settings.absence_tolerance_s
        self.stayers = [s for s in self.stayers if now_s - s.last_seen_s <= tolerance]

    def _long_vehicle(self, item: _Seen) -> _Seen:
        """A car as long as a truck in this lane is a truck."""
        if item.class_name != "car" or len(self.polygon_px) < 3:
            return item
        zone_width_px = float(np.ptp(self.polygon_px[:, 0]))
        if item.xyxy[2] - item.xyxy[0] < self.settings.truck_length_frac * zone_width_px:
            return item
        return _Seen("truck", item.xyxy, item.track_id)

    def _near(self, item: _Seen, stayer: _Stayer) -> bool:
        group = _GROUP.get(item.class_name, "object")
        frac = self.vehicle_radius_frac if group == "vehicle" else self.radius_frac
        distance = float(np.hypot(*(np.array(_foot(item.xyxy)) - stayer.anchor_foot)))
        return distance <= frac * stayer.anchor_size_px

    def _match(self, item: _Seen, free: list[int]) -> int | None:
        group = _GROUP.get(item.class_name, "object")
        frac = self.vehicle_radius_frac if group == "vehicle" else self.radius_frac
        foot = np.array(_foot(item.xyxy))
        best, best_distance = None, np.inf
        for index in free:
            stayer = self.stayers[index]
            if _GROUP.get(stayer.class_name, "object") != group:
                continue
            distance = float(np.hypot(*(foot - stayer.anchor_foot)))
            if distance <= frac * stayer.anchor_size_px and distance < best_distance:
                best, best_distance = index, distance
        return best

    def vendor_away(self, now_s: float) -> bool:
        """A staying person was part of the stall less than `vendor_away_s` ago."""
        last_s = self.vendor_last_s
        return last_s is not None and now_s - last_s <= self.settings.vendor_away_s

    def qualifying(self, now_s: float) -> tuple[list[_Stayer], float | None]:
        """The stayers that make the zone's violation now and since when they have (None:
        nothing qualifies)."""
        cfg, rule, factor = self.settings, self.rule, self.still_factor
        if self.kind == "street_vending":
            people = [
                s for s in self.stayers
                if s.class_name == "person" and s.age_s() >= cfg.person_still_s * factor
            ]  # fmt: skip
            things = [
                s for s in self.stayers
                if s.class_name != "person" and s.age_s() >= cfg.object_still_s * factor
            ]  # fmt: skip
            if self.open is not None and (people or things):  # going on: what still stays
                return people + things, self.open.started_s
            # Things there long before the people (a bench, a planter) are street furniture,
            # not a stall's goods: people waiting beside them are not vending.
            arrived_s = min((s.since_s for s in people), default=self.cluster_since_s)
            if arrived_s is not None:
                things = [s for s in things if s.since_s >= arrived_s - cfg.vendor_away_s]
            if people and things:
                self.vendor_last_s = now_s
            elif things and self.cluster_since_s is not None and self.vendor_away(now_s):
                return things, self.cluster_since_s  # the goods hold the stall meanwhile
            if not people or not things:
                return [], None
            since = max(min(s.since_s for s in people), min(s.since_s for s in things))
            return people + things, since
        if self.kind == "fire_lane_occupation":
            vehicles = [
                s for s in self.stayers
                if _GROUP.get(s.class_name) in ("vehicle", "cycle")
                and s.age_s() >= cfg.vehicle_still_s * factor
            ]  # fmt: skip
            return vehicles, (min(s.since_s for s in vehicles) if vehicles else None)
        if self.kind == "restricted_vehicle":
            trucks = [
                s for s in self.stayers
                if s.class_name in rule.counted_classes and s.track_ids and s.last_seen_s == now_s
            ]  # fmt: skip
            return trucks, (min(s.last_seen_s for s in trucks) if trucks else None)
        return [], None


class ViolationDetector:
    """One camera's rules applied to its analysed frames (call from one thread at a time)."""

    def __init__(
        self,
        camera_id: str,
        rules: Iterable[ZoneRule] = (),
        settings: ViolationSettings | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.settings = settings or ViolationSettings()
        self._zones: dict[int, _Zone] = {}
        self._static: StaticForeground | None = None
        self._static_blobs: list[StaticBlob] = []
        self._static_at_s: float | None = None
        self._people: list[tuple[float, np.ndarray]] = []
        self.set_rules(rules)

    @property
    def rules(self) -> tuple[ZoneRule, ...]:
        return tuple(zone.rule for zone in self._zones.values())

    def set_rules(self, rules: Iterable[ZoneRule]) -> list[ViolationUpdate]:
        """Replace the rules; zones whose rule is unchanged keep their state, the others' open
        violations end now (returned)."""
        wanted = {rule.zone_id: rule for rule in rules if rule.kind != "generic"}
        ended: list[ViolationUpdate] = []
        for zone_id, zone in list(self._zones.items()):
            if wanted.get(zone_id) != zone.rule:
                ended += self._end(zone)
                del self._zones[zone_id]
        for zone_id, rule in wanted.items():
            if zone_id not in self._zones:
                self._zones[zone_id] = _Zone(rule, self.settings)
        vending = [z.rule for z in self._zones.values() if z.kind == "street_vending"]
        if not vending:
            self._static = None
            self._static_blobs, self._static_at_s = [], None
        elif self._static is None:
            self._static = StaticForeground.for_sensitivity(max(r.sensitivity for r in vending))
        return ended

    def observe(
        self,
        image: np.ndarray,
        at: datetime,
        tracked: Detections,
        side: Detections | None = None,
    ) -> list[ViolationUpdate]:
        """Apply the rules to one analysed frame seen at `at` (aware): `tracked` are the
        tracker's boxes (with `tracker_id`), `side` the untracked stall-proxy boxes."""
        if not self._zones:
            return []
        now_s = at.timestamp()
        seen = _seen(tracked, track_ids=True) + _seen(side or Detections.empty(), track_ids=False)
        if self._static is not None:
            people = self._people_boxes(tracked, now_s)  # every frame: the people's memory
            last_s = self._static_at_s
            if last_s is None or not 0 <= now_s - last_s < self.settings.static_interval_s:
                self._static_blobs = self._static.update(image, now_s, people)
                self._static_at_s = now_s
            seen += [_Seen(STATIC, b.xyxy, None, b.still_s) for b in self._static_blobs]
        seen = _not_carried(seen)
        height_px, width_px = image.shape[:2]
        updates: list[ViolationUpdate] = []
        for zone in self._zones.values():
            zone.fit(width_px, height_px)
            zone.observe(seen, now_s)
            updates += self._apply(zone, image, at, now_s)
        return updates

    def _people_boxes(self, tracked: Detections, now_s: float) -> np.ndarray:
        """Person boxes of the last `PEOPLE_MEMORY_S`: a person standing still is not static
        foreground even on the frame where the detector missed them."""
        self._people.append((now_s, tracked.xyxy[np.asarray(tracked.class_id) == 0]))
        self._people = [(t, b) for t, b in self._people if now_s - t <= PEOPLE_MEMORY_S]
        return np.concatenate([b for _, b in self._people]).reshape(-1, 4)

    def close(self) -> list[ViolationUpdate]:
        """End every open violation (the camera stops or leaves the catalog)."""
        return [update for zone in self._zones.values() for update in self._end(zone)]

    def _apply(
        self, zone: _Zone, image: np.ndarray, at: datetime, now_s: float
    ) -> list[ViolationUpdate]:
        rule = zone.rule
        if not rule.schedule.active_at(at, rule.timezone):
            zone.schedule_since_s = None
            return self._end(zone)
        if zone.schedule_since_s is None:
            zone.schedule_since_s = now_s
        stayers, since_s = zone.qualifying(now_s)
        opened = zone.open
        if since_s is None:
            tolerance = self.settings.absence_tolerance_s
            if opened is not None and now_s - opened.last_seen_s > tolerance:
                return self._end(zone)
            last_s = zone.cluster_last_s
            if opened is None and last_s is not None and now_s - last_s > tolerance:
                zone.cluster_since_s = zone.cluster_last_s = zone.vendor_last_s = None
            return []
        since_s = max(since_s, zone.schedule_since_s)
        if zone.cluster_since_s is None:  # kept across gaps shorter than the tolerance
            zone.cluster_since_s = since_s
        seen_s = max(s.last_seen_s for s in stayers)  # not now: stayers outlive short absences
        seen_at = at + timedelta(seconds=seen_s - now_s)
        zone.cluster_last_s = seen_s
        track_ids = {i for s in stayers for i in s.track_ids}
        sighting = EvidenceFrame.capture(
            at, image, zone.polygon_px, np.array([s.xyxy for s in stayers], np.float32),
            tuple(s.class_name for s in stayers),
        ) if opened is None or opened.evidence.due(at) else None  # fmt: skip
        if opened is None:
            dwell_s = 0.0 if zone.kind == "restricted_vehicle" else rule.min_dwell_s
            if seen_s - zone.cluster_since_s < dwell_s:
                return []
            assert sighting is not None
            started_at = datetime.fromtimestamp(zone.cluster_since_s, at.tzinfo)
            evidence = EvidenceFrames(max(5.0, rule.min_dwell_s / 4))
            evidence.keep(sighting)
            zone.open = _Open(
                zone.cluster_since_s, started_at, seen_s, seen_at, track_ids, evidence, sighting
            )
            return [self._update(zone, zone.open, "opened", (sighting.snapshot(),))]
        opened.last_seen_s, opened.last_seen_at = seen_s, seen_at
        if sighting is not None:
            opened.evidence.keep(sighting)
            opened.last_sighting = sighting
        joined = track_ids - opened.track_ids
        if not joined:
            return []
        opened.track_ids |= joined
        return [self._update(zone, opened, "updated", ())]

    def _end(self, zone: _Zone) -> list[ViolationUpdate]:
        opened, zone.open = zone.open, None
        zone.cluster_since_s = zone.cluster_last_s = zone.vendor_last_s = None
        if opened is None:
            return []
        middle_at = opened.started_at + (opened.last_seen_at - opened.started_at) / 2
        middle = opened.evidence.nearest(middle_at)
        pictures = [] if middle is None else [middle]
        if opened.last_sighting is not middle:
            pictures.append(opened.last_sighting)
        snapshots = tuple(p.snapshot() for p in pictures)
        return [self._update(zone, opened, "ended", snapshots)]

    def _update(self, zone: _Zone, opened: _Open, phase: str, snapshots: tuple) -> ViolationUpdate:
        assert zone.kind is not None
        return ViolationUpdate(
            camera_id=self.camera_id,
            zone_id=zone.rule.zone_id,
            kind=zone.kind,
            phase=phase,  # type: ignore[arg-type]
            started_at=opened.started_at,
            last_seen_at=opened.last_seen_at,
            severity=_SEVERITY[zone.kind],
            local_track_ids=tuple(sorted(opened.track_ids)),
            snapshots=snapshots,
        )


def _seen(detections: Detections, track_ids: bool) -> list[_Seen]:
    ids = detections.tracker_id if track_ids else None
    return [
        _Seen(
            COCO_CLASSES[int(detections.class_id[i])],
            tuple(float(v) for v in detections.xyxy[i]),  # type: ignore[arg-type]
            None if ids is None else int(ids[i]),
        )
        for i in range(len(detections))
    ]


def _not_carried(seen: list[_Seen]) -> list[_Seen]:
    """Bags and umbrellas whose centre lies in a person's box are carried, not set down."""
    people = [s.xyxy for s in seen if s.class_name == "person"]
    if not people:
        return seen

    def carried(item: _Seen) -> bool:
        if item.class_name not in CARRIED:
            return False
        cx, cy = (item.xyxy[0] + item.xyxy[2]) / 2, (item.xyxy[1] + item.xyxy[3]) / 2
        return any(x1 <= cx <= x2 and y1 <= cy <= y2 for x1, y1, x2, y2 in people)

    return [s for s in seen if not carried(s)]
