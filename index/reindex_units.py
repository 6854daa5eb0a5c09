"""Re-index work units (issue #15): one recorded segment, analysed and stored all or nothing.

The contract every executor keeps:

- A `SegmentUnit` is a frozen, picklable value: the job, the catalog unit (its checkpoint row),
  the recording, the camera, the object key, sha256 and size, the time span and the models
  (detector registry name, embedder manifest name) the job asked for.
- `process_unit(unit, context)` is the whole work of a unit and is idempotent: a unit already
  done (or skipped) is a no-op; otherwise it reads the segment from object storage, checks its
  bytes against the catalog (size, sha256), analyses it on the archive path (ingest/archive.py
  → batched detector → tracker → track builder, as live; with its neighbours' edges, see
  below), stores the pictures, then commits the unit's tracks (tagged with the job's detector
  and embedder versions) together with its checkpoint (`pending` → `done`) in ONE catalog
  transaction, which also deletes the tracks of that embedding version they replace (the
  other tracks of the camera starting in the segment: index/catalog/reindex_supersede.py;
  their pictures are deleted after the commit) and adds their number to the job's
  `tracks_replaced`. A crash before that commit leaves
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

Tracks crossing a segment boundary stay whole (index/reindex_boundaries.py): a track belongs to
the unit whose segment holds its first confirmed frame; a unit warms its tracker up on the
previous segment's tail (so the tracks already in view are known to be the previous unit's) and
follows its own open tracks into the following segments until they end (up to the next
hand-over segment, once a minute). Units stay independent and each still commits its own
tracks, whole, with its checkpoint; the neighbours are read, never written.

Vehicle tracks' plates are read as live (best views + views while standing still, voted) by the
live runtime's `PlateReader` (`AnalysisSettings.plates`, loaded once per context), on crops of
the recorded frame at full resolution (index/reindex_plates.py); they are stored with the
unit's tracks (plate row + plate crop, in the same transaction) and counted in the job result's
`plates_read`. So a re-index into the live version, which replaces the live tracks of its range,
keeps plate search working for the vehicles of that range.

Re-indexed tracks get local ids −(unit id × 10⁵ + tracker id), the unit being the track's owner
(tracker ids count the warm-up's and the look-ahead's tracks too, far below 10⁵): the catalog's
track key (camera, local id, start) of a re-index never meets a live track's (positive ids) nor
another job's, and the redo of a crashed unit writes the same keys.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from detect.bytetrack import ByteTrackConfig
from detect.detector import Detector
from detect.embedder import AppearanceEmbedder
from detect.plate_reading import PlateReading
from detect.registry import DetectorOptions, build_detector
from detect.track_builder import PlateSighter
from detect.track_record import TrackRecord
from detect.violations import SIDE_CLASSES
from index.catalog import add_tracks
from index.catalog.plates import store_plates
from index.catalog.reindex import add_replaced_tracks, add_unit_count
from index.catalog.reindex_supersede import supersede_segment_tracks
from index.catalog.reindex_units import UnitSegment, begin_unit_attempt, finish_unit, skip_unit
from index.catalog.values import NewTrack
from index.reindex_boundaries import (
    BoundarySettings,
    BoundaryStats,
    NeighbourBytes,
    SegmentBytes,
    UnitAnalyser,
    UnitAnalysis,
    bytes_problem,
    unit_neighbours,
)
from index.track_indexer import context_key, plate_crop_key, plate_rows, thumbnail_key
from ingest.archive import ArchiveError, ArchiveSettings
from storage.objectstore import ObjectNotFoundError, ObjectStore

log = logging.getLogger(__name__)

UNIT_TRACK_ID_SPAN = 100_000  # tracker ids per unit (a 10 min segment holds far fewer tracks)
UnitState = Literal["done", "skipped", "already_done", "failed"]


@dataclass(frozen=True, slots=True)
class SegmentUnit(UnitSegment):
    """One re-index unit: a recorded segment to analyse with the job's models."""

    detector: str  # detector registry name (detect/registry.py)
    embedder: str  # embedder model manifest name

    @classmethod
    def of(cls, segment: UnitSegment, detector: str, embedder: str) -> SegmentUnit:
        """The unit of `segment` (e.g. a catalog `UnitRecord`) analysed with these models."""
        values = {f.name: getattr(segment, f.name) for f in fields(UnitSegment)}
        return cls(**values, detector=detector, embedder=embedder)


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
    warmup_frames: int = 0  # analysed before the segment (the previous one's tail)
    lookahead_frames: int = 0  # analysed after it, following the unit's open tracks
    boundary_notes: tuple[str, ...] = ()  # neighbours not used, and why
    superseded_ids: tuple[int, ...] = ()  # tracks of the version this unit replaced (deleted)
    kept_superseded_ids: tuple[int, ...] = ()  # replaced, but kept: a case, hop or hit names them
    plates_read: int = 0  # of its tracks (full-resolution reads, index/reindex_plates.py)


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
    """How units are analysed: archive sampling, detector input, batch, tracker age, the
    segment boundaries (index/reindex_boundaries.py; None: every track cut at each boundary)
    and the plate reading (None: no plates read)."""

    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    detector_input_px: tuple[int, int] = (448, 256)
    score_threshold: float = 0.35
    batch_size: int = 4
    track_max_age_s: float = 2.0
    intra_op_threads: int = 1  # ONNX Runtime threads per model: one core per unit in flight
    boundaries: BoundarySettings | None = field(default_factory=BoundarySettings)
    plates: PlateReading | None = None


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
        self._plate_reader: PlateSighter | None = None
        self._lock = threading.Lock()

    def models(self, detector: str, embedder: str) -> UnitModels:
        """The loaded pair (built on first use, then shared)."""
        with self._lock:
            key = (detector, embedder)
            if key not in self._models:
                self._models[key] = load_models(detector, embedder, self.models_dir, self.analysis)
            return self._models[key]

    def plate_reader(self) -> PlateSighter | None:
        """The plate reader `analysis.plates` asks for (built on first use, then shared)."""
        with self._lock:
            if self._plate_reader is None and self.analysis.plates is not None:
                self._plate_reader = self.analysis.plates.reader()
            return self._plate_reader


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


def analyse_segment(
    data: bytes,
    unit: SegmentUnit,
    models: UnitModels,
    analysis: AnalysisSettings,
    neighbours: NeighbourBytes | None = None,
    plate_reader: PlateSighter | None = None,
) -> UnitAnalysis:
    """The unit's own tracks from its stored segment (archive path, batched detection, the live
    tracker and track builder, vehicles' plates read at full resolution with `plate_reader`),
    with the warm-up on and the look-ahead into `neighbours` (index/reindex_boundaries.py);
    ArchiveError when the segment cannot be read."""
    boundaries = analysis.boundaries or BoundarySettings(warmup_s=0.0)
    analyser = UnitAnalyser(
        unit.camera_id, models.detector, models.embedder, analysis.archive,
        ByteTrackConfig(max_age_s=analysis.track_max_age_s), analysis.batch_size,
        boundaries.warmup_s, boundaries.still_share, plate_reader,
    )  # fmt: skip
    own = SegmentBytes(data, unit.start_at, unit.end_at)
    if neighbours is None:
        return analyser.analyse(own)
    boundary = neighbours.stats
    return analyser.analyse(own, neighbours.previous(), neighbours.following(), boundary)


def _neighbours(context: UnitContext, unit: SegmentUnit) -> NeighbourBytes | None:
    """The unit's contiguous neighbours in its job (None: boundaries are not joined)."""
    settings = context.analysis.boundaries
    if settings is None:
        return None
    plan = unit_neighbours(context.sessions, unit, settings)
    return NeighbourBytes(context.store, plan, BoundaryStats())


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
    reason = bytes_problem(data, unit.size_bytes, unit.sha256)
    if reason is not None:
        return _skip(context, unit, reason, started)
    models = context.models(unit.detector, unit.embedder)
    neighbours = _neighbours(context, unit)
    reader = context.plate_reader()
    try:
        analysis = analyse_segment(data, unit, models, context.analysis, neighbours, reader)
    except ArchiveError as error:
        return _skip(context, unit, f"undecodable: {error}", started)
    stats, boundary = analysis.stats, analysis.boundary
    for note in boundary.notes:
        log.warning("re-index unit %d (%s): %s", unit.unit_id, unit.object_key, note)
    records = [
        replace(r, local_track_id=reindex_local_track_id(unit.unit_id, r.local_track_id))
        for r in analysis.records
    ]
    tracks = _store_pictures(context.store, records, models.detector_version)
    with context.sessions() as session:
        superseded = supersede_segment_tracks(
            session, unit.camera_id, models.embedding_version, unit.start_at, unit.end_at,
            unit_local_id_range(unit.unit_id),
        )  # fmt: skip
        ids = add_tracks(session, tracks)
        plates = plate_rows(ids, records, tracks)
        store_plates(session, plates)
        if not finish_unit(session, unit.unit_id, len(ids), unit.footage_s):
            session.rollback()
            return UnitResult(unit.unit_id, "already_done", unit.footage_s)
        add_replaced_tracks(session, unit.job_id, len(superseded.deleted_ids))
        add_unit_count(session, unit.job_id, "plates_read", len(plates))
        session.commit()
    _delete_pictures(context.store, superseded.thumbnail_keys)
    if superseded.kept_ids:
        log.warning(
            "re-index unit %d kept %d superseded tracks a case, hop or watchlist hit names: %s",
            unit.unit_id, len(superseded.kept_ids), list(superseded.kept_ids[:20]),
        )  # fmt: skip
    embeddings = (
        np.stack([r.embedding for r in records]).astype(np.float32)
        if records
        else np.zeros((0, models.embedder.dim), np.float32)
    )
    return UnitResult(
        unit.unit_id, "done", unit.footage_s, tuple(ids), embeddings, models.embedding_version,
        wall_s=time.monotonic() - started, decoded_frames=stats.decoded_frames,
        analysed_frames=stats.analysed_frames, warmup_frames=boundary.warmup_frames,
        lookahead_frames=boundary.lookahead_frames, boundary_notes=tuple(boundary.notes),
        superseded_ids=superseded.deleted_ids, kept_superseded_ids=superseded.kept_ids,
        plates_read=len(plates),
    )  # fmt: skip


def _store_pictures(
    store: ObjectStore, records: list[TrackRecord], detector: str
) -> list[NewTrack]:
    """Put each track's thumbnail, context frame and plate crop (before any row names them);
    their rows."""
    tracks: list[NewTrack] = []
    for record in records:
        key = thumbnail_key(record)
        store.put_bytes(key, record.thumbnail_jpeg, "image/jpeg")
        if record.context_jpeg:
            store.put_bytes(context_key(key), record.context_jpeg, "image/jpeg")
        if record.plate is not None and record.plate.crop_jpeg:
            store.put_bytes(plate_crop_key(key), record.plate.crop_jpeg, "image/jpeg")
        tracks.append(NewTrack.from_record(record, key, detector))
    return tracks


def _delete_pictures(store: ObjectStore, thumbnails: tuple[str, ...]) -> None:
    """Delete superseded tracks' thumbnails, context frames and plate crops (after the commit
    that deleted their rows; one that fails stays in object storage, logged)."""
    for thumbnail in thumbnails:
        for key in (thumbnail, context_key(thumbnail), plate_crop_key(thumbnail)):
            try:
                if store.exists(key):
                    store.delete(key)
            except Exception as error:  # storage down: the rows are gone, the job goes on
                log.warning("re-index could not delete superseded picture %s: %s", key, error)


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
