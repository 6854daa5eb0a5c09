"""Re-index work units (issue #15): one recorded segment, analysed and stored all or nothing.

The contract every executor keeps:

- A `SegmentUnit` is a frozen, picklable value: the job, the catalog unit (its checkpoint row),
  the recording, the camera, the object key, sha256 and size, the time span and the models
  (detector registry name, embedder manifest name) the job asked for.
- `process_unit(unit, context)` is the whole work of a unit and is idempotent: a unit already
  done (or skipped) is a no-op; otherwise it reads the segment from object storage, checks its
  bytes against the catalog (size, sha256), analyses it on the archive path (ingest/archive.py
  → batched detector → tracker → track builder, as live), stores the pictures, then commits the
  unit's tracks (tagged with the job's detector and embedder versions) together with its
  checkpoint (`pending` → `done`) in ONE catalog transaction. A crash before that commit leaves
  the unit pending (redone from scratch; its pictures are overwritten under the same keys); a
  second worker racing on the same unit loses the conditional checkpoint update and rolls back.
  A segment that cannot be read (missing, truncated, corrupt, undecodable) is checkpointed
  `skipped` with the reason and the job goes on. Infrastructure failures (catalog or object
  storage down) raise: the unit stays pending for a later attempt.
- `UnitContext` holds what a worker needs and loads each (detector, embedder) pair ONCE
  (`context.models(...)`, cached, thread-safe): an in-process executor shares one context, a
  Ray worker actor builds its own from the same settings and keeps it for its lifetime.
- An `Executor` runs a batch of units: `run(units, on_done, admit)` calls `admit()` before it
  starts each unit (it blocks while live ingest needs the CPU and returns False when the job
  must stop: pause, cancel, runner stopping), runs units with its own parallelism, and calls
  `on_done(result)` once per unit it ran, in the caller's thread. `run_unit` wraps
  `process_unit` so that an exception becomes a `failed` result instead of ending the batch.

Another executor plugs in by implementing `Executor.run` (e.g. one Ray task per segment batch on
actors holding a `UnitContext`): results and checkpoints go to the shared catalog and object
storage from the workers themselves, so the job code (index/reindex_jobs.py) is the same.

Tracks crossing a segment boundary are split in two: each unit's tracker starts empty and
ends every track at the segment's end, so someone in view across a boundary becomes one track
per segment (both found by an appearance search, counted twice by per-track counts). Joining
them would make a unit either wait for its successor or rewrite its predecessor's committed
track rows, and so lose the one-transaction-per-segment checkpoint that makes resume exact;
it is not done.

Re-indexed tracks get local ids −(unit id × 10⁵ + tracker id): the catalog's track key
(camera, local id, start) of a re-index never meets a live track's (positive ids) nor another
job's, and the redo of a crashed unit writes the same keys.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from detect.bytetrack import ByteTrackConfig, ByteTracker
from detect.detector import Detector
from detect.embedder import AppearanceEmbedder
from detect.registry import DetectorOptions, build_detector
from detect.track_builder import TrackBuilder
from detect.track_record import TrackRecord
from detect.violations import SIDE_CLASSES, split_side_detections
from index.catalog import add_tracks
from index.catalog.reindex import begin_unit_attempt, finish_unit, skip_unit
from index.catalog.values import NewTrack
from index.track_indexer import context_key, thumbnail_key
from ingest.archive import ArchiveError, ArchiveReader, ArchiveSettings, ArchiveStats
from ingest.frame import Frame
from storage.objectstore import ObjectNotFoundError, ObjectStore

log = logging.getLogger(__name__)

UNIT_TRACK_ID_SPAN = 100_000  # tracker ids per unit (a 10 min segment holds far fewer tracks)
UnitState = Literal["done", "skipped", "already_done", "failed"]


@dataclass(frozen=True, slots=True)
class SegmentUnit:
    """One re-index unit: a recorded segment to analyse with the job's models."""

    unit_id: int
    job_id: str
    recording_id: int
    camera_id: str
    object_key: str
    sha256: str
    size_bytes: int
    start_at: datetime
    end_at: datetime
    detector: str  # detector registry name (detect/registry.py)
    embedder: str  # embedder model manifest name

    @property
    def footage_s(self) -> float:
        return (self.end_at - self.start_at).total_seconds()


@dataclass(frozen=True)
class UnitResult:
    """How a unit ended: `done` (tracks stored, ids and vectors here), `skipped` (unreadable
    segment, `error` says why), `already_done` (another run finished it) or `failed` (an
    exception, `error`; the unit stays pending)."""

    unit_id: int
    state: UnitState
    footage_s: float
    track_ids: tuple[int, ...] = ()
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    embedding_version: str = ""
    error: str | None = None
    wall_s: float = 0.0
    decoded_frames: int = 0
    analysed_frames: int = 0


def reindex_local_track_id(unit_id: int, tracker_id: int) -> int:
    """The catalog local id of a re-indexed track (negative; see the module docstring)."""
    if not 0 < tracker_id < UNIT_TRACK_ID_SPAN:
        raise ValueError(f"tracker id {tracker_id} outside 1..{UNIT_TRACK_ID_SPAN - 1}")
    return -(unit_id * UNIT_TRACK_ID_SPAN + tracker_id)


def unit_local_id_range(unit_id: int) -> tuple[int, int]:
    """The (lowest, highest) catalog local ids a unit's tracks can have."""
    return (
        reindex_local_track_id(unit_id, UNIT_TRACK_ID_SPAN - 1),
        reindex_local_track_id(unit_id, 1),
    )


def detector_version(detector: str, input_px: tuple[int, int]) -> str:
    """What tracks record as their detector: the registry name at its input size."""
    return f"{detector}@{input_px[0]}x{input_px[1]}"


@dataclass(frozen=True)
class UnitModels:
    """One loaded (detector, embedder) pair and the versions tracks carry."""

    detector: Detector
    embedder: AppearanceEmbedder
    detector_version: str

    @property
    def embedding_version(self) -> str:
        return self.embedder.embedding_version


@dataclass(frozen=True)
class AnalysisSettings:
    """How units are analysed: archive sampling, detector input, batch and tracker age."""

    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    detector_input_px: tuple[int, int] = (448, 256)
    score_threshold: float = 0.35
    batch_size: int = 4
    track_max_age_s: float = 2.0
    intra_op_threads: int = 1  # ONNX Runtime threads per model: one core per unit in flight


class UnitContext:
    """What a worker needs to process units; models load once per (detector, embedder)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        models_dir: Path,
        analysis: AnalysisSettings | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.models_dir = models_dir
        self.analysis = analysis or AnalysisSettings()
        self._models: dict[tuple[str, str], UnitModels] = {}
        self._lock = threading.Lock()

    def models(self, detector: str, embedder: str) -> UnitModels:
        """The loaded pair (built on first use, then shared)."""
        with self._lock:
            key = (detector, embedder)
            if key not in self._models:
                self._models[key] = load_models(detector, embedder, self.models_dir, self.analysis)
            return self._models[key]


def load_models(
    detector: str, embedder: str, models_dir: Path, analysis: AnalysisSettings
) -> UnitModels:
    """Build a detector (registry) and an embedder (a manifest name, or `<manifest>+reid:<id>`
    for a learned re-ID metric), one ONNX Runtime thread each unless `analysis` says otherwise."""
    options = DetectorOptions(
        models_dir,
        input_px=analysis.detector_input_px,
        score_threshold=analysis.score_threshold,
        threads=analysis.intra_op_threads,
        side_classes=SIDE_CLASSES,  # as live: carried objects (bags) become person attributes
    )
    return UnitModels(
        detector=build_detector(detector, options),
        embedder=AppearanceEmbedder.from_name(
            embedder, models_dir, intra_op_threads=analysis.intra_op_threads
        ),
        detector_version=detector_version(detector, analysis.detector_input_px),
    )


# ---- one unit -------------------------------------------------------------------------------


def _batches(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    while batch := list(islice(frames, size)):
        yield batch


def analyse_segment(
    data: bytes, unit: SegmentUnit, models: UnitModels, analysis: AnalysisSettings
) -> tuple[list[TrackRecord], ArchiveStats]:
    """The finished tracks of one stored segment (archive path, batched detection, the live
    tracker and track builder); ArchiveError when the segment cannot be read."""
    reader = ArchiveReader(data, unit.camera_id, unit.start_at, analysis.archive)
    scan = reader.scan()
    tracker = ByteTracker(ByteTrackConfig(max_age_s=analysis.track_max_age_s))
    builder = TrackBuilder(unit.camera_id, models.embedder)
    records: list[TrackRecord] = []
    for batch in _batches(reader.frames(scan), analysis.batch_size):
        found = models.detector.detect([frame.image for frame in batch])
        for frame, detections in zip(batch, found, strict=True):
            for_tracker, side = split_side_detections(detections)
            at_s = frame.wall_time.timestamp()
            tracked, finished = tracker.update(for_tracker, at_s, frame.image)
            builder.observe(frame, tracked, side)
            records += builder.finalise(builder.end(finished))
    tracker.end_all()
    records += builder.finalise(builder.end(builder.open_track_ids))
    return records, reader.stats


def _unreadable(data: bytes, unit: SegmentUnit) -> str | None:
    """Why the stored bytes are not the recorded segment (None: they are)."""
    if len(data) != unit.size_bytes:
        return f"truncated or altered: {len(data)} of {unit.size_bytes} bytes"
    if hashlib.sha256(data).hexdigest() != unit.sha256.lower():
        return "corrupt: sha256 differs from the recorded segment's"
    return None


def _skip(context: UnitContext, unit: SegmentUnit, reason: str, started: float) -> UnitResult:
    with context.sessions() as session:
        skipped = skip_unit(session, unit.unit_id, reason, unit.footage_s)
        session.commit()
    log.warning("re-index job %s skips %s: %s", unit.job_id, unit.object_key, reason)
    state: UnitState = "skipped" if skipped else "already_done"
    return UnitResult(
        unit.unit_id, state, unit.footage_s, error=reason, wall_s=time.monotonic() - started
    )


def process_unit(unit: SegmentUnit, context: UnitContext) -> UnitResult:
    """Analyse one segment and store its tracks with its checkpoint (see the module docstring)."""
    started = time.monotonic()
    with context.sessions() as session:
        attempts = begin_unit_attempt(session, unit.unit_id)
        session.commit()
    if attempts == 0:
        return UnitResult(unit.unit_id, "already_done", unit.footage_s)
    try:
        data = context.store.get(unit.object_key)
    except ObjectNotFoundError:
        return _skip(context, unit, f"missing: {unit.object_key} is not in object storage", started)
    reason = _unreadable(data, unit)
    if reason is not None:
        return _skip(context, unit, reason, started)
    models = context.models(unit.detector, unit.embedder)
    try:
        records, stats = analyse_segment(data, unit, models, context.analysis)
    except ArchiveError as error:
        return _skip(context, unit, f"undecodable: {error}", started)
    records = [
        replace(r, local_track_id=reindex_local_track_id(unit.unit_id, r.local_track_id))
        for r in records
    ]
    tracks = _store_pictures(context.store, records, models.detector_version)
    with context.sessions() as session:
        ids = add_tracks(session, tracks)
        if not finish_unit(session, unit.unit_id, len(ids), unit.footage_s):
            session.rollback()
            return UnitResult(unit.unit_id, "already_done", unit.footage_s)
        session.commit()
    embeddings = (
        np.stack([r.embedding for r in records]).astype(np.float32)
        if records
        else np.zeros((0, models.embedder.dim), np.float32)
    )
    return UnitResult(
        unit.unit_id, "done", unit.footage_s, tuple(ids), embeddings, models.embedding_version,
        wall_s=time.monotonic() - started, decoded_frames=stats.decoded_frames,
        analysed_frames=stats.analysed_frames,
    )  # fmt: skip


def _store_pictures(
    store: ObjectStore, records: list[TrackRecord], detector: str
) -> list[NewTrack]:
    """Put each track's thumbnail and context frame (before any row names them); their rows."""
    tracks: list[NewTrack] = []
    for record in records:
        key = thumbnail_key(record)
        store.put_bytes(key, record.thumbnail_jpeg, "image/jpeg")
        if record.context_jpeg:
            store.put_bytes(context_key(key), record.context_jpeg, "image/jpeg")
        tracks.append(NewTrack.from_record(record, key, detector))
    return tracks


def run_unit(unit: SegmentUnit, context: UnitContext) -> UnitResult:
    """`process_unit`, with an exception turned into a `failed` result (the unit stays pending)."""
    started = time.monotonic()
    try:
        return process_unit(unit, context)
    except Exception as error:  # catalog / storage down, a model that fails: retried later
        log.exception("re-index unit %d (%s) failed", unit.unit_id, unit.object_key)
        return UnitResult(
            unit.unit_id, "failed", unit.footage_s, error=f"{type(error).__name__}: {error}",
            wall_s=time.monotonic() - started,
        )  # fmt: skip


# ---- executors ------------------------------------------------------------------------------


class Executor(Protocol):
    """Runs units; see the module docstring for the contract."""

    def run(
        self,
        units: Sequence[SegmentUnit],
        on_done: Callable[[UnitResult], None],
        admit: Callable[[], bool],
    ) -> None: ...

    def close(self) -> None:
        """Release what the executor holds (workers, cluster connections)."""


class InProcessExecutor:
    """Units on `threads` threads of this process sharing one `UnitContext` (the default).

    Each unit's models run with one ONNX Runtime thread, so `threads` is the number of cores a
    job takes from live ingest: the default 1 leaves the other core of a 2-core machine to it.
    """

    def __init__(self, context: UnitContext, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"threads must be ≥ 1, got {threads}")
        self.context = context
        self.threads = threads

    def run(
        self,
        units: Sequence[SegmentUnit],
        on_done: Callable[[UnitResult], None],
        admit: Callable[[], bool],
    ) -> None:
        waiting = list(units)
        running: set[Future[UnitResult]] = set()
        with ThreadPoolExecutor(self.threads, thread_name_prefix="reindex") as pool:
            while waiting or running:
                while waiting and len(running) < self.threads:
                    if not admit():  # stop: the units not started stay pending
                        waiting.clear()
                        break
                    running.add(pool.submit(run_unit, waiting.pop(0), self.context))
                if not running:
                    return
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    on_done(future.result())

    def close(self) -> None:
        """Nothing to release: each `run` ends its own threads."""
