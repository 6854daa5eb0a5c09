"""Collects views of each live track and finalises ended tracks into `TrackRecord`s.

Per frame the builder only scores boxes (cheap arithmetic) and cuts a crop when a box could beat
the worst of the `MAX_VIEWS` views kept; embedding, attributes and JPEG encoding happen once, at
finalisation. Memory per open track is bounded: ≤ `MAX_VIEWS` crops, one downscaled context
frame and ≤ `MAX_TRAJECTORY_POINTS` trajectory rows (thinned by halving when full).

Long-lived tracks (a parked car) are finalised every `max_record_s` as well: each part is a
record with the same `local_track_id`, its own `start_at` (so the catalog key
(camera_id, local_track_id, start_at) stays unique) and `attributes["part"]` = 0, 1, 2 ...

Plates (issue #14): with a plate reader, a vehicle track's plate is read at finalisation on its
`plate_reads_per_track` best views plus the views sampled every `plate_period_s` while the vehicle
stands still (≤ `MAX_STATIONARY_PLATE_VIEWS` kept), and the reads are voted into
`TrackRecord.plate`. Views whose longest side is under `PLATE_MIN_VEHICLE_SIDE_PX` are not read:
no plate on them was legible (on the live 640×360 sub stream that is most distant vehicles).
Cost is bounded per track (≤ 3 + 2 reads, 3-60 ms each on one core by crop size). With
`plate_source` "main" nothing is read here: the same views (not gated: the main stream has 3×
the pixels) are handed on as `TrackRecord.plate_views`, read from the recorded main stream
(index/main_plates.py), whose crops are read instead only when that read fails.

Carried objects (issue #16): the detector's untracked side boxes of `CARRIED_CLASSES` (backpack,
handbag, suitcase, umbrella) are attributed, frame by frame, to the person whose box holds their
centre (the smallest such box); a person seen with one on at least `CARRIED_MIN_SHARE` of their
frames (and twice) carries it: `attributes["carrying"]` maps each to that share.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import cv2
import numpy as np

from detect.attributes import track_attributes
from detect.detections import COCO_CLASSES, Detections
from detect.plate_reader import PlateSighting
from detect.plate_values import PLATE_VEHICLES, TrackPlate
from detect.plate_views import PlateSource, PlateView
from detect.plate_vote import PlateVoter
from detect.track_record import TrackRecord
from ingest.frame import Frame

MAX_VIEWS = 4
MAX_TRAJECTORY_POINTS = 200
TRAJECTORY_STEP_S = 0.4
THUMBNAIL_MAX_SIDE_PX = 256
CONTEXT_WIDTH_PX = 320
SHARPNESS_HEIGHT_PX = 64
SHARPNESS_HALF_VAR = 60.0  # Laplacian variance at which the sharpness factor is 0.5
EDGE_MARGIN_PX = 2.0
PLATE_READS_PER_TRACK = 3
PLATE_PERIOD_S = 30.0
MAX_STATIONARY_PLATE_VIEWS = 2
# Chosen on the plates bench's tune split (bench/plates_live_cost.py --sides): its clean vehicles
# scaled to a longest side of 64-96 px were never read (0 of 30 each, 10-36 ms a read); from
# 104 px some were (2 of 30, characters ≥ 6.9 px).
PLATE_MIN_VEHICLE_SIDE_PX = 96
STATIONARY_SHIFT = 0.25  # centre moved less than this share of the box width: standing still
CARRIED_CLASSES: tuple[str, ...] = ("backpack", "handbag", "suitcase", "umbrella")
CARRIED_MIN_SHARE = 0.2
_CARRIED_IDS = {COCO_CLASSES.index(name): name for name in CARRIED_CLASSES}
_PERSON_ID = COCO_CLASSES.index("person")


class Embedder(Protocol):
    """What the builder needs from an appearance embedder."""

    @property
    def embedding_version(self) -> str: ...

    def embed(self, crops: list[np.ndarray], class_names: list[str]) -> np.ndarray: ...


class PlateSighter(Protocol):
    """What the builder needs from a plate reader (detect/plate_reader.py `PlateReader`)."""

    def sight(
        self, vehicle: np.ndarray, at: datetime, origin_px: tuple[float, float] = (0.0, 0.0)
    ) -> PlateSighting | None: ...


Box = tuple[float, float, float, float]
PlateCrop = tuple[np.ndarray, tuple[float, float]]  # a vehicle crop and its origin (pixels)


class FullResolution(Protocol):
    """The full-resolution picture of an observed frame (a re-index decoding the recorded main
    stream: index/reindex_plates.py). A vehicle view observed with one keeps the crop it cuts
    (None: illegible there), and the track's plate is read on such crops only."""

    def plate_crop(self, box: Box, frame_size_px: tuple[int, int]) -> PlateCrop | None:
        """The crop to read the plate of the vehicle at `box` (pixels of a frame of
        `frame_size_px`) on, in full-resolution pixels; None where it is illegible there."""
        ...


@dataclass
class _View:
    quality: float
    at: datetime
    box: Box
    crop: np.ndarray
    full_resolution: bool = False  # seen with a full-resolution picture: `plate_crop` is read
    plate_crop: PlateCrop | None = None


@dataclass
class _Accumulator:
    first_at: datetime
    last_at: datetime
    frame_size_px: tuple[int, int]
    part: int = 0
    class_votes: Counter[int] = field(default_factory=Counter)
    confidence_sum: float = 0.0
    observations: int = 0
    views: list[_View] = field(default_factory=list)
    context: np.ndarray | None = None  # downscaled frame of the best view, box drawn at the end
    context_scale: float = 1.0
    trajectory: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    trajectory_step_s: float = TRAJECTORY_STEP_S
    plate_views: list[_View] = field(default_factory=list)  # sampled while standing still
    last_plate_view_at: datetime | None = None
    carried_frames: Counter[str] = field(default_factory=Counter)


def view_quality(
    box: np.ndarray, confidence: float, frame_w: int, frame_h: int, overlap: float = 0.0
) -> float:
    """Cheap part of a view's score: √area × confidence, halved when cut by the frame edge,
    reduced by the share of the box covered by other boxes (`overlap`, 0..1)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    area = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    cut = x1 <= EDGE_MARGIN_PX or y1 <= EDGE_MARGIN_PX
    cut = cut or x2 >= frame_w - EDGE_MARGIN_PX or y2 >= frame_h - EDGE_MARGIN_PX
    return float(np.sqrt(area) * confidence * (0.5 if cut else 1.0) * (1.0 - 0.7 * overlap))


def plate_legible(box: tuple[float, float, float, float]) -> bool:
    """Whether a vehicle view is large enough to be worth a plate read."""
    x1, y1, x2, y2 = box
    return max(x2 - x1, y2 - y1) >= PLATE_MIN_VEHICLE_SIDE_PX


def sharpness_factor(image: np.ndarray) -> float:
    """0..1 from the Laplacian variance of the crop resized to a fixed height (blur → 0)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    scale = SHARPNESS_HEIGHT_PX / max(grey.shape[0], 1)
    size = (max(8, round(grey.shape[1] * scale)), SHARPNESS_HEIGHT_PX)
    grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    variance = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    return variance / (variance + SHARPNESS_HALF_VAR)


def covered_share(xyxy: np.ndarray) -> np.ndarray:
    """For each box, the largest share of its area covered by one other box of the frame."""
    n = len(xyxy)
    if n < 2:
        return np.zeros(n, np.float32)
    top_left = np.maximum(xyxy[:, None, :2], xyxy[None, :, :2])
    bottom_right = np.minimum(xyxy[:, None, 2:], xyxy[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    np.fill_diagonal(inter, 0.0)
    area = np.prod(np.clip(xyxy[:, 2:] - xyxy[:, :2], 1e-6, None), axis=1)
    return np.clip(inter.max(axis=1) / area, 0.0, 1.0).astype(np.float32)


def carried_by(tracked: Detections, side: Detections) -> dict[int, set[str]]:
    """Tracked row index of each person → the carried classes whose box centre lies in it (a
    centre inside several people goes to the smallest box: the nearer, usually the carrier)."""
    rows = [i for i in range(len(side)) if int(side.class_id[i]) in _CARRIED_IDS]
    people = np.flatnonzero(tracked.class_id == _PERSON_ID)
    found: dict[int, set[str]] = {}
    if not rows or not len(people):
        return found
    boxes = tracked.xyxy[people]
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    for row in rows:
        x1, y1, x2, y2 = (float(v) for v in side.xyxy[row])
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        inside = (boxes[:, 0] <= cx) & (cx <= boxes[:, 2])
        inside &= (boxes[:, 1] <= cy) & (cy <= boxes[:, 3])
        if inside.any():
            carrier = int(people[np.flatnonzero(inside)[np.argmin(areas[inside])]])
            found.setdefault(carrier, set()).add(_CARRIED_IDS[int(side.class_id[row])])
    return found


def carrying_shares(carried_frames: Counter[str], observations: int) -> dict[str, float]:
    """Carried class → share of the track's frames it was seen on, for those seen often enough."""
    return {
        name: round(count / observations, 3)
        for name, count in sorted(carried_frames.items())
        if count >= 2 and count >= CARRIED_MIN_SHARE * observations
    }


def crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    x1, y1 = int(max(0, np.floor(box[0]))), int(max(0, np.floor(box[1])))
    x2, y2 = int(min(w, np.ceil(box[2]))), int(min(h, np.ceil(box[3])))
    return image[y1:y2, x1:x2].copy()


def encode_thumbnail(image: np.ndarray, max_side_px: int = THUMBNAIL_MAX_SIDE_PX) -> bytes:
    scale = max_side_px / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError("thumbnail could not be encoded")
    return buffer.tobytes()


def encode_context(context: np.ndarray, box: tuple[float, ...], scale: float) -> bytes:
    """The downscaled frame with the track's box drawn in, as JPEG (quality 80)."""
    image = context.copy()
    x1, y1, x2, y2 = (round(v * scale) for v in box)
    cv2.rectangle(image, (x1, y1), (x2, y2), (0, 0, 255), 2)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError("context frame could not be encoded")
    return buffer.tobytes()


@dataclass(frozen=True)
class EndedTrack:
    """A track detached from its builder by `TrackBuilder.end`, waiting for `finalise`."""

    track_id: int
    acc: _Accumulator


class TrackBuilder:
    """Per camera: keeps at most `MAX_VIEWS` best crops per live track; work per frame is small."""

    def __init__(
        self,
        camera_id: str,
        embedder: Embedder,
        min_observations: int = 2,
        max_record_s: float = 600.0,
        camera_heading_deg: float | None = None,
        plate_reader: PlateSighter | None = None,
        plate_reads_per_track: int = PLATE_READS_PER_TRACK,
        plate_period_s: float = PLATE_PERIOD_S,
        plate_source: PlateSource = "sub",
    ) -> None:
        if max_record_s <= 0:
            raise ValueError(f"max_record_s must be positive, got {max_record_s}")
        self.camera_id = camera_id
        self._embedder = embedder
        self._min_observations = min_observations
        self._max_record_s = max_record_s
        self.camera_heading_deg = camera_heading_deg
        self._plate_reader = plate_reader
        self._plate_reads_per_track = plate_reads_per_track
        self._plate_period_s = plate_period_s
        self.plate_source: PlateSource = plate_source  # "main": views go on to the main stream
        self._live: dict[int, _Accumulator] = {}

    @property
    def open_track_count(self) -> int:
        return len(self._live)

    @property
    def open_track_ids(self) -> list[int]:
        return list(self._live)

    def observe(
        self,
        frame: Frame,
        tracked: Detections,
        side: Detections | None = None,
        full: FullResolution | None = None,
    ) -> None:
        """Record one frame's tracked boxes (tracker_id must be set), the carried objects
        among the detector's untracked `side` boxes and, with a plate reader, the vehicles'
        plate crops cut from `full` (the frame at full resolution, where there is one)."""
        if tracked.tracker_id is None:
            raise ValueError("detections must carry tracker ids")
        overlaps = covered_share(tracked.xyxy)
        carried = {} if side is None or not len(side) else carried_by(tracked, side)
        for i, track_id in enumerate(tracked.tracker_id.tolist()):
            acc = self._live.get(track_id)
            if acc is None:
                acc = self._live[track_id] = _Accumulator(
                    frame.wall_time, frame.wall_time, (frame.width_px, frame.height_px)
                )
            acc.last_at = frame.wall_time
            box = tracked.xyxy[i]
            confidence = float(tracked.confidence[i])
            acc.class_votes[int(tracked.class_id[i])] += 1
            acc.confidence_sum += confidence
            acc.observations += 1
            acc.carried_frames.update(carried.get(i, ()))
            self._add_trajectory_point(acc, frame.wall_time, box)
            if self._plate_reader is not None:
                self._sample_plate_view(acc, frame, box, full)
            upper = view_quality(box, confidence, frame.width_px, frame.height_px, overlaps[i])
            if len(acc.views) >= MAX_VIEWS and upper <= acc.views[-1].quality:
                continue
            view_crop = crop(frame.image, box)
            if view_crop.shape[0] < 2 or view_crop.shape[1] < 2:
                continue
            quality = upper * (0.5 + 0.5 * sharpness_factor(view_crop))
            if len(acc.views) >= MAX_VIEWS and quality <= acc.views[-1].quality:
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            view = _View(quality, frame.wall_time, (x1, y1, x2, y2), view_crop)
            if full is not None and self._plate_reader is not None and self._plate_vehicle(acc):
                view.full_resolution = True
                view.plate_crop = full.plate_crop(view.box, (frame.width_px, frame.height_px))
            if not acc.views or quality > acc.views[0].quality:
                acc.context_scale = min(1.0, CONTEXT_WIDTH_PX / frame.width_px)
                acc.context = cv2.resize(
                    frame.image, None, fx=acc.context_scale, fy=acc.context_scale,
                    interpolation=cv2.INTER_AREA,
                )  # fmt: skip
            acc.views = sorted([*acc.views, view], key=lambda v: -v.quality)[:MAX_VIEWS]

    def end(self, track_ids: list[int]) -> list[EndedTrack]:
        """Detach ended tracks, plus a part of each track open for `max_record_s` (cheap).

        The returned tracks no longer belong to the builder: `finalise` may run on another
        thread while this camera's next frames are observed.
        """
        ended = []
        for track_id in track_ids:
            acc = self._live.pop(track_id, None)
            if acc is not None:
                ended.append(EndedTrack(track_id, acc))
        for track_id, acc in list(self._live.items()):
            if (acc.last_at - acc.first_at).total_seconds() >= self._max_record_s:
                ended.append(EndedTrack(track_id, acc))
                self._live[track_id] = _Accumulator(
                    acc.last_at, acc.last_at, acc.frame_size_px, part=acc.part + 1
                )
        return ended

    def finalise(self, ended: list[EndedTrack]) -> list[TrackRecord]:
        """Embed, describe and encode detached tracks; those seen fewer than
        `min_observations` times are dropped."""
        return [record for track in ended for record in self._record(track.track_id, track.acc)]

    @staticmethod
    def _plate_vehicle(acc: _Accumulator) -> bool:
        return COCO_CLASSES[acc.class_votes.most_common(1)[0][0]] in PLATE_VEHICLES

    def _sample_plate_view(
        self, acc: _Accumulator, frame: Frame, box: np.ndarray, full: FullResolution | None
    ) -> None:
        """Every `plate_period_s`, keep a crop of a vehicle that stands still (cheap: a copy;
        with `full`, its full-resolution crop too, where legible there)."""
        if not self._plate_vehicle(acc):
            return
        last_at = acc.first_at if acc.last_plate_view_at is None else acc.last_plate_view_at
        if (frame.wall_time - last_at).total_seconds() < self._plate_period_s:
            return  # a short track's plate comes from its best views alone
        if len(acc.trajectory) < 2:
            return
        _t0, *previous = acc.trajectory[-2]
        x1, y1, x2, y2 = (float(v) for v in box)
        shift = abs((x1 + x2 - previous[0] - previous[2]) / 2)
        shift += abs((y1 + y2 - previous[1] - previous[3]) / 2)
        if shift > STATIONARY_SHIFT * max(x2 - x1, 1.0):
            return
        if self.plate_source == "sub" and full is None and not plate_legible((x1, y1, x2, y2)):
            return  # the main stream's reader gates on its own pixels
        plate_crop = None
        if full is not None:
            plate_crop = full.plate_crop((x1, y1, x2, y2), (frame.width_px, frame.height_px))
            if plate_crop is None:
                return  # illegible at full resolution too
        view_crop = crop(frame.image, box)
        if min(view_crop.shape[:2]) < 2:
            return
        acc.last_plate_view_at = frame.wall_time
        view = _View(0.0, frame.wall_time, (x1, y1, x2, y2), view_crop, full is not None)
        view.plate_crop = plate_crop
        acc.plate_views = [*acc.plate_views, view][-MAX_STATIONARY_PLATE_VIEWS:]

    def _plate_read_views(self, class_name: str, acc: _Accumulator) -> list[_View]:
        """The views a vehicle track's plate is read on: best and stationary ones."""
        if self._plate_reader is None or class_name not in PLATE_VEHICLES:
            return []
        return [*acc.views[: self._plate_reads_per_track], *acc.plate_views]

    def _read_plate(self, views: list[_View]) -> TrackPlate | None:
        """The voted plate of a vehicle track from its legible `views`."""
        if self._plate_reader is None:
            return None
        voter = PlateVoter()
        for view in views:
            if view.full_resolution:
                if view.plate_crop is not None:
                    vehicle, origin = view.plate_crop
                    voter.add(self._plate_reader.sight(vehicle, view.at, origin))
                continue
            if not plate_legible(view.box):
                continue
            voter.add(self._plate_reader.sight(view.crop, view.at, (view.box[0], view.box[1])))
        return voter.result()

    def _main_stream_views(
        self, views: list[_View], frame_size_px: tuple[int, int]
    ) -> tuple[PlateView, ...]:
        """The views to read on the main stream (camera `plate_source` "main"; else none)."""
        if self.plate_source != "main":
            return ()
        return tuple(PlateView(v.at, v.box, frame_size_px, v.crop) for v in views)

    def _add_trajectory_point(self, acc: _Accumulator, at: datetime, box: np.ndarray) -> None:
        offset_s = round((at - acc.first_at).total_seconds(), 3)
        x1, y1, x2, y2 = (round(float(v), 1) for v in box)
        point = (offset_s, x1, y1, x2, y2)
        if len(acc.trajectory) >= 2 and offset_s - acc.trajectory[-2][0] < acc.trajectory_step_s:
            acc.trajectory[-1] = point  # the newest point stands in until a step has passed
            return
        acc.trajectory.append(point)
        if len(acc.trajectory) > MAX_TRAJECTORY_POINTS:
            acc.trajectory = [*acc.trajectory[:-1:2], acc.trajectory[-1]]
            acc.trajectory_step_s *= 2

    def _record(self, track_id: int, acc: _Accumulator) -> list[TrackRecord]:
        if acc.observations < self._min_observations or not acc.views:
            return []
        class_name = COCO_CLASSES[acc.class_votes.most_common(1)[0][0]]
        crops = [v.crop for v in acc.views]
        vectors = self._embedder.embed(crops, [class_name] * len(crops))
        mean = vectors.mean(axis=0)
        embedding = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        best = acc.views[0]
        votes = {COCO_CLASSES[k]: v for k, v in acc.class_votes.items()}
        attributes = track_attributes(
            class_name,
            votes,
            crops,
            [v.quality for v in acc.views],
            acc.trajectory,
            self.camera_heading_deg,
        )
        attributes["part"] = acc.part
        carrying = carrying_shares(acc.carried_frames, acc.observations)
        if carrying and class_name == "person":
            attributes["carrying"] = carrying
        context = (
            b"" if acc.context is None else encode_context(acc.context, best.box, acc.context_scale)
        )
        plate_views = self._plate_read_views(class_name, acc)
        main_views = self._main_stream_views(plate_views, acc.frame_size_px)
        plate = None if main_views else self._read_plate(plate_views)
        return [
            TrackRecord(
                camera_id=self.camera_id,
                local_track_id=track_id,
                class_name=class_name,
                confidence=acc.confidence_sum / acc.observations,
                start_at=acc.first_at,
                end_at=acc.last_at,
                best_shot_at=best.at,
                best_box=best.box,
                thumbnail_jpeg=encode_thumbnail(best.crop),
                embedding=embedding,
                embedding_version=self._embedder.embedding_version,
                trajectory=acc.trajectory,
                attributes=attributes,
                context_jpeg=context,
                frame_size_px=acc.frame_size_px,
                plate=plate,
                plate_views=main_views,
            )
        ]
