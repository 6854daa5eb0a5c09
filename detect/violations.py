"""Violations (#13): the live engine's public surface and the offline path for footage.

`ViolationDetector` (detect/violation_engine.py) applies a camera's zone rules to its analysed
frames; the analysis worker feeds it live. `analyse_footage` runs the same engine on recorded
or uploaded footage: PyAV decode sampled at `fps`, the detector, a `ByteTracker`, the engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np

from detect.bytetrack import ByteTrackConfig, ByteTracker
from detect.detector import BatchDetector
from detect.violation_engine import (
    SIDE_CLASSES,
    ViolationDetector,
    ViolationSettings,
    split_side_detections,
)
from detect.zone_rules import ViolationUpdate, ZoneRule

__all__ = [
    "SIDE_CLASSES",
    "FootageCost",
    "ViolationDetector",
    "ViolationSettings",
    "analyse_footage",
    "footage_frames",
    "split_side_detections",
]

FOOTAGE_EPOCH = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday noon: footage time 0 default
Footage = str | Path | Iterable[np.ndarray | tuple[float, np.ndarray]]


@dataclass
class FootageCost:
    """What `analyse_footage` spent: frames, and milliseconds in the detector, the tracker and
    the violation engine (the engine's share is what #13 adds to the live path)."""

    frames: int = 0
    detect_ms: float = 0.0
    track_ms: float = 0.0
    engine_ms: float = 0.0

    @property
    def engine_ms_per_frame(self) -> float:
        return self.engine_ms / self.frames if self.frames else 0.0

    def engine_ms_per_camera_second(self, fps: float) -> float:
        return self.engine_ms_per_frame * fps


def footage_frames(path: str | Path, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds from the start, BGR image) of a video file, sampled at `fps` by PTS."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        first_s: float | None = None
        next_s = 0.0
        for frame in container.decode(stream):
            if frame.pts is None or frame.time_base is None:
                continue
            at_s = float(frame.pts * frame.time_base)
            first_s = at_s if first_s is None else first_s
            at_s -= first_s
            if at_s + 1e-6 < next_s:
                continue
            next_s = at_s + 1.0 / fps
            yield at_s, frame.to_ndarray(format="bgr24")


def _timed(footage: Footage, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    if isinstance(footage, str | Path):
        yield from footage_frames(footage, fps)
        return
    for index, item in enumerate(footage):
        if isinstance(item, np.ndarray):
            yield index / fps, item
        else:
            at_s, image = item
            yield float(at_s), image


def analyse_footage(
    footage: Footage,
    rules: Iterable[ZoneRule],
    detector: BatchDetector,
    fps: float = 5.0,
    start_at: datetime = FOOTAGE_EPOCH,
    camera_id: str | None = None,
    settings: ViolationSettings | None = None,
    cost: FootageCost | None = None,
) -> list[ViolationUpdate]:
    """Every violation update in `footage`: a video file (decoded with PyAV, sampled at `fps`)
    or frames (BGR images `fps` apart, or (seconds, image) pairs). Footage time 0 is
    `start_at` (aware; schedules read it in each rule's time zone). Violations still open at
    the end are ended there. `cost`, if given, is filled with the time spent per stage."""
    rules = tuple(rules)
    camera = camera_id or (rules[0].camera_id if rules else "footage")
    engine = ViolationDetector(camera, rules, settings)
    tracker = ByteTracker(ByteTrackConfig())
    cost = cost if cost is not None else FootageCost()
    updates: list[ViolationUpdate] = []
    for at_s, image in _timed(footage, fps):
        started = time.perf_counter()
        detections = detector.detect([image])[0]
        detected = time.perf_counter()
        for_tracker, side = split_side_detections(detections)
        tracked, _ = tracker.update(for_tracker, at_s, image)
        tracked_at = time.perf_counter()
        updates += engine.observe(image, start_at + timedelta(seconds=at_s), tracked, side)
        done = time.perf_counter()
        cost.frames += 1
        cost.detect_ms += (detected - started) * 1000
        cost.track_ms += (tracked_at - detected) * 1000
        cost.engine_ms += (done - tracked_at) * 1000
    return updates + engine.close()
