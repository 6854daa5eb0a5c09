"""The shared analysis worker: batched detection for all cameras, tracking, track finalisation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from detect.bytetrack import ByteTrackConfig, ByteTracker
from detect.detections import Detections
from detect.detector import BatchDetector as BatchDetector  # re-exported for search_api.context
from detect.detector import Detector, DetectorConfig, detector_for
from detect.motion_regions import MotionRegionDetector, MotionRegionSettings
from detect.plate_views import PlateSource
from detect.track_builder import Embedder, EndedTrack, PlateSighter, TrackBuilder
from detect.track_record import TrackRecord
from detect.violations import ViolationDetector, split_side_detections
from detect.zone_rules import ViolationUpdate, ZoneRule
from ingest.camera import RateMeter
from ingest.frame import Frame
from ingest.frame_queue import LatestFrames

log = logging.getLogger(__name__)

RecordSink = Callable[[list[TrackRecord]], object]
ViolationSink = Callable[[ViolationUpdate], object]  # index.event_recorder.EventRecorder
_Ended = list[tuple[TrackBuilder, list[EndedTrack]]]  # tracks detached under the lock


@dataclass(frozen=True)
class CameraAnalysis:
    """A camera's analysis settings: detector choice (tiling), compass heading of its view,
    the rules of its zones (#13) and which stream its plates are read from (#14)."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    heading_deg: float | None = None
    rules: tuple[ZoneRule, ...] = ()
    plate_source: PlateSource = "sub"  # "main": plates read again on the main stream (#14)


PLAIN_ANALYSIS = CameraAnalysis()


class AnalysisWorker:
    """Inference threads shared by every camera: frames in, finished `TrackRecord`s out.

    Per camera it keeps a tracker and a track builder; ended tracks are finalised (embedding,
    best shot) here, off the capture threads, and handed to `sink`. With `threads` > 1 several
    batches are detected at once (each thread's detector call uses its own core); the frame
    queue hands one camera to one thread at a time, so each camera is tracked in frame order.
    Per-camera settings arrive through `configure_camera` (cameras never configured: plain)
    and apply from the camera's next batch.

    A camera with zone rules also gets a `ViolationDetector`, fed every analysed frame with
    its tracked boxes and the detector's untracked stall-proxy boxes (`side` classes, split off
    before the tracker so track records stay as they were); its updates go to
    `violation_sink`, one at a time.
    """

    def __init__(
        self,
        frames: LatestFrames,
        detector: Detector,
        embedder: Embedder,
        sink: RecordSink,
        batch_size: int = 4,
        track_max_age_s: float = 2.0,
        threads: int = 1,
        violation_sink: ViolationSink | None = None,
        plate_reader: PlateSighter | None = None,
        motion_regions: MotionRegionSettings | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be ≥ 1, got {threads}")
        self._frames = frames
        self._detector = detector
        self._embedder = embedder
        self._sink = sink
        self._batch_size = batch_size
        self._track_max_age_s = track_max_age_s
        self._cameras: dict[str, CameraAnalysis] = {}  # configured cameras; under the lock
        # per detector choice, built once: the (tiled) detector, or None when the backend
        # refused the tiling (those cameras get full frames); under the lock
        self._tilings: dict[DetectorConfig, Detector | None] = {}
        # cameras with `motion_regions`: per detector choice, over its (tiled) detector (#16)
        self._region_settings = motion_regions or MotionRegionSettings()
        self._regions: dict[DetectorConfig, MotionRegionDetector] = {}
        self._trackers: dict[str, ByteTracker] = {}
        self._builders: dict[str, TrackBuilder] = {}
        self._violation_sink = violation_sink
        self._plate_reader = plate_reader  # vehicle tracks' plates, read when they finalise
        self._violations: dict[str, ViolationDetector] = {}  # cameras with rules; under the lock
        self.violation_updates = 0
        self._stop = threading.Event()
        self._thread_count = threads
        self._threads: list[threading.Thread] = []
        self.frames_analysed = 0
        self.tracks_finished = 0
        self.lag_s: dict[str, float] = {}
        self.analysed_rate: dict[str, RateMeter] = {}
        self._last_frame_s: dict[str, float] = {}
        self._last_at_s: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._run, name=f"analysis-{i}", daemon=True)
            for i in range(self._thread_count)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop after analysing what is queued, finishing every open track: nothing seen is lost."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for camera_id in list(self._trackers):
            self.end_camera(camera_id)

    def configure_camera(self, camera_id: str, analysis: CameraAnalysis) -> None:
        """Set a camera's analysis settings (tiling, heading); its next batch uses them.

        Tiles the detector backend cannot do are refused here with a logged warning, not a
        failure: the camera is then analysed on full frames, its heading still applies.
        """
        config = analysis.detector
        with self._lock:
            if config not in self._tilings:
                self._tilings[config] = detector_for(config, self._detector)
            refused = self._tilings[config] is None
            if config.motion_regions and config not in self._regions:
                self._regions[config] = MotionRegionDetector(
                    self._detector, self._region_settings, self._tilings[config]
                )
            self._cameras[camera_id] = analysis
        if refused:
            cols, rows = config.tiles
            log.warning(
                "camera %s asks for %dx%d tiles, but the detector backend %s cannot tile;"
                " analysing its full frames",
                camera_id, cols, rows, type(self._detector).__name__,
            )  # fmt: skip

    def forget_camera(self, camera_id: str) -> None:
        """Drop a camera's analysis settings (it left the catalog): back to plain analysis;
        its open violations end."""
        with self._lock:
            self._cameras.pop(camera_id, None)
            engine = self._violations.pop(camera_id, None)
            for regions in self._regions.values():  # its carried boxes and pass times
                regions.forget(camera_id)
        if engine is not None:
            self._report(engine.close())

    def camera_settings(self) -> dict[str, CameraAnalysis]:
        """The configured cameras' settings (a copy)."""
        with self._lock:
            return dict(self._cameras)

    def end_camera(self, camera_id: str) -> None:
        """Finalise all open tracks of a camera (removed, paused, or its stream went quiet)
        and end its open violations."""
        with self._lock:
            ended = self._close_camera(camera_id)
            engine = self._violations.pop(camera_id, None)
        self._finalise(ended)
        if engine is not None:
            self._report(engine.close())

    def _close_camera(self, camera_id: str) -> _Ended:
        """Drop a camera's tracker and detach its tracks; the caller holds the lock."""
        tracker = self._trackers.pop(camera_id, None)
        builder = self._builders.pop(camera_id, None)
        self._last_frame_s.pop(camera_id, None)
        if tracker is None or builder is None:
            return []
        tracker.end_all()
        return [(builder, builder.end(builder.open_track_ids))]

    def end_quiet_cameras(self) -> None:
        """A camera that stopped sending frames must not keep its tracks open forever. Quiet
        means nothing analysed and nothing offered: an overloaded camera whose frames wait or
        are dropped is not quiet (ending it would cut every one of its tracks)."""
        now = time.monotonic()
        with self._lock:
            last_frame_s = list(self._last_frame_s.items())
        quiet = [
            camera_id
            for camera_id, analysed_s in last_frame_s
            if now - max(analysed_s, self._frames.last_put_s(camera_id)) > 2 * self._track_max_age_s
        ]
        for camera_id in quiet:
            self.end_camera(camera_id)

    def process(self, batch: list[Frame]) -> None:
        """Detect, track and finalise one batch of frames (any mix of cameras)."""
        with self._lock:
            settings = [self._cameras.get(frame.camera_id, PLAIN_ANALYSIS) for frame in batch]
            detectors = [
                self._regions.get(a.detector) or self._tilings.get(a.detector) or self._detector
                for a in settings
            ]
        results = self._detect(batch, detectors)
        for frame, detections, analysis in zip(batch, results, settings, strict=True):
            for_tracker, side = split_side_detections(detections)
            with self._lock:
                ended, tracked = self._track(frame, for_tracker, side, analysis)
                self.frames_analysed += 1
                self.lag_s[frame.camera_id] = (datetime.now(UTC) - frame.wall_time).total_seconds()
                self.analysed_rate.setdefault(frame.camera_id, RateMeter()).tick()
                self._last_frame_s[frame.camera_id] = time.monotonic()
                engine, closed = self._violation_engine(frame.camera_id, analysis.rules)
            self._finalise(ended)  # embedding takes tens of ms: not under the shared lock
            if engine is not None:  # one thread per camera at a time: no lock needed
                closed += engine.observe(frame.image, frame.wall_time, tracked, side)
            self._report(closed)

    def _violation_engine(
        self, camera_id: str, rules: tuple[ZoneRule, ...]
    ) -> tuple[ViolationDetector | None, list[ViolationUpdate]]:
        """The camera's engine with `rules` (None without rules) and the updates of violations
        its rule change ended; the caller holds the lock."""
        engine = self._violations.get(camera_id)
        if not rules:
            self._violations.pop(camera_id, None)
            return None, [] if engine is None else engine.close()
        if engine is None:
            engine = self._violations[camera_id] = ViolationDetector(camera_id, rules)
            return engine, []
        return engine, ([] if engine.rules == rules else engine.set_rules(rules))

    def _report(self, updates: list[ViolationUpdate]) -> None:
        if not updates:
            return
        with self._lock:
            self.violation_updates += len(updates)
        if self._violation_sink is None:
            return
        for update in updates:  # in order: an update of a violation follows its opening
            try:
                self._violation_sink(update)
            except Exception:  # the sink's failure is logged; analysis goes on
                log.exception(
                    "recording the %s violation update of zone %d on %s failed",
                    update.phase, update.zone_id, update.camera_id,
                )  # fmt: skip

    def _detect(
        self, batch: list[Frame], detectors: Sequence[BatchDetector | MotionRegionDetector]
    ) -> list[Detections]:
        """One call per distinct detector in the batch: untiled cameras share one; motion-region
        cameras get whole `Frame`s (their masks), their regions sharing canvases."""
        groups: dict[int, tuple[BatchDetector | MotionRegionDetector, list[int]]] = {}
        for index, detector in enumerate(detectors):
            groups.setdefault(id(detector), (detector, []))[1].append(index)
        results: dict[int, Detections] = {}
        for detector, indices in groups.values():
            if isinstance(detector, MotionRegionDetector):
                found = detector.detect_frames([batch[i] for i in indices])
            else:
                found = detector.detect([batch[i].image for i in indices])
            results.update(zip(indices, found, strict=True))
        return [results[i] for i in range(len(batch))]

    def _track(
        self, frame: Frame, detections: Detections, side: Detections, analysis: CameraAnalysis
    ) -> tuple[_Ended, Detections]:
        """Track one frame (`side`: the untracked boxes, for carried objects), detaching the
        tracks that ended; (those, the tracked boxes). The caller holds the lock."""
        at_s = frame.wall_time.timestamp()
        ended: _Ended = []
        if at_s < self._last_at_s.get(frame.camera_id, at_s):
            ended = self._close_camera(frame.camera_id)  # stream restarted on an earlier clock
        self._last_at_s[frame.camera_id] = at_s
        tracker = self._trackers.get(frame.camera_id)
        builder = self._builders.get(frame.camera_id)
        if tracker is None or builder is None:
            tracker = self._trackers[frame.camera_id] = ByteTracker(
                ByteTrackConfig(max_age_s=self._track_max_age_s)
            )
            builder = self._builders[frame.camera_id] = TrackBuilder(
                frame.camera_id, self._embedder, plate_reader=self._plate_reader
            )
        builder.camera_heading_deg = analysis.heading_deg  # for the tracks finalised from now on
        builder.plate_source = analysis.plate_source
        tracked, finished = tracker.update(detections, at_s, frame.image)
        builder.observe(frame, tracked, side)
        return [*ended, (builder, builder.end(finished))], tracked

    def _run(self) -> None:
        while not self._stop.is_set():
            self._analyse(self._frames.get_batch(self._batch_size, timeout_s=0.2))
            self.end_quiet_cameras()
        while batch := self._frames.get_batch(self._batch_size, timeout_s=0.0):
            self._analyse(batch)

    def _analyse(self, batch: list[Frame]) -> None:
        if not batch:
            return
        try:
            self.process(batch)
        except Exception:  # one bad batch must not stop analysis for every camera
            log.exception("analysis of a batch of %d frames failed", len(batch))
        finally:
            self._frames.release(batch)

    def _finalise(self, ended: _Ended) -> None:
        records = [r for builder, tracks in ended if tracks for r in builder.finalise(tracks)]
        if not records:
            return
        with self._lock:
            self.tracks_finished += len(records)
        try:
            self._sink(records)
        except Exception:  # the sink's failure is logged; analysis of other tracks goes on
            log.exception("storing %d finished tracks failed", len(records))
