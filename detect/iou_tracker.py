"""A greedy IoU tracker per camera (the walking skeleton tracker; ByteTrack replaces it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detect.detections import Detections


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


@dataclass
class _LiveTrack:
    track_id: int
    xyxy: np.ndarray
    class_id: int
    last_seen_s: float


class IouTracker:
    """Greedy highest-IoU-first association within a class; tracks end after `max_age_s` unseen."""

    def __init__(self, iou_threshold: float = 0.25, max_age_s: float = 2.0) -> None:
        self._iou_threshold = iou_threshold
        self._max_age_s = max_age_s
        self._live: dict[int, _LiveTrack] = {}
        self._next_id = 1

    def update(self, detections: Detections, at_s: float) -> tuple[Detections, list[int]]:
        """Assign tracker ids to `detections` seen at `at_s`; also return ids that just ended."""
        ended = [t.track_id for t in self._live.values() if at_s - t.last_seen_s > self._max_age_s]
        for track_id in ended:
            del self._live[track_id]
        tracks = list(self._live.values())
        ious = iou_matrix(np.array([t.xyxy for t in tracks]).reshape(-1, 4), detections.xyxy)
        same_class = np.array([[t.class_id == c for c in detections.class_id] for t in tracks])
        ious = np.where(same_class.reshape(ious.shape), ious, 0.0)
        assigned = np.zeros(len(detections), np.int64)
        for flat in np.argsort(-ious, axis=None):
            row, col = divmod(int(flat), ious.shape[1])
            if ious[row, col] < self._iou_threshold:
                break
            if assigned[col] or tracks[row].last_seen_s == at_s:
                continue
            assigned[col] = tracks[row].track_id
            tracks[row].xyxy = detections.xyxy[col]
            tracks[row].last_seen_s = at_s
        for col in np.flatnonzero(assigned == 0):
            assigned[col] = self._next_id
            self._live[self._next_id] = _LiveTrack(
                self._next_id, detections.xyxy[col], int(detections.class_id[col]), at_s
            )
            self._next_id += 1
        return detections.with_tracker_id(assigned), ended

    def end_all(self) -> list[int]:
        """End every live track (stream stopped); returns their ids."""
        ended = list(self._live)
        self._live.clear()
        return ended
