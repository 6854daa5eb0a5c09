"""Re-index jobs (issue #15): a job analyses the recorded segments of some cameras over a time
range with a named detector and embedder, unit by unit, through an `Executor`.

Lifecycle: `start_reindex` queues a `jobs` row (kind "reindex", the request in its params). A
`ReindexRunner` (one per process) claims queued jobs, highest priority first, plans one unit
per recorded segment (idempotent), and hands the pending units to its executor. After each unit
it records progress (segments done/total, footage-seconds per wall-second, ETA) with a
heartbeat; before each unit it checks the job is still running (pause and cancel act between
units; a unit in flight finishes, it is atomic) and yields to live ingest (`pace`). A unit that
failed (storage down…) stays pending and is retried up to `max_attempts` times, then skipped
with its error. When no unit is pending the version's index is built (a shadow index when it
is not the live version) and, if the request says so, switched live; the job succeeds with its
figures (`tracks_replaced`: the other tracks of its version its units deleted) and the list of
skipped segments.

Crashes: every unit commits its tracks with its checkpoint, so a job taken over after its
runner died (stale heartbeat, index/job_runner.py) or resumed after a pause goes on with exactly
the pending units: none lost, none twice.

Replacement: a job REPLACES what its range held for the version it writes. Each unit deletes
the other tracks of its camera and version starting in its segment (the live path's, an earlier
job's) in the transaction that stores its own (index/catalog/reindex_supersede.py), so a search
sees a segment's old tracks or its new ones, and a crash leaves each segment wholly one or the
other. A job with the live version hands the live vector index the superseded ids to remove
(`on_superseded`), then its vectors; a job with another version touches nothing of the live
one (its tracks and index stay as they are until the switch). A unit whose result never came
back (a Ray actor that died after its commit: the unit returns `already_done`) or that an
earlier run of the job committed (resumed, or taken over from a runner that died) has replaced
tracks whose ids this runner never got: it then sweeps the live index (`on_stale`: every
vector whose track is gone leaves), after that round or when the job starts, instead of leaving
them to the next retention run or restart.

A live camera's last minutes: the live path writes a track when it ends, so a track still open
when a job replaces its segment would be written afterwards beside the job's own (doubled). A
job therefore leaves out the segments of live cameras that ended less than `live_settle_s`
before it was queued (`live_until` = queued − settle: the same cut on every run of the job,
so a resumed job plans no newer units; the result names it and counts the segments left out);
uploaded footage (offline cameras) is never left out. A live track open longer than the settle
time when the job is queued can still be doubled (docs/architecture.md).

CPU share: the executor's thread count (`SKYNET_REINDEX_THREADS`, default 1 of the machine's 2
cores) with one ONNX Runtime thread per model bounds what a job takes; `pace` returns how long
to wait before the next unit (the runtime waits while live analysis lags), so live ingest keeps
its capacity.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from detect.embedder import METRIC_NAME_SEPARATOR
from detect.registry import parse_detector_name
from index.catalog import JobRecord, UnitProgress
from index.catalog.cameras import require_camera
from index.catalog.jobs import create_job, finish_held_job, get_job
from index.catalog.reindex import (
    REINDEX_JOB_KIND,
    add_index_version,
    claim_job,
    claimable_reindex_jobs,
    job_state,
    live_index_version,
    record_job_run,
)
from index.catalog.reindex_units import (
    UnitRecord,
    job_units,
    plan_units,
    skip_unit,
    unit_progress,
    unsettled_live_segments,
)
from index.catalog.tracks import camera_track_embeddings
from index.catalog.values import check_time_range
from index.index_versions import IndexVersions, SwitchRefused
from index.job_runner import HEARTBEAT_S, JobLease
from index.reindex_units import (
    Executor,
    SegmentUnit,
    UnitContext,
    UnitResult,
    unit_local_id_range,
)

log = logging.getLogger(__name__)

EMBEDDER_MODELS = ("mobilenetv2-embedder", "mobilenetv2-embedder-int8")
MAX_CAMERAS = 1000
MAX_PRIORITY = 10
REPORT_EVERY_S = 1.0  # progress is counted over all the job's units: at most once a second
LIVE_SETTLE_S = 600.0  # a live camera's segments newer than this at queue time are left out

Pace = Callable[[], float]  # seconds to wait before the next unit (0: go)
VectorSink = Callable[[str, tuple[int, ...], np.ndarray], None]  # version, ids, vectors
VectorDrop = Callable[[str, tuple[int, ...]], None]  # version, ids of superseded tracks
VectorSweep = Callable[[str], int]  # version → vectors removed whose track is gone


@dataclass(frozen=True)
class ReindexRequest:
    """What a re-index job does; `priority` 0..10 (higher first), `switch` when it completes."""

    camera_ids: tuple[str, ...]
    start: datetime
    end: datetime
    detector: str
    embedder: str
    priority: int = 0
    switch: bool = True

    def __post_init__(self) -> None:
        if not self.camera_ids or len(self.camera_ids) > MAX_CAMERAS:
            raise ValueError(f"a re-index names 1..{MAX_CAMERAS} cameras")
        start_utc, end_utc = check_time_range(self.start, self.end, "re-index range")
        object.__setattr__(self, "start", start_utc)
        object.__setattr__(self, "end", end_utc)
        object.__setattr__(self, "camera_ids", tuple(sorted(set(self.camera_ids))))
        parse_detector_name(self.detector)  # DetectorChoiceError (a ValueError) names choices
        trunk, _, metric_id = self.embedder.partition(METRIC_NAME_SEPARATOR)
        if trunk not in EMBEDDER_MODELS or (metric_id and not metric_id.isalnum()):
            raise ValueError(
                f"unknown embedder {self.embedder!r}; choose one of: {', '.join(EMBEDDER_MODELS)}"
                f", optionally with {METRIC_NAME_SEPARATOR}<metric id> (skynet reid learn)"
            )
        if not 0 <= self.priority <= MAX_PRIORITY:
            raise ValueError(f"priority must be 0..{MAX_PRIORITY}, got {self.priority}")

    def params(self) -> dict[str, Any]:
        return {
            "camera_ids": list(self.camera_ids),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "detector": self.detector,
            "embedder": self.embedder,
            "priority": self.priority,
            "switch": self.switch,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ReindexRequest:
        return cls(
            camera_ids=tuple(params["camera_ids"]),
            start=datetime.fromisoformat(params["start"]),
            end=datetime.fromisoformat(params["end"]),
            detector=str(params["detector"]),
            embedder=str(params["embedder"]),
            priority=int(params.get("priority", 0)),
            switch=bool(params.get("switch", True)),
        )


def start_reindex(session: Session, request: ReindexRequest, owner: str) -> str:
    """Queue a re-index job (cameras must exist); its id. The caller commits."""
    for camera_id in request.camera_ids:
        require_camera(session, camera_id)
    return create_job(session, REINDEX_JOB_KIND, request.params(), owner=owner)


@dataclass(frozen=True)
class ReindexProgress:
    """A job as `skynet jobs show` and the API report it."""

    job: JobRecord
    units: UnitProgress
    footage_per_wall_s: float | None
    eta_s: float | None
    skipped: tuple[tuple[str, str], ...]  # (object key, reason)
    tracks_replaced: int = 0  # other tracks of its version its units deleted (supersede)


def reindex_progress(session: Session, job_id: str) -> ReindexProgress | None:
    """The job, its units and running figures (None: no such job)."""
    job = get_job(session, job_id)
    if job is None:
        return None
    units = unit_progress(session, job_id)
    result = job.result or {}
    rate = result.get("footage_per_wall_s")
    eta = result.get("eta_s") if job.state == "running" else None
    skipped = tuple(
        (u.object_key, u.error or "") for u in job_units(session, job_id, state="skipped")
    )
    replaced = int(result.get("tracks_replaced", 0))
    return ReindexProgress(job, units, rate, eta, skipped, replaced)


def segment_unit(record: UnitRecord, request: ReindexRequest) -> SegmentUnit:
    """The executor's unit for a catalog unit of a job with `request`."""
    return SegmentUnit.of(record, request.detector, request.embedder)


class _Stop(Exception):
    """The job stopped being ours to run (paused, cancelled, taken over, runner stopping)."""


class ReindexRunner:
    """Runs re-index jobs of the catalog through `executor`, one job at a time.

    `context` gives the models' versions (its `models` cache is the in-process executor's own);
    `versions` builds and switches the indexes; `on_vectors` receives the vectors of units whose
    version is the live one (the live vector index adds them), `on_superseded` first the ids of
    the live version's tracks such a unit replaced (the live index removes them; see
    index/catalog/reindex_supersede.py), `on_stale` sweeps the live index when such ids may
    have been lost. `live_settle_s`: see the module docstring. `clock` is injectable.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        executor: Executor,
        context: UnitContext,
        versions: IndexVersions,
        *,
        runner_id: str | None = None,
        pace: Pace | None = None,
        on_vectors: VectorSink | None = None,
        on_superseded: VectorDrop | None = None,
        on_stale: VectorSweep | None = None,
        max_attempts: int = 3,
        poll_s: float = 1.0,
        live_settle_s: float = LIVE_SETTLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if live_settle_s < 0:
            raise ValueError(f"live_settle_s must not be negative, got {live_settle_s}")
        self._sessions = sessions
        self.executor = executor
        self.context = context
        self.versions = versions
        self._lease = JobLease(
            sessions, REINDEX_JOB_KIND, runner_id or f"reindex-{uuid.uuid4().hex[:12]}"
        )
        self.runner_id = self._lease.runner_id
        self._pace = pace or (lambda: 0.0)
        self._on_vectors = on_vectors
        self._on_superseded = on_superseded
        self._on_stale = on_stale
        self.max_attempts = max_attempts
        self._poll_s = poll_s
        self._live_settle = timedelta(seconds=live_settle_s)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat_at = -float("inf")

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="reindex-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 120.0) -> None:
        """Stop after the units in flight; the job in hand goes back to the queue."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self._lease.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_next()
            except Exception:  # the catalog down: keep trying
                log.exception("re-index runner round failed")
                ran = False
            if not ran:
                self._stop.wait(self._poll_s)

    def run_next(self) -> bool:
        """Claim the next queued job (orphans first taken over) and run it; False when none."""
        self._lease.take_over_orphans()
        with self._sessions() as session:
            for job in claimable_reindex_jobs(session, self.runner_id):
                if claim_job(session, job.id, self.runner_id):
                    session.commit()
                    self.run_job(job.id)
                    return True
        return False

    # ---- one job ----------------------------------------------------------------------------

    def run_job(self, job_id: str) -> str:
        """Run a job this runner holds until it ends or stops; the job's state afterwards."""
        with self._sessions() as session:
            job = get_job(session, job_id)
            assert job is not None
            request = ReindexRequest.from_params(job.params)
            live_until = job.created_at - self._live_settle
            plan_units(session, job_id, request.camera_ids, request.start, request.end, live_until)
            left_out = unsettled_live_segments(
                session, request.camera_ids, request.start, request.end, live_until
            )
            session.commit()
        notes = {
            "live_until": live_until.isoformat() if request.end > live_until else None,
            "live_segments_left_out": left_out,
        }
        models = self.context.models(request.detector, request.embedder)
        version = models.embedding_version
        with self._sessions() as session:
            live = live_index_version(session)
            add_index_version(
                session, version, models.detector_version, request.embedder,
                models.embedder.dim, "building", job_id,
            )  # fmt: skip
            done_before = unit_progress(session, job_id).done
            session.commit()
        into_live = live is not None and live.version == version
        if into_live and done_before:  # what earlier runs' units replaced may still be there
            self._sweep(version)
        try:
            self._run_units(job_id, request, into_live, notes)
        except _Stop:
            with self._sessions() as session:
                return job_state(session, job_id) or "unknown"
        return self._complete(job_id, request, version, models.embedder.dim, into_live, notes)

    def _run_units(
        self, job_id: str, request: ReindexRequest, into_live: bool, notes: dict[str, Any]
    ) -> None:
        started = self._clock()
        finished_s = 0.0
        by_id: dict[int, SegmentUnit] = {}
        while True:
            with self._sessions() as session:
                pending = job_units(session, job_id, state="pending")
            pending = [u for u in pending if self._attempts_left(u)]
            if not pending:
                return
            units = [segment_unit(u, request) for u in pending]
            by_id.update((unit.unit_id, unit) for unit in units)
            failed = 0
            unreported = False  # a unit committed by a run whose result never came back

            def on_done(result: UnitResult) -> None:
                nonlocal finished_s, failed, unreported
                failed += result.state == "failed"
                unreported |= result.state == "already_done"
                if result.state in ("done", "skipped", "already_done"):
                    finished_s += result.footage_s
                if into_live and self._on_superseded is not None and result.superseded_ids:
                    self._on_superseded(result.embedding_version, result.superseded_ids)
                if into_live and self._on_vectors is not None:
                    self._live_vectors(result, by_id[result.unit_id])
                if self._clock() - self._beat_at >= REPORT_EVERY_S:
                    self._report(job_id, finished_s, self._clock() - started, notes)

            self.executor.run(units, on_done, lambda: self._admit(job_id))
            if into_live and unreported:
                self._sweep(
                    self.context.models(request.detector, request.embedder).embedding_version
                )
            self._report(job_id, finished_s, self._clock() - started, notes)
            if failed:  # e.g. object storage down: give it a moment before the retry round
                self._stop.wait(self._poll_s)
            if self._stop.is_set() or not self._still_running(job_id):
                raise _Stop

    def _live_vectors(self, result: UnitResult, unit: SegmentUnit) -> None:
        """Hand a unit's vectors to the live index: a done unit's come with it; a unit found
        already done (finished by a worker that died before reporting, or by another runner)
        has its tracks' vectors read back from the catalog."""
        assert self._on_vectors is not None
        if result.state == "done":
            self._on_vectors(result.embedding_version, result.track_ids, result.embeddings)
        elif result.state == "already_done":
            version = self.context.models(unit.detector, unit.embedder).embedding_version
            low, high = unit_local_id_range(unit.unit_id)
            with self._sessions() as session:
                ids, vectors = camera_track_embeddings(session, unit.camera_id, version, low, high)
            if len(ids):
                self._on_vectors(version, tuple(int(i) for i in ids), vectors)

    def _sweep(self, version: str) -> None:
        """Remove the live index's vectors whose track is gone (`on_stale`)."""
        if self._on_stale is not None:
            removed = self._on_stale(version)
            if removed:
                log.info("re-index: %d replaced tracks' vectors swept from the live index", removed)

    def _attempts_left(self, unit: UnitRecord) -> bool:
        """False (and the unit skipped with its error) after `max_attempts` failures."""
        if unit.attempts < self.max_attempts:
            return True
        with self._sessions() as session:
            skip_unit(session, unit.unit_id, f"failed {unit.attempts} times", 0.0)
            session.commit()
        return False

    def _admit(self, job_id: str) -> bool:
        """Before each unit: still ours and running? Then wait while live ingest needs the CPU."""
        while not self._stop.is_set():
            if not self._still_running(job_id):
                return False
            wait_s = self._pace()
            if wait_s <= 0:
                return True
            self._beat(job_id)
            self._stop.wait(min(wait_s, 5.0))
        return False

    def _still_running(self, job_id: str) -> bool:
        with self._sessions() as session:
            job = get_job(session, job_id)
        return job is not None and job.state == "running"

    def _beat(self, job_id: str) -> None:
        """Keep the lease while waiting on `pace` (progress reports beat too)."""
        if self._clock() - self._beat_at < HEARTBEAT_S:
            return
        with self._sessions() as session:
            progress = unit_progress(session, job_id)
            job = get_job(session, job_id)
            stats = dict((job.result if job else None) or {})
            record_job_run(session, job_id, self.runner_id, _fraction(progress), stats)
            session.commit()
        self._beat_at = self._clock()

    def _report(self, job_id: str, finished_s: float, wall_s: float, notes: dict[str, Any]) -> None:
        with self._sessions() as session:
            progress = unit_progress(session, job_id)
            rate = finished_s / wall_s if wall_s > 0 and finished_s > 0 else None
            left_s = progress.footage_s - progress.finished_footage_s
            stats = {
                "units_total": progress.total,
                "units_done": progress.done,
                "units_skipped": progress.skipped,
                "footage_s": progress.footage_s,
                "footage_done_s": progress.finished_footage_s,
                "tracks": progress.tracks,
                "footage_per_wall_s": None if rate is None else round(rate, 3),
                "eta_s": None if rate is None else round(left_s / rate, 1),
                **notes,
            }
            record_job_run(session, job_id, self.runner_id, _fraction(progress), stats)
            session.commit()
        self._beat_at = self._clock()

    def _complete(
        self,
        job_id: str,
        request: ReindexRequest,
        version: str,
        dim: int,
        into_live: bool,
        notes: dict[str, Any],
    ) -> str:
        """Every unit done or skipped: build the shadow index, switch, record the result."""
        if not into_live:
            self.versions.build(version, dim)
        switched, refused = False, None
        if request.switch and not into_live and self._still_running(job_id):
            try:
                self.versions.switch(version)
                switched = True
            except SwitchRefused as error:  # the job succeeds; its version stays a shadow
                refused = str(error)
                log.warning("re-index job %s: %s", job_id, refused)
        with self._sessions() as session:
            progress = unit_progress(session, job_id)
            job = get_job(session, job_id)
            stored = dict((job.result if job else None) or {})
            result = {
                **stored,
                "tracks_replaced": int(stored.get("tracks_replaced", 0)),  # units add to it
                "plates_read": int(stored.get("plates_read", 0)),  # units add to it (#14)
                "units_total": progress.total,
                "units_done": progress.done,
                "units_skipped": progress.skipped,
                "tracks": progress.tracks,
                "version": version,
                "switched": switched,
                "switch_refused": refused,
                "eta_s": 0.0,
                **notes,
            }
            finish_held_job(session, job_id, self.runner_id, "succeeded", result)
            session.commit()
            return job_state(session, job_id) or "unknown"


def _fraction(progress: UnitProgress) -> float:
    if progress.total == 0:
        return 1.0
    return (progress.done + progress.skipped) / progress.total
