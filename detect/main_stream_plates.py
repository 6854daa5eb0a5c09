"""Reading a vehicle's plate on full-resolution main-stream frames (issue #14).

A `PlateView` was seen on the analysed (sub) stream; the main stream shows the same field of
view at a higher resolution (sample_streams/footage.py scales one source to both), so its box
maps by the ratio of the frame sizes. The two streams' wall clocks are anchored separately
(ingest/stream.py) and a vehicle moves between their frames, so the mapped box is refined:
the view's own crop is looked for (normalised cross-correlation on the main frame shrunk to
the analysed size) within `SEARCH_MARGIN` of the box, and the box moves to the best match when
it is convincing. The crop read is then padded by `READ_PAD` and read by the same
`PlateReader` as the sub stream, at the main stream's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np

from detect.attributes import motion_summary
from detect.plate_reader import PlateSighting
from detect.plate_values import TrackPlate
from detect.plate_views import PlateView
from detect.plate_vote import PlateVoter
from detect.track_builder import PlateSighter, crop, plate_legible

Box = tuple[float, float, float, float]
SEARCH_MARGIN = 0.5  # the vehicle is looked for this share of its size around its mapped box
MIN_MATCH_SCORE = 0.5  # a weaker best match leaves the mapped box as it is
READ_PAD = 0.06  # share of the box added on each side of the crop read (a box cut a bit short)
# Above the sub stream's gate (detect/track_builder.py, 96 px): of the plates tune split's 30
# clean vehicles scaled to a longest side of 96 / 104 / 128 px, 0 / 2 / 5 were read
# (bench/plates_live_cost.py --sides), while each main-stream read of the sample cameras' parked
# van (87-111 px there) cost a decode and a read for nothing (bench/plates_main_stream.py busy).
MAIN_MIN_VEHICLE_SIDE_PX = 128
MAX_VIEWS_PER_TRACK = 5  # views a track may name: ≤ 3 best + 2 stationary (as the sub stream)
# Main-stream reads per track: the best views first, ending at the first sure read (a read costs
# 30-100 ms on a 1080p vehicle crop, its frame's decode about as much again).
MAX_MAIN_READS = 2
PLATE_SURE_CONFIDENCE = 0.9  # a read this sure (its weakest character) ends a track's reads


def map_box(box: Box, from_size_px: tuple[int, int], to_size_px: tuple[int, int]) -> Box:
    """A box in a frame of `from_size_px` (W, H) in the pixels of a frame of `to_size_px`
    showing the same field of view."""
    sx = to_size_px[0] / from_size_px[0]
    sy = to_size_px[1] / from_size_px[1]
    x1, y1, x2, y2 = box
    return (x1 * sx, y1 * sy, x2 * sx, y2 * sy)


def pad_box(box: Box, pad: float, size_px: tuple[int, int]) -> Box:
    """`box` grown by `pad` × its width/height on each side, clipped to the frame."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * pad, (y2 - y1) * pad
    w, h = size_px
    return (max(0.0, x1 - dx), max(0.0, y1 - dy), min(float(w), x2 + dx), min(float(h), y2 + dy))


def legible_on(box: Box) -> bool:
    """Whether a vehicle box (main-stream pixels) is worth a main-stream read (its decode and
    its read): longest side ≥ `MAIN_MIN_VEHICLE_SIDE_PX`."""
    x1, y1, x2, y2 = box
    return max(x2 - x1, y2 - y1) >= MAIN_MIN_VEHICLE_SIDE_PX


def refine_box(view: PlateView, frame: np.ndarray) -> tuple[Box, float]:
    """The view's box in `frame`'s pixels, moved to where its crop matches best within
    `SEARCH_MARGIN` (when the match scores ≥ `MIN_MATCH_SCORE`), and that score (0: the
    mapped box kept, nothing matched)."""
    frame_size = (int(frame.shape[1]), int(frame.shape[0]))
    mapped = map_box(view.box_xyxy_px, view.frame_size_px, frame_size)
    template = view.crop
    if template.ndim != 3 or min(template.shape[:2]) < 8:
        return mapped, 0.0
    small = cv2.resize(frame, view.frame_size_px, interpolation=cv2.INTER_AREA)
    sx1, sy1, sx2, sy2 = pad_box(view.box_xyxy_px, SEARCH_MARGIN, view.frame_size_px)
    area = small[int(sy1) : int(np.ceil(sy2)), int(sx1) : int(np.ceil(sx2))]
    th, tw = template.shape[:2]
    if area.shape[0] < th or area.shape[1] < tw:
        return mapped, 0.0
    scores = cv2.matchTemplate(
        cv2.cvtColor(area, cv2.COLOR_BGR2GRAY),
        cv2.cvtColor(template, cv2.COLOR_BGR2GRAY),
        cv2.TM_CCOEFF_NORMED,
    )
    _low, score, _at_low, (mx, my) = cv2.minMaxLoc(scores)
    if not np.isfinite(score) or score < MIN_MATCH_SCORE:
        return mapped, 0.0
    x1, y1, x2, y2 = view.box_xyxy_px
    # the template was cut from int(floor(x1)), int(floor(y1)) (track_builder.crop)
    dx = int(sx1) + mx - int(max(0.0, np.floor(x1)))
    dy = int(sy1) + my - int(max(0.0, np.floor(y1)))
    moved = (x1 + dx, y1 + dy, x2 + dx, y2 + dy)
    return map_box(moved, view.frame_size_px, frame_size), float(score)


@dataclass(frozen=True)
class MainRead:
    """One view read on the main stream: the box read (main pixels, before padding), the
    alignment score, and the sighting (None: nothing plausible read, or not legible)."""

    view_at: datetime
    box_xyxy_px: Box
    match_score: float
    legible: bool
    sighting: PlateSighting | None


def read_view(
    view: PlateView, frame: np.ndarray, frame_at: datetime, reader: PlateSighter
) -> MainRead:
    """Read the plate of `view`'s vehicle on a full-resolution `frame` (seen at `frame_at`)."""
    box, score = refine_box(view, frame)
    if not legible_on(box):
        return MainRead(view.at, box, score, False, None)
    size = (int(frame.shape[1]), int(frame.shape[0]))
    read_box = pad_box(box, READ_PAD, size)
    vehicle = crop(frame, np.array(read_box))
    origin = (float(int(read_box[0])), float(int(read_box[1])))
    return MainRead(view.at, box, score, True, reader.sight(vehicle, frame_at, origin))


# A vehicle read in vain (legible size, no plate found) is not read again for this long while a
# view shows the same look at the same place: a parked vehicle is re-tracked again and again
# (the sample cameras' parked van: a new track every loop), each time costing a decode + a read.
NO_PLATE_MEMORY_S = 600.0
SAME_PLACE_IOU = 0.7
SAME_LOOK_SCORE = 0.9  # normalised correlation of the 32×32 grey looks
LOOK_PX = 32


@dataclass(frozen=True)
class ReadInVain:
    """A view whose vehicle had no plate on the main stream: its box (analysed pixels), its
    32×32 grey look and until when (monotonic seconds) it stands for that vehicle."""

    box_xyxy_px: Box
    look: np.ndarray
    until_s: float


def look_of(view: PlateView) -> np.ndarray:
    """The view's crop as 32×32 grey, zero mean, unit norm (for a correlation)."""
    grey = cv2.cvtColor(view.crop, cv2.COLOR_BGR2GRAY) if view.crop.ndim == 3 else view.crop
    small = cv2.resize(grey, (LOOK_PX, LOOK_PX), interpolation=cv2.INTER_AREA).astype(np.float32)
    small -= small.mean()
    return small / max(float(np.linalg.norm(small)), 1e-6)


def box_iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def read_in_vain_before(view: PlateView, memory: Sequence[ReadInVain], now_s: float) -> bool:
    """Whether `view` shows a vehicle read in vain before: same place, same look, not expired."""
    if min(view.crop.shape[:2]) < 2:
        return False
    look = look_of(view)
    return any(
        m.until_s > now_s
        and box_iou(view.box_xyxy_px, m.box_xyxy_px) >= SAME_PLACE_IOU
        and float((look * m.look).sum()) >= SAME_LOOK_SCORE
        for m in memory
    )


def stood_still(trajectory: Sequence[Sequence[float]]) -> bool:
    """Whether a track's vehicle stood still (the `stationary` attribute's rule, over two or
    more samples): only such a vehicle is remembered as read in vain, so a moving one — a
    fragment of a crossing, or a look-alike passing the same spot later — is always read."""
    return len(trajectory) >= 2 and motion_summary(trajectory).stationary


def sure_read(read: MainRead) -> bool:
    """A read sure enough to stop reading the track: a known plate layout, every character
    at least `PLATE_SURE_CONFIDENCE`."""
    sighting = read.sighting
    if sighting is None:
        return False
    return sighting.read.plate_format != "generic" and (
        sighting.read.confidence >= PLATE_SURE_CONFIDENCE
    )


def read_sub_views(views: Sequence[PlateView], reader: PlateSighter) -> TrackPlate | None:
    """The fall-back plate of a track whose main-stream read failed: its views' own analysed
    (sub-stream) crops read and voted, those under the sub stream's legibility gate skipped —
    what the track builder reads at once for a camera with `plate_source` "sub"."""
    voter = PlateVoter()
    for view in views:
        if plate_legible(view.box_xyxy_px):
            voter.add(reader.sight(view.crop, view.at, view.box_xyxy_px[:2]))
    return voter.result()


def vote_main_reads(reads: Sequence[MainRead]) -> TrackPlate | None:
    """The track's plate from its main-stream reads (None: nothing read)."""
    voter = PlateVoter()
    for read in reads:
        voter.add(read.sighting)
    return voter.result()
