"""The scripts of the vending evaluation scenes and their ground-truth document (issue #13).

Forty-five scenes in five sets of nine plus eight truck crossings: seeds 1-9, 101-109 and the
truck scenes 11-18 are the tune split, seeds 201-209, 301-309 and 401-409 the test split. Seeds
101-109 were the first test split (fixed before any result was seen); once its result (a stall
missed while its vendor was away) had shaped the engine's vendor-away rule, it became tune data
and 201-209 were added as a test split no setting was chosen on; 301-409 were added later to
narrow its confidence intervals, and 11-18 to choose the truck rule's length share on. Each
set of nine has two stall scenes (two stalls each, one with the vendor away for a while, one
with a global gain ramp), a fire-lane scene (a brief stop, then a car parked past the dwell), a
restricted-truck scene (a pickup crossing the zone in restricted hours, then a car), and the
hard negatives: passers-by, a group talking for 2-3
minutes, people waiting at zone edges, a stall out of hours and lighting changes (gain ramps,
cloud shadows) over an empty zone. Positions, times and people vary with the seed.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

import cv2
import numpy as np

from detect.zone_rules import ViolationKind
from sample_streams.vending_scenes import (
    DAY,
    DWELL_S,
    FPS,
    FRAME_SIZE_PX,
    TRUCK_HOURS,
    VENDING_HOURS,
    ZONE_POLYGONS_PX,
    Actor,
    Cloud,
    Episode,
    Scene,
    SceneKind,
    Split,
    frame_digest,
    render_frame,
)

TUNE_TRUCK_SEEDS = tuple(range(11, 19))
WALK_PX_S = 80.0
DRIVE_PX_S = 60.0
DURATION_S = 240.0


def _inside(zone_id: int, foot_xy: tuple[float, ...]) -> bool:
    polygon = np.array(ZONE_POLYGONS_PX[zone_id], np.float32)
    return cv2.pointPolygonTest(polygon, (float(foot_xy[0]), float(foot_xy[1])), False) >= 0


class _Script:
    """Collects actors and episodes for one scene; every choice comes from `rng`."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.people = [int(i) for i in self.rng.permutation(12)]
        self.actors: list[Actor] = []
        self.episodes: list[Episode] = []

    def u(self, low: float, high: float) -> float:
        return round(float(self.rng.uniform(low, high)), 1)

    def person(self) -> str:
        self.people.append(self.people.pop(0))
        return f"person:{self.people[-1]}"

    def visit(
        self, spot: tuple[float, float], arrive_s: float, leave_s: float, away: bool = False
    ) -> None:
        """A person walks in from a side, stands at `spot` (swaying) and walks off; with
        `away` they step out of the zone for ~30 s halfway through."""
        x, y = spot
        side = -60.0 if self.rng.random() < 0.5 else FRAME_SIZE_PX[0] + 60.0
        walk = abs(x - side) / WALK_PX_S
        path = [(arrive_s - walk, side, y + 10), (arrive_s, x, y)]
        if away:
            mid = (arrive_s + leave_s) / 2
            out = min(x + 260, 700.0)
            path += [(mid, x, y), (mid + 4, out, y), (mid + 30, out, y), (mid + 34, x, y)]
        path += [(leave_s, x, y), (leave_s + walk, side, y + 10)]
        self.actors.append(Actor(self.person(), tuple(path), self.u(0.93, 1.07), 1.5))

    def pass_by(self, start_s: float, pause_s: float = 0.0) -> None:
        """A walker crossing the view on a slant, maybe pausing a few seconds on the way."""
        y0, y1 = self.u(60, 330), self.u(60, 330)
        x0, x1 = (-50.0, 690.0) if self.rng.random() < 0.5 else (690.0, -50.0)
        total = abs(x1 - x0) / self.u(60, 110)
        if pause_s:
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            half = start_s + total / 2
            path = [(start_s, x0, y0), (half, mx, my), (half + pause_s, mx, my),
                    (start_s + total + pause_s, x1, y1)]  # fmt: skip
        else:
            path = [(start_s, x0, y0), (start_s + total, x1, y1)]
        self.actors.append(Actor(self.person(), tuple(path), self.u(0.93, 1.07)))

    def passers(self, count: int, until_s: float = DURATION_S) -> None:
        for _ in range(count):
            pause = self.u(3, 15) if self.rng.random() < 0.3 else 0.0
            self.pass_by(self.u(0, until_s - 20), pause)

    def prop(self, name: str, spot: tuple[float, float], on_s: float, off_s: float) -> None:
        self.actors.append(Actor(name, ((on_s, *spot), (off_s, *spot)), self.u(0.95, 1.05)))

    def vehicle(
        self, name: str, spot: tuple[float, float], arrive_s: float, leave_s: float, enter_x: float
    ) -> None:
        """A vehicle drives in from `enter_x` along the road, parks at `spot`, drives off."""
        x, y = spot
        drive = abs(x - enter_x) / DRIVE_PX_S
        path = ((arrive_s - drive, enter_x, y - 8), (arrive_s, x, y), (leave_s, x, y),
                (leave_s + drive, enter_x, y - 8))  # fmt: skip
        self.actors.append(Actor(name, path))

    def stall(
        self, zone_id: int, start_s: float, end_s: float, expected: bool, away: bool = False
    ) -> None:
        """A vendor sets goods down at `start_s` and packs them at `end_s` (the episode);
        in zone 2 they sell from a parked pickup, in zone 1 from a cloth and cones."""
        first_actor = len(self.actors)
        if zone_id == 2:
            x, y = self.u(430, 500), self.u(250, 280)
            self.vehicle("pickup", (x, y), start_s, end_s, 760.0)
            self.prop("cloth", (x - 30, y + 18), start_s + 6, end_s - 6)
            self.visit((x + self.u(60, 110), y + 16), start_s - 2, end_s + 2, away)
        else:
            x, y = self.u(60, 95), self.u(130, 160)
            self.visit((x, y - 4), start_s - 5, end_s + 5, away)
            self.prop("cloth", (x + 40, y + 8), start_s, end_s)
            self.prop("cone", (x - 40, y), start_s + 3, end_s - 3)
            self.prop("cone", (x + 90, y + 2), start_s + 6, end_s - 6)
        for spot in {a.path[1][1:] for a in self.actors[first_actor:]}:
            if not _inside(zone_id, spot):  # vendor and goods must stand in the zone
                raise ValueError(f"stall in zone {zone_id}: {spot} is outside it")
        for _ in range(2):  # customers
            at = self.u(start_s + 10, end_s - 30)
            self.visit((x + self.u(-60, 60), y + self.u(20, 40)), at, at + self.u(8, 25))
        what = "stall, vendor away 30 s" if away else "stall"
        self.episode(zone_id, "street_vending", start_s, end_s, expected, what)

    def episode(
        self,
        zone: int,
        kind: ViolationKind,
        start_s: float,
        end_s: float,
        expected: bool,
        what: str,
    ) -> None:
        self.episodes.append(Episode(zone, kind, start_s, end_s, expected, what))


def _scene(split: Split, kind: SceneKind, seed: int, script: _Script, **extra: Any) -> Scene:
    extra.setdefault("zones", {1: "no_vending", 2: "no_vending"})
    extra.setdefault("start_at", datetime.combine(DAY, time(10, 0), DAY.tzinfo))
    extra.setdefault("duration_s", DURATION_S)
    return Scene(
        f"{split}-{seed:03d}-{kind}", split, kind, seed, actors=tuple(script.actors),
        episodes=tuple(script.episodes), **extra,
    )  # fmt: skip


def _stall_scene(split: Split, seed: int, ramp: bool) -> Scene:
    s = _Script(seed)
    first = s.u(20, 40)
    s.stall(1, first, first + s.u(130, 175), True, away=not ramp)
    second = s.u(60, 80)
    s.stall(2, second, second + s.u(125, 150), True)
    s.passers(6)
    gain = ((0.0, 1.0), (90.0, 0.75), (200.0, 1.15)) if ramp else ((0.0, 1.0),)
    return _scene(split, "stall", seed, s, gain_keys=gain)


def _fire_lane_scene(split: Split, seed: int) -> Scene:
    s = _Script(seed)
    brief, brief_len = s.u(15, 30), s.u(30, 50)
    first = "car" if seed % 2 else "pickup"
    s.vehicle(first, (s.u(400, 460), s.u(75, 88)), brief, brief + brief_len, 760.0)
    s.episode(3, "fire_lane_occupation", brief, brief + brief_len, False, "brief stop")
    park = round(brief + brief_len + s.u(50, 65), 1)
    park_len = min(s.u(110, 125), DURATION_S - 8 - park)
    s.vehicle("car", (s.u(400, 460), s.u(75, 88)), park, park + park_len, 760.0)
    s.episode(3, "fire_lane_occupation", park, park + park_len, True, "car parked")
    s.passers(5)
    zones = {1: "no_vending", 3: "fire_lane"}
    return _scene(split, "fire_lane", seed, s, zones=zones)


def _truck_scene(split: Split, seed: int) -> Scene:
    s = _Script(seed)
    for name, start, expected in (("pickup", s.u(20, 40), True), ("car", s.u(110, 130), False)):
        y = s.u(75, 88)
        path = ((start, 760.0, y - 10), (start + 15, 300.0, y + 4), (start + 22, 90.0, y + 40))
        s.actors.append(Actor(name, path))
        # inside the zone (x 290-565) between the entry and exit times along the path
        enter, leave = start + 15 * (760 - 565) / 460, start + 15 * (760 - 310) / 460
        what = "truck crossing in restricted hours" if expected else "car crossing"
        s.episode(3, "restricted_vehicle", round(enter, 1), round(leave, 1), expected, what)
    s.passers(4)
    return _scene(
        split, "restricted_truck", seed, s, zones={3: "restricted_vehicles"},
        schedules={3: TRUCK_HOURS}, duration_s=180.0,
        start_at=datetime.combine(DAY, time(8, 10), DAY.tzinfo),
    )  # fmt: skip


def _negative_scene(split: Split, seed: int, kind: SceneKind) -> Scene:
    s = _Script(seed)
    extra: dict[str, Any] = {}
    if kind == "passers_by":
        s.passers(30)
        s.episode(1, "street_vending", 0, DURATION_S, False, "30 passers-by, some pausing")
    elif kind == "group_talking":
        start, length = s.u(20, 50), s.u(120, 180)
        x, y = s.u(400, 520), s.u(220, 270)
        for dx, dy in ((-35, 0), (0, 14), (38, 4), (10, -12))[: 3 + seed % 2]:
            s.visit((x + dx, y + dy), start + s.u(0, 10), start + length - s.u(0, 10))
        s.episode(2, "street_vending", start, start + length, False, "group talking")
        s.passers(6)
    elif kind == "waiting_edge":
        s.visit((200.0, s.u(110, 150)), 20.0, 20.0 + s.u(170, 200))  # zone 1's east edge
        s.visit((s.u(360, 560), 305.0), 40.0, 40.0 + s.u(130, 170))  # zone 2's near edge
        s.episode(1, "street_vending", 20.0, 210.0, False, "person waiting at the edge")
        s.episode(2, "street_vending", 40.0, 200.0, False, "person waiting at the edge")
        s.passers(6)
    elif kind == "off_schedule":
        first = s.u(20, 40)
        s.stall(1, first, first + s.u(130, 170), False)
        s.stall(2, s.u(60, 80), s.u(200, 215), False)
        s.passers(5)
        extra = {
            "schedules": {1: VENDING_HOURS, 2: VENDING_HOURS},
            "start_at": datetime.combine(DAY, time(22, 20), DAY.tzinfo),
        }
    elif kind == "lighting":
        extra["gain_keys"] = ((0.0, 1.0), (40.0, 0.62), (90.0, 0.62), (130.0, 1.25),
                              (180.0, 1.0), (240.0, 0.8))  # fmt: skip
        extra["clouds"] = (
            Cloud(10.0, 110.0, (-150.0, 100.0), (800.0, 260.0), s.u(160, 220), 0.4),
            Cloud(120.0, 230.0, (800.0, 40.0), (-150.0, 300.0), s.u(200, 260), 0.35),
        )
        s.passers(8)
        s.episode(1, "street_vending", 0, DURATION_S, False, "lighting changes, empty zone")
        s.episode(2, "street_vending", 0, DURATION_S, False, "lighting changes, empty zone")
    return _scene(split, kind, seed, s, **extra)


# Seed bases of the nine-scene groups (base + 1 … base + 9) per split. Test groups 500-1400
# were added (2026-12-06, session 7) after every setting had been chosen, so that 18/18 was no
# longer the whole test evidence: at 78 positives a perfect score's Wilson interval starts
# above 0.95. No setting was chosen on any test group.
SPLIT_BASES: tuple[tuple[str, int], ...] = (
    ("tune", 0), ("tune", 100), *(("test", base) for base in range(200, 1500, 100))
)


def all_scenes() -> list[Scene]:
    """Both splits' scenes, tune first."""
    out = []
    for split, base in SPLIT_BASES:
        split_name: Split = "tune" if split == "tune" else "test"
        out.append(_stall_scene(split_name, base + 1, ramp=False))
        out.append(_stall_scene(split_name, base + 2, ramp=True))
        out.append(_fire_lane_scene(split_name, base + 3))
        out.append(_truck_scene(split_name, base + 4))
        negatives: list[SceneKind] = [
            "passers_by", "group_talking", "waiting_edge", "off_schedule", "lighting",
        ]  # fmt: skip
        for offset, kind in enumerate(negatives, start=5):
            out.append(_negative_scene(split_name, base + offset, kind))
    # More truck crossings for the tune split alone (the truck rule's class-vote share was
    # chosen on them): the detector calls the pickup "car" on most frames.
    out += [_truck_scene("tune", seed) for seed in TUNE_TRUCK_SEEDS]
    return out


def scenes(split: Split | None = None) -> list[Scene]:
    """Every scripted scene, or those of one split."""
    return [s for s in all_scenes() if split is None or s.split == split]


def truth(scene_list: list[Scene] | None = None) -> dict[str, Any]:
    """The ground-truth document (bench/data/vending_truth.json) of `scene_list`."""
    out = []
    for scene in scene_list if scene_list is not None else scenes():
        last = scene.frame_count - 1
        out.append({
            "scene_id": scene.scene_id, "split": scene.split, "kind": scene.kind,
            "seed": scene.seed, "duration_s": scene.duration_s, "fps": FPS,
            "start_at": scene.start_at.isoformat(),
            "zones": {str(z): k for z, k in scene.zones.items()},
            "schedules": {str(z): [str(w) for w in s.windows] for z, s in scene.schedules.items()},
            "episodes": [
                {"zone_id": e.zone_id, "kind": e.kind, "start_s": e.start_s,
                 "end_s": e.end_s, "expected": e.expected, "what": e.what}
                for e in scene.episodes
            ],
            "frame_digests": {
                str(i): frame_digest(render_frame(scene, i)) for i in (0, last // 2, last)
            },
        })  # fmt: skip
    return {
        "frame_size_px": list(FRAME_SIZE_PX), "fps": FPS, "dwell_s": DWELL_S,
        "zones_px": {str(z): [list(p) for p in poly] for z, poly in ZONE_POLYGONS_PX.items()},
        "scenes": out,
    }  # fmt: skip
