"""ByteTrack-style multi-object tracker per camera: Kalman motion, two-stage association.

Each `update` (one frame):
1. predict every track with its constant-velocity Kalman filter over the real time step (the
   filters of all tracks are rows of one `KalmanBoxes`: one numpy pass per frame);
2. match confirmed tracks (tracked and lost) to high-confidence detections by the Hungarian
   method (scipy `linear_sum_assignment`) on 1 − buffered IoU; given the frame's image, colour
   breaks near-ties (`_tie_break`);
3. match the confirmed tracks still unmatched, that were seen last frame, to low-confidence
   detections (ByteTrack's key idea: occluded objects score low but are still there);
4. match tentative tracks to the remaining high-confidence detections, then correct the filters
   of all matched tracks at once;
5. start tentative tracks from unmatched detections above `new_track_confidence`; a tentative
   track is confirmed after `min_hits` matches (and only then gets its public id) and dropped at
   its first miss; a confirmed track ends after `max_age_s` without a match, or after
   `max_age_frames` frame intervals when frames come slower (a camera sampled less often
   under load must not have its tracks cut into pieces).

Buffered IoU (boxes grown by a fraction of their size before the IoU, as in C-BIoU) keeps fast
objects matched at 5 fps where plain boxes of consecutive frames no longer overlap.

Appearance is only a tie-breaker: it can reorder candidates whose IoU costs lie within
`appearance_margin` of their row's or column's best, and never decides whether a pair is close
enough to match (the `*_cost_max` gates read the IoU cost alone). As a full cost term
(+0.4 × colour distance on every pair) it cost IDF1 with the shipped detector (vtest 0.824 →
0.773, synthetic 0.931 → 0.918); see BENCHMARKS.md. Colour descriptors are computed only
where needed: for tied candidates, at a track's birth, and to refresh a track's colour once per
`appearance_refresh_s` (not for every box of every frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from detect.colour import colour_descriptors
from detect.detections import COCO_CLASSES, Detections
from detect.kalman import KalmanBoxes, MotionNoise
from detect.track_builder import crop

_FORBIDDEN = 1e6
# Detector confusions that must not split a track: one object may flip between these classes.
_CLASS_GROUP: dict[str, str] = {
    "car": "vehicle", "bus": "vehicle", "truck": "vehicle",
    "bicycle": "cycle", "motorcycle": "cycle",
}  # fmt: skip


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two box sets (N×4, M×4) → N×M."""
    if len(a_xyxy) == 0 or len(b_xyxy) == 0:
        return np.zeros((len(a_xyxy), len(b_xyxy)), np.float32)
    top_left = np.maximum(a_xyxy[:, None, :2], b_xyxy[None, :, :2])
    bottom_right = np.minimum(a_xyxy[:, None, 2:], b_xyxy[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(np.clip(a_xyxy[:, 2:] - a_xyxy[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b_xyxy[:, 2:] - b_xyxy[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def buffer_boxes(xyxy: np.ndarray, buffer: float) -> np.ndarray:
    """Grow each box by `buffer` × its width/height on every side."""
    wh = xyxy[:, 2:] - xyxy[:, :2]
    return np.concatenate([xyxy[:, :2] - buffer * wh, xyxy[:, 2:] + buffer * wh], axis=1)


_GROUP_NAMES = [_CLASS_GROUP.get(name, name) for name in COCO_CLASSES]
# group number of each COCO class id; classes a detector confuses share one group
_GROUP_OF_CLASS = np.array([_GROUP_NAMES.index(g) for g in _GROUP_NAMES], np.int64)


class _FrameColours:
    """HSV colour descriptors of one frame's boxes, each computed on first use (~50 µs)."""

    def __init__(self, detections: Detections, image: np.ndarray) -> None:
        self._detections = detections
        self._image = image
        self._cache: dict[int, np.ndarray | None] = {}

    def of(self, det: int) -> np.ndarray | None:
        """The descriptor of box `det`; None for a box too small to describe."""
        if det not in self._cache:
            piece = crop(self._image, self._detections.xyxy[det])
            name = COCO_CLASSES[int(self._detections.class_id[det])]
            big_enough = piece.shape[0] >= 2 and piece.shape[1] >= 2
            self._cache[det] = colour_descriptors([piece], [name])[0] if big_enough else None
        return self._cache[det]


@dataclass(frozen=True)
class ByteTrackConfig:
    """Thresholds of the tracker; defaults suit NanoDet at 5 fps."""

    high_confidence: float = 0.5
    low_confidence: float = 0.1
    new_track_confidence: float = 0.5
    min_hits: int = 2
    max_age_s: float = 2.0
    max_age_frames: int = 4  # missed frames a track survives at any frame rate
    buffer: float = 0.3
    lost_buffer: float = 0.6
    high_cost_max: float = 0.85
    low_cost_max: float = 0.6
    tentative_cost_max: float = 0.9
    appearance_margin: float = 0.01  # IoU-cost band where colour decides; 0 turns it off
    appearance_ema: float = 0.5  # weight of a track's colour at each refresh
    appearance_refresh_s: float = 1.0
    noise: MotionNoise = field(default_factory=MotionNoise)

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_confidence <= self.high_confidence <= 1.0:
            raise ValueError(
                f"need 0 <= low_confidence <= high_confidence <= 1, got "
                f"{self.low_confidence}, {self.high_confidence}"
            )
        if self.min_hits < 1:
            raise ValueError(f"min_hits must be at least 1, got {self.min_hits}")
        if self.max_age_s <= 0:
            raise ValueError(f"max_age_s must be positive, got {self.max_age_s}")
        if self.max_age_frames < 1:
            raise ValueError(f"max_age_frames must be at least 1, got {self.max_age_frames}")
        if not 0.0 <= self.appearance_margin <= 1.0:
            raise ValueError(f"appearance_margin must be in [0, 1], got {self.appearance_margin}")


@dataclass
class _Track:
    row: int  # of its filter in the tracker's `KalmanBoxes`
    class_id: int
    last_seen_s: float
    hits: int = 1
    track_id: int = 0  # 0 while tentative
    seen_last_frame: bool = True
    appearance: np.ndarray | None = None
    appearance_at_s: float = 0.0


class ByteTracker:
    """Tracks one camera's detections; `update` is called once per analysed frame."""

    def __init__(self, config: ByteTrackConfig | None = None) -> None:
        self.config = config or ByteTrackConfig()
        self._tracks: list[_Track] = []
        self._filters = KalmanBoxes(self.config.noise)  # row i: self._tracks[i]
        self._next_id = 1
        self._last_at_s: float | None = None
        self._interval_s = 0.0  # running mean of the time between frames

    @property
    def live_track_count(self) -> int:
        return len(self._tracks)

    def update(
        self, detections: Detections, at_s: float, image: np.ndarray | None = None
    ) -> tuple[Detections, list[int]]:
        """Assign tracker ids to `detections` seen at `at_s` in `image`; also return ids that
        just ended. Without `image` (or with `appearance_margin` 0) colour plays no part.

        Returns only the boxes of confirmed tracks (tentative tracks and unmatched clutter are
        left out), in input order, with `tracker_id` set.
        """
        if self._last_at_s is not None and at_s < self._last_at_s:
            raise ValueError(f"time went backwards: {at_s} after {self._last_at_s}")
        dt_s = 0.0 if self._last_at_s is None else at_s - self._last_at_s
        self._last_at_s = at_s
        self._filters.freeze_size(np.array([not t.seen_last_frame for t in self._tracks], bool))
        self._filters.predict(dt_s)
        predicted = self._filters.xyxy()
        cfg = self.config
        conf = detections.confidence
        high = np.flatnonzero(conf >= cfg.high_confidence)
        low = np.flatnonzero((conf >= cfg.low_confidence) & (conf < cfg.high_confidence))
        colours = (
            _FrameColours(detections, image)
            if image is not None and cfg.appearance_margin > 0
            else None
        )
        confirmed = [t for t in self._tracks if t.track_id]
        tentative = [t for t in self._tracks if not t.track_id]
        assigned: dict[int, _Track] = {}

        pairs, free_tracks, free_high = self._associate(
            confirmed, predicted, detections, high, cfg.high_cost_max, colours
        )
        assigned.update(pairs)
        recent = [t for t in free_tracks if t.seen_last_frame]
        pairs, _, _ = self._associate(recent, predicted, detections, low, cfg.low_cost_max, colours)
        assigned.update(pairs)
        pairs, _, free_high = self._associate(
            tentative, predicted, detections, free_high, cfg.tentative_cost_max, colours
        )
        assigned.update(pairs)

        self._filters.update(
            np.array([t.row for t in assigned.values()], np.int64),
            detections.xyxy[np.array(list(assigned), np.int64)],
        )
        for det, track in assigned.items():
            self._apply(track, detections, det, at_s, colours)
        matched = {id(t) for t in assigned.values()}
        max_age_s = max(cfg.max_age_s, cfg.max_age_frames * self._interval_s)  # before this gap
        if dt_s > 0:
            self._interval_s = dt_s if not self._interval_s else 0.8 * self._interval_s + 0.2 * dt_s
        survivors, ended = [], []
        for track in self._tracks:
            if id(track) in matched:
                survivors.append(track)
                continue
            track.seen_last_frame = False
            if track.track_id and at_s - track.last_seen_s <= max_age_s:
                survivors.append(track)
            elif track.track_id:
                ended.append(track.track_id)
        self._filters.keep(np.array([t.row for t in survivors], np.int64))
        for row, track in enumerate(survivors):
            track.row = row
        born = [det for det in free_high.tolist() if conf[det] >= cfg.new_track_confidence]
        self._filters.add(detections.xyxy[np.array(born, np.int64)])
        for det in born:
            track = _Track(len(survivors), int(detections.class_id[det]), at_s)
            if colours is not None:
                track.appearance, track.appearance_at_s = colours.of(det), at_s
            self._confirm_if_ready(track)
            survivors.append(track)
            assigned[det] = track
        self._tracks = survivors
        out = sorted(d for d, t in assigned.items() if t.track_id)
        ids = np.array([assigned[d].track_id for d in out], np.int64)
        return detections[np.array(out, np.int64)].with_tracker_id(ids), ended

    def end_all(self) -> list[int]:
        """End every live track (stream stopped); returns the confirmed ids."""
        ended = [t.track_id for t in self._tracks if t.track_id]
        self._tracks = []
        self._filters = KalmanBoxes(self.config.noise)
        self._last_at_s = None
        self._interval_s = 0.0
        return ended

    def _apply(
        self,
        track: _Track,
        detections: Detections,
        det: int,
        at_s: float,
        colours: _FrameColours | None,
    ) -> None:
        track.class_id = int(detections.class_id[det])
        track.last_seen_s = at_s
        track.seen_last_frame = True
        track.hits += 1
        cfg = self.config
        due = track.appearance is None or at_s - track.appearance_at_s >= cfg.appearance_refresh_s
        if colours is not None and due and detections.confidence[det] >= cfg.high_confidence:
            seen = colours.of(det)
            if seen is not None:
                alpha = cfg.appearance_ema
                mixed = (
                    seen
                    if track.appearance is None
                    else alpha * track.appearance + (1 - alpha) * seen
                )
                track.appearance = mixed / max(float(np.linalg.norm(mixed)), 1e-12)
                track.appearance_at_s = at_s
        self._confirm_if_ready(track)

    def _confirm_if_ready(self, track: _Track) -> None:
        if not track.track_id and track.hits >= self.config.min_hits:
            track.track_id = self._next_id
            self._next_id += 1

    def _associate(
        self,
        tracks: list[_Track],
        predicted: np.ndarray,
        detections: Detections,
        candidates: np.ndarray,
        cost_max: float,
        colours: _FrameColours | None,
    ) -> tuple[dict[int, _Track], list[_Track], np.ndarray]:
        """Hungarian matching of `tracks` (their boxes: rows of `predicted`) to detections
        `candidates` (indices).

        Returns {detection index: track}, the unmatched tracks and unmatched candidates.
        """
        if not tracks or len(candidates) == 0:
            return {}, tracks, candidates
        iou_cost = self._iou_cost(tracks, predicted, detections, candidates)
        rows, cols = linear_sum_assignment(self._tie_break(iou_cost, tracks, candidates, colours))
        pairs = {
            int(candidates[c]): tracks[r]
            for r, c in zip(rows, cols, strict=True)
            if iou_cost[r, c] <= cost_max
        }
        used = {id(t) for t in pairs.values()}
        free_tracks = [t for t in tracks if id(t) not in used]
        free_dets = np.array([d for d in candidates.tolist() if d not in pairs], np.int64)
        return pairs, free_tracks, free_dets

    def _iou_cost(
        self,
        tracks: list[_Track],
        predicted: np.ndarray,
        detections: Detections,
        candidates: np.ndarray,
    ) -> np.ndarray:
        """1 − buffered IoU of predicted tracks × candidate detections; `_FORBIDDEN` where the
        boxes do not touch or the classes cannot be one object."""
        cfg = self.config
        track_boxes = predicted[[t.row for t in tracks]]
        det_boxes = detections.xyxy[candidates].astype(np.float64)
        recent = np.array([t.seen_last_frame for t in tracks])
        overlap = np.empty((len(tracks), len(candidates)))
        for rows, buffer in ((recent, cfg.buffer), (~recent, cfg.lost_buffer)):
            if rows.any():
                overlap[rows] = iou_matrix(
                    buffer_boxes(track_boxes[rows], buffer), buffer_boxes(det_boxes, buffer)
                )
        cost = 1.0 - overlap
        track_groups = _GROUP_OF_CLASS[[t.class_id for t in tracks]]
        det_groups = _GROUP_OF_CLASS[detections.class_id[candidates]]
        cost[track_groups[:, None] != det_groups[None, :]] = _FORBIDDEN
        cost[overlap <= 0.0] = _FORBIDDEN
        return cost

    def _tie_break(
        self,
        iou_cost: np.ndarray,
        tracks: list[_Track],
        candidates: np.ndarray,
        colours: _FrameColours | None,
    ) -> np.ndarray:
        """`iou_cost` plus margin × colour distance on near-ties: pairs within the margin of
        their row's (or column's) best where that row (column) has two or more such pairs."""
        margin = self.config.appearance_margin
        if colours is None:
            return iou_cost
        allowed = iou_cost < _FORBIDDEN
        near_row = allowed & (iou_cost <= iou_cost.min(axis=1, keepdims=True) + margin)
        near_col = allowed & (iou_cost <= iou_cost.min(axis=0, keepdims=True) + margin)
        tied = (near_row & (near_row.sum(axis=1, keepdims=True) > 1)) | (
            near_col & (near_col.sum(axis=0, keepdims=True) > 1)
        )
        if not tied.any():
            return iou_cost
        distance = np.zeros_like(iou_cost)
        for row, col in zip(*np.nonzero(tied), strict=True):
            seen, known = colours.of(int(candidates[col])), tracks[row].appearance
            if seen is not None and known is not None:
                distance[row, col] = np.clip(1.0 - float(seen @ known), 0.0, 1.0)
        return iou_cost + margin * distance * tied
