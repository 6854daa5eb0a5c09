"""Collects views of each live track and finalises ended tracks into `TrackRecord`s."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import cv2
import numpy as np

from detect.detections import COCO_CLASSES, Detections
from detect.track_record import TrackRecord
from ingest.frame import Frame

MAX_VIEWS = 4
MAX_TRAJECTORY_POINTS = 200
THUMBNAIL_MAX_SIDE_PX = 256


class Embedder(Protocol):
    """What the builder needs from an appearance embedder."""

    @property
    def embedding_version(self) -> str: ...

    def embed(self, crops: list[np.ndarray], class_names: list[str]) -> np.ndarray: ...


@dataclass
class _View:
    quality: float
    at: datetime
    box: tuple[float, float, float, float]
    crop: np.ndarray


@dataclass
class _Accumulator:
    first_at: datetime
    last_at: datetime
    class_votes: Counter[int] = field(default_factory=Counter)
    confidences: list[float] = field(default_factory=list)
    views: list[_View] = field(default_factory=list)
    trajectory: list[tuple[float, float, float, float, float]] = field(default_factory=list)


def view_quality(box: np.ndarray, confidence: float, frame_w: int, frame_h: int) -> float:
    """Larger, more confident boxes not cut by the frame edge make better shots."""
    x1, y1, x2, y2 = box
    area = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    margin_px = 2.0
    cut = x1 <= margin_px or y1 <= margin_px or x2 >= frame_w - margin_px
    cut = cut or y2 >= frame_h - margin_px
    return float(np.sqrt(area) * confidence * (0.5 if cut else 1.0))


def crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    x1, y1 = int(max(0, np.floor(box[0]))), int(max(0, np.floor(box[1])))
    x2, y2 = int(min(w, np.ceil(box[2]))), int(min(h, np.ceil(box[3])))
    return image[y1:y2, x1:x2].copy()


def encode_thumbnail(image: np.ndarray) -> bytes:
    scale = THUMBNAIL_MAX_SIDE_PX / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError("thumbnail could not be encoded")
    return buffer.tobytes()


class TrackBuilder:
    """Per camera: keeps at most `MAX_VIEWS` best crops per live track; work per frame is small."""

    def __init__(self, camera_id: str, embedder: Embedder, min_observations: int = 2) -> None:
        self.camera_id = camera_id
        self._embedder = embedder
        self._min_observations = min_observations
        self._live: dict[int, _Accumulator] = {}

    def observe(self, frame: Frame, tracked: Detections) -> None:
        """Record one frame's tracked boxes (tracker_id must be set)."""
        if tracked.tracker_id is None:
            raise ValueError("detections must carry tracker ids")
        for i, track_id in enumerate(tracked.tracker_id.tolist()):
            acc = self._live.get(track_id)
            if acc is None:
                acc = self._live[track_id] = _Accumulator(frame.wall_time, frame.wall_time)
            acc.first_at = min(acc.first_at, frame.wall_time)  # stream clocks can step back
            acc.last_at = max(acc.last_at, frame.wall_time)
            box = tracked.xyxy[i]
            confidence = float(tracked.confidence[i])
            acc.class_votes[int(tracked.class_id[i])] += 1
            acc.confidences.append(confidence)
            if len(acc.trajectory) < MAX_TRAJECTORY_POINTS:
                offset_s = (frame.wall_time - acc.first_at).total_seconds()
                bx1, by1, bx2, by2 = (round(float(v), 1) for v in box)
                acc.trajectory.append((round(offset_s, 3), bx1, by1, bx2, by2))
            quality = view_quality(box, confidence, frame.width_px, frame.height_px)
            if len(acc.views) < MAX_VIEWS or quality > acc.views[-1].quality:
                view_crop = crop(frame.image, box)
                if view_crop.size == 0:
                    continue
                x1, y1, x2, y2 = (float(v) for v in box)
                view = _View(quality, frame.wall_time, (x1, y1, x2, y2), view_crop)
                acc.views = sorted([*acc.views, view], key=lambda v: -v.quality)[:MAX_VIEWS]

    def finish(self, track_ids: list[int]) -> list[TrackRecord]:
        """Finalise ended tracks; tracks seen fewer than `min_observations` times are dropped."""
        records = []
        for track_id in track_ids:
            acc = self._live.pop(track_id, None)
            if acc is None or len(acc.confidences) < self._min_observations or not acc.views:
                continue
            class_name = COCO_CLASSES[acc.class_votes.most_common(1)[0][0]]
            crops = [v.crop for v in acc.views]
            vectors = self._embedder.embed(crops, [class_name] * len(crops))
            mean = vectors.mean(axis=0)
            embedding = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
            best = acc.views[0]
            records.append(
                TrackRecord(
                    camera_id=self.camera_id,
                    local_track_id=track_id,
                    class_name=class_name,
                    confidence=float(np.mean(acc.confidences)),
                    start_at=acc.first_at,
                    end_at=acc.last_at,
                    best_shot_at=best.at,
                    best_box=best.box,
                    thumbnail_jpeg=encode_thumbnail(best.crop),
                    embedding=embedding,
                    embedding_version=self._embedder.embedding_version,
                    trajectory=acc.trajectory,
                )
            )
        return records

    def finish_all(self) -> list[TrackRecord]:
        return self.finish(list(self._live))
