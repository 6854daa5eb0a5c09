"""`TrackRecord`: the one record a finished track becomes (detect's output, index's input)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from detect.plate_values import TrackPlate
from detect.plate_views import PlateView


@dataclass(frozen=True)
class TrackRecord:
    """A finished track: class, time span, best shot, aggregated embedding and trajectory.

    `trajectory` holds sampled `(seconds since start, x1, y1, x2, y2)` rows in source pixels.
    `context_jpeg` is a downscaled full frame at the best shot with the box drawn in.
    `plate` is the voted licence plate of a vehicle track (PLATE_VEHICLES), None for other
    classes, when no plate reader runs, or when no read succeeded. `plate_views` are the views
    to read again on the recorded main stream (a camera whose `plate_source` is "main").
    """

    camera_id: str
    local_track_id: int
    class_name: str
    confidence: float
    start_at: datetime
    end_at: datetime
    best_shot_at: datetime
    best_box: tuple[float, float, float, float]
    thumbnail_jpeg: bytes
    embedding: np.ndarray
    embedding_version: str
    trajectory: list[tuple[float, float, float, float, float]]
    attributes: dict[str, Any] = field(default_factory=dict)
    context_jpeg: bytes = b""
    frame_size_px: tuple[int, int] | None = None  # (W, H) of the analysed frames
    plate: TrackPlate | None = None
    plate_views: tuple[PlateView, ...] = field(default=(), repr=False)
