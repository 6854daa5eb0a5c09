"""The shared analysis worker: batched detection for all cameras, tracking, track finalisation."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from detect.bytetrack import ByteTrackConfig, ByteTracker
from detect.detections import Detections
from detect.track_builder import Embedder, TrackBuilder
from detect.track_record import TrackRecord
from ingest.camera import LatestFrames, RateMeter
from ingest.frame import Frame

log = logging.getLogger(__name__)

RecordSink = Callable[[list[TrackRecord]], object]


class BatchDetector(Protocol):
    """What the worker needs from a detector backend."""

    def detect(self, frames: list[np.ndarray]) -> list[Detections]: ...


class AnalysisWorker:
    """One inference thread for every camera: frames in, finished `TrackRecord`s out.

    Per camera it keeps a tracker and a track builder; ended tracks are finalised (embedding,
    best shot) here, off the capture threads, and handed to `sink`.
    """

    def __init__(
        self,
        frames: LatestFrames,
        detector: BatchDetector,
        embedder: Embedder,
        sink: RecordSink,
        batch_size: int = 4,
        track_max_age_s: float = 2.0,
    ) -> None:
        self._frames = frames
        self._detector = detector
        self._embedder = embedder
        self._sink = sink
        self._batch_size = batch_size
        self._track_max_age_s = track_max_age_s
        self._trackers: dict[str, ByteTracker] = {}
        self._builders: dict[str, TrackBuilder] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames_analysed = 0
        self.lag_s: dict[str, float] = {}
        self.analysed_rate: dict[str, RateMeter] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="analysis", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, finishing every open track so nothing seen is lost."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for camera_id in list(self._trackers):
            self.end_camera(camera_id)

    def end_camera(self, camera_id: str) -> None:
        """Finalise all open tracks of a camera (it was removed or its stream stopped)."""
        tracker = self._trackers.pop(camera_id, None)
        builder = self._builders.pop(camera_id, None)
        if tracker is None or builder is None:
            return
        tracker.end_all()
        self._emit(builder.finish_all())

    def process(self, batch: list[Frame]) -> None:
        """Detect, track and finalise one batch of frames (any mix of cameras)."""
        results = self._detector.detect([frame.image for frame in batch])
        for frame, detections in zip(batch, results, strict=True):
            tracker = self._trackers.get(frame.camera_id)
            builder = self._builders.get(frame.camera_id)
            if tracker is None or builder is None:
                tracker = self._trackers[frame.camera_id] = ByteTracker(
                    ByteTrackConfig(max_age_s=self._track_max_age_s)
                )
                builder = self._builders[frame.camera_id] = TrackBuilder(
                    frame.camera_id, self._embedder
                )
            tracked, ended = tracker.update(detections, frame.wall_time.timestamp())
            builder.observe(frame, tracked)
            self._emit(builder.finish(ended))
            self.frames_analysed += 1
            self.lag_s[frame.camera_id] = (datetime.now(UTC) - frame.wall_time).total_seconds()
            self.analysed_rate.setdefault(frame.camera_id, RateMeter()).tick()

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._frames.get_batch(self._batch_size, timeout_s=0.2)
            if not batch:
                continue
            try:
                self.process(batch)
            except Exception:  # one bad batch must not stop analysis for every camera
                log.exception("analysis of a batch of %d frames failed", len(batch))

    def _emit(self, records: list[TrackRecord]) -> None:
        if not records:
            return
        try:
            self._sink(records)
        except Exception:  # the sink's failure is logged; analysis of other tracks goes on
            log.exception("storing %d finished tracks failed", len(records))
