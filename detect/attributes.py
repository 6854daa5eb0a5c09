"""Searchable track attributes: colour names, vehicle type, direction, speed, dwell, stationary.

Colour naming classifies each pixel of a body region in HSV. When enough pixels are chromatic
(saturation ≥ `CHROMA_MIN_S`, value ≥ `CHROMA_MIN_V`), the hue vote wins (orange/red hues that
are dark are brown); otherwise the median value of the grey pixels picks black, grey, silver or
white. Confidence is the share of region pixels that agree with the winner. Votes of a track's
best views are summed, weighted by view quality.

Motion fields carry confidences too (`{key}_confidence`, read by the search filter):
direction and compass — the share of the ground point's path length whose step heading lies in
the chosen 45° sector or a neighbour (the sectors a search for that heading accepts);
stationary — how far the ground point's spread is from the stationary limit (0.5 at the limit,
1 at half of it or less and at twice it or more). Dwell and speed are measurements and have
none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from detect.colour import PERSON_LOWER, PERSON_UPPER, RegionSpec, check_crop
from detect.detections import VEHICLE_TYPES

PALETTE: tuple[str, ...] = (
    "white", "black", "grey", "silver", "red", "blue", "green", "yellow", "orange", "brown",
)  # fmt: skip
VEHICLE_BODY = RegionSpec(0.30, 0.85, 0.12, 0.88)  # below most glass, above the road
SECTORS: tuple[str, ...] = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")  # image space, N = up
COMPASS: tuple[str, ...] = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
CHROMA_MIN_S = 70
CHROMA_MIN_V = 50
CHROMATIC_SHARE_MIN = 0.3
# OpenCV hue (0..180) upper bounds of each chromatic name; purple/pink fold into red or blue.
_HUE_BOUNDS: tuple[tuple[int, str], ...] = (
    (8, "red"), (21, "orange"), (34, "yellow"), (85, "green"), (140, "blue"), (181, "red"),
)  # fmt: skip
BROWN_MAX_V = 165
_GREY_LEVELS: tuple[tuple[int, str], ...] = (
    (65, "black"), (140, "grey"), (192, "silver"), (256, "white"),
)  # fmt: skip
BORDER_SHARE = 0.12  # left/right strips of a crop that show mostly background
BACKGROUND_LAB_DISTANCE = 14.0
KEEP_MIN_SHARE = 0.25


@dataclass(frozen=True)
class ColourVote:
    """Pixel counts per palette name for one region (summable over views)."""

    counts: dict[str, float]

    def named(self) -> tuple[str, float]:
        """The winning name and its confidence (share of votes)."""
        total = sum(self.counts.values())
        if total <= 0:
            return "unknown", 0.0
        name = max(self.counts, key=lambda k: self.counts[k])
        return name, round(self.counts[name] / total, 3)


def background_colours(crop: np.ndarray, clusters: int = 4) -> np.ndarray:
    """Lab centres (k×3) of the crop's left and right border strips: the likely background."""
    w = crop.shape[1]
    strip = max(1, round(BORDER_SHARE * w))
    border = np.concatenate([crop[:, :strip], crop[:, w - strip :]], axis=1)
    lab = cv2.cvtColor(np.ascontiguousarray(border), cv2.COLOR_BGR2LAB).reshape(-1, 3)
    lab = lab.astype(np.float32)
    k = min(clusters, len(lab))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(1)
    _, _, centres = cv2.kmeans(lab, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    return np.asarray(centres, np.float32)


def foreground_pixels(region_bgr: np.ndarray, background_lab: np.ndarray) -> np.ndarray:
    """Region pixels (M×3 BGR) not close to any background colour; all of them when fewer
    than `KEEP_MIN_SHARE` would remain (the object has the background's colour)."""
    pixels = np.ascontiguousarray(region_bgr).reshape(-1, 3)
    lab = cv2.cvtColor(pixels[None], cv2.COLOR_BGR2LAB)[0].astype(np.float32)
    distance = np.linalg.norm(lab[:, None, :] - background_lab[None], axis=2).min(axis=1)
    keep = distance > BACKGROUND_LAB_DISTANCE
    return pixels[keep] if keep.mean() >= KEEP_MIN_SHARE else pixels


def colour_vote(pixels_bgr: np.ndarray) -> ColourVote:
    """Votes of BGR pixels (any shape ×3): chromatic ones by hue, else grey ones by median value."""
    if pixels_bgr.size < 3:
        raise ValueError("no pixels to name a colour from")
    flat = np.ascontiguousarray(pixels_bgr.reshape(1, -1, 3), dtype=np.uint8)
    hsv = cv2.cvtColor(flat, cv2.COLOR_BGR2HSV).reshape(-1, 3)
    hue, sat, val = (hsv[:, i].astype(np.int64) for i in range(3))
    chromatic = (sat >= CHROMA_MIN_S) & (val >= CHROMA_MIN_V)
    n = len(hsv)
    if chromatic.mean() >= CHROMATIC_SHARE_MIN:
        counts: dict[str, float] = {}
        lower = 0
        for upper, name in _HUE_BOUNDS:
            in_band = chromatic & (hue >= lower) & (hue < upper)
            if name == "orange":
                dark = in_band & (val < BROWN_MAX_V)
                counts["brown"] = counts.get("brown", 0.0) + float(dark.sum())
                in_band &= ~dark
            counts[name] = counts.get(name, 0.0) + float(in_band.sum())
            lower = upper
        return ColourVote(counts)
    grey_val = val[~chromatic]
    level = float(np.median(grey_val)) if len(grey_val) else 0.0
    name = next(label for bound, label in _GREY_LEVELS if level < bound)
    return ColourVote({name: float(len(grey_val)), "other": float(n - len(grey_val))})


def merge_votes(votes: Sequence[ColourVote], weights: Sequence[float]) -> ColourVote:
    counts: dict[str, float] = {}
    for vote, weight in zip(votes, weights, strict=True):
        total = max(sum(vote.counts.values()), 1.0)
        for name, count in vote.counts.items():
            counts[name] = counts.get(name, 0.0) + weight * count / total
    counts.pop("other", None)
    return ColourVote(counts)


def colour_attributes(
    crops: Sequence[np.ndarray], class_name: str, weights: Sequence[float]
) -> dict[str, object]:
    """Colour fields for a track's best crops: persons upper/lower, everything else `colour`."""
    if class_name == "person":
        fields = {"upper_colour": PERSON_UPPER, "lower_colour": PERSON_LOWER}
    else:
        fields = {"colour": VEHICLE_BODY}
    out: dict[str, object] = {}
    for crop in crops:
        check_crop(crop)
    backgrounds = [background_colours(c) for c in crops]
    for key, region in fields.items():
        votes = [
            colour_vote(foreground_pixels(region.cut(c), bg))
            for c, bg in zip(crops, backgrounds, strict=True)
        ]
        name, confidence = merge_votes(votes, weights).named()
        out[key] = name
        out[f"{key}_confidence"] = confidence
    return out


def vehicle_type(class_votes: dict[str, int]) -> tuple[str, float] | None:
    """Majority vehicle class among the track's detections, with its vote share; None if none."""
    vehicle = {k: v for k, v in class_votes.items() if k in VEHICLE_TYPES}
    if not vehicle:
        return None
    name = max(vehicle, key=lambda k: vehicle[k])
    return name, round(vehicle[name] / max(sum(class_votes.values()), 1), 3)


@dataclass(frozen=True)
class Motion:
    """Motion of a trajectory of (t_s, x1, y1, x2, y2) rows; ground point = bottom centre."""

    dwell_s: float
    mean_speed_px_s: float
    displacement_px: float
    heading_deg: float  # image space, 0 = right, 90 = up (counter-clockwise)
    stationary: bool
    spread_ratio: float  # largest distance from the median ground point / stationary limit
    step_headings_deg: tuple[float, ...]  # image-space heading of each ground-path step
    step_lengths_px: tuple[float, ...]

    @property
    def stationary_confidence(self) -> float:
        """0.5 at the stationary limit, 1 at half or twice it (linear in log spread)."""
        if self.spread_ratio <= 0.0:
            return 1.0
        return round(0.5 + 0.5 * min(1.0, abs(math.log2(self.spread_ratio))), 3)


def motion_summary(
    trajectory: Sequence[Sequence[float]], stationary_heights: float = 0.5
) -> Motion:
    """Dwell, mean speed, net heading and a stationary flag.

    Stationary: the ground point never strays more than `stationary_heights` × the median box
    height from its median position. Speed is path length of the (3-point smoothed) ground point
    over the dwell time, so box jitter of a parked car does not count as motion.
    """
    rows = np.asarray(trajectory, np.float64).reshape(-1, 5)
    if len(rows) == 0:
        raise ValueError("trajectory is empty")
    t = rows[:, 0]
    ground = np.stack([(rows[:, 1] + rows[:, 3]) / 2, rows[:, 4]], axis=1)
    if len(ground) >= 3:
        kernel = np.ones(3) / 3
        smooth = np.stack([np.convolve(ground[:, i], kernel, mode="valid") for i in range(2)], 1)
        ground = np.vstack([ground[:1], smooth, ground[-1:]])
    dwell_s = float(t[-1] - t[0])
    steps = np.diff(ground, axis=0)
    step_lengths = np.linalg.norm(steps, axis=1)
    path_px = float(step_lengths.sum())
    delta = ground[-1] - ground[0]
    height = float(np.median(rows[:, 4] - rows[:, 2]))
    spread = float(np.linalg.norm(ground - np.median(ground, axis=0), axis=1).max())
    spread_ratio = spread / (stationary_heights * max(height, 1.0))
    return Motion(
        dwell_s=round(dwell_s, 3),
        mean_speed_px_s=round(path_px / dwell_s, 2) if dwell_s > 0 else 0.0,
        displacement_px=round(float(np.linalg.norm(delta)), 1),
        heading_deg=round(math.degrees(math.atan2(-delta[1], delta[0])) % 360, 1),
        stationary=spread_ratio <= 1.0,
        spread_ratio=round(spread_ratio, 4),
        step_headings_deg=tuple((np.degrees(np.arctan2(-steps[:, 1], steps[:, 0])) % 360).tolist()),
        step_lengths_px=tuple(step_lengths.tolist()),
    )


def heading_share(
    step_angles_deg: Sequence[float], step_lengths_px: Sequence[float], chosen_deg: float
) -> float:
    """Share of path length whose step angle falls in the 45° sector of `chosen_deg` or one of
    its two neighbours (angles in any one space: image headings or compass bearings)."""
    lengths = np.asarray(step_lengths_px, np.float64)
    total = float(lengths.sum())
    if total <= 0:
        return 0.0
    offset = (np.round(np.asarray(step_angles_deg) / 45) - round(chosen_deg / 45)) % 8
    near = np.minimum(offset, 8 - offset) <= 1
    return round(float(lengths[near].sum()) / total, 3)


def image_sector(heading_deg: float) -> str:
    """8-sector name in image space (N = up the image, E = right)."""
    return SECTORS[round(heading_deg / 45) % 8]


def compass_bearing(heading_deg: float, camera_heading_deg: float) -> float:
    """Bearing (0 = north, clockwise) of an image-space heading for a camera looking along
    `camera_heading_deg`: moving up the image is moving away from the camera."""
    return round((camera_heading_deg + 90.0 - heading_deg) % 360, 1)


def motion_attributes(
    trajectory: Sequence[Sequence[float]], camera_heading_deg: float | None
) -> dict[str, object]:
    """Dwell, speed, stationary flag and direction (compass too with a camera heading), each
    named field with its `{key}_confidence`; see the module docstring."""
    motion = motion_summary(trajectory)
    out: dict[str, object] = {
        "dwell_s": motion.dwell_s,
        "mean_speed_px_s": motion.mean_speed_px_s,
        "stationary": motion.stationary,
        "stationary_confidence": motion.stationary_confidence,
    }
    if motion.stationary:
        out["direction"] = "none"
        out["direction_confidence"] = motion.stationary_confidence
        return out
    headings, lengths = motion.step_headings_deg, motion.step_lengths_px
    out["direction"] = image_sector(motion.heading_deg)
    out["direction_confidence"] = heading_share(headings, lengths, motion.heading_deg)
    out["direction_deg"] = motion.heading_deg
    if camera_heading_deg is not None:
        bearing = compass_bearing(motion.heading_deg, camera_heading_deg)
        step_bearings = [compass_bearing(h, camera_heading_deg) for h in headings]
        out["bearing_deg"] = bearing
        out["compass"] = COMPASS[round(bearing / 45) % 8]
        out["compass_confidence"] = heading_share(step_bearings, lengths, bearing)
    return out


def track_attributes(
    class_name: str,
    class_votes: dict[str, int],
    crops: Sequence[np.ndarray],
    crop_weights: Sequence[float],
    trajectory: Sequence[Sequence[float]],
    camera_heading_deg: float | None = None,
) -> dict[str, object]:
    """The JSON-able attribute dict of a finished track."""
    out: dict[str, object] = {}
    if crops:
        out.update(colour_attributes(crops, class_name, crop_weights))
    kind = vehicle_type(class_votes)
    if kind is not None and class_name in VEHICLE_TYPES:
        out["vehicle_type"], out["vehicle_type_confidence"] = kind
    out.update(motion_attributes(trajectory, camera_heading_deg))
    return out
