"""Background search jobs: wide searches run on a thread pool, in slices, with progress and cancel.

A job lives in the catalog's `jobs` table: its request (`params`: filters already resolved,
top_k, seed track), state (queued → running → succeeded / failed / cancelled), progress and
result (ranked track ids with scores and matched attributes; links are signed when a page is
read). Each API process has one runner; it holds the jobs it runs and keeps their heartbeat
fresh, takes over jobs whose heartbeat stopped (a dead process's) at start-up and then every
HEARTBEAT_S, and on a clean shutdown hands its unfinished jobs back, queued, to the next
runner. A job taken over runs its stored request again from the start: the same result.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from index.catalog import (
    CatalogError,
    Session,
    TrackQuery,
    append_audit,
    beat,
    create_held_job,
    finish_held_job,
    get_job,
    get_track,
    job_owner,
    orphaned_job_ids,
    record_progress,
    release_jobs,
    start_held_job,
    take_over_job,
)
from search_api.context import ApiContext
from search_api.search_pipeline import ByAttributes, ByTrack, rank_in_slices
from search_api.search_service import ScoredTrack

log = logging.getLogger(__name__)

JOB_KIND_PREFIX = "search:"
SLICE_TRACKS = 20_000  # candidates per vector search: a job may stop between slices
ATTRIBUTE_PROGRESS_ROWS = 5_000
HEARTBEAT_S = 15.0
LEASE_S = 60.0  # a live job whose heartbeat is older was left by a dead process


class JobCancelledError(Exception):
    """Raised inside a worker when its job was cancelled or taken over by another runner."""


class RunnerStoppingError(Exception):
    """Raised inside a worker when its runner shuts down (the job is handed back, queued)."""


@dataclass(frozen=True)
class SearchJobSpec:
    """What a stored job searches: by appearance (track jobs) or by attributes."""

    job_id: str
    kind: str
    owner: str  # the name audited (the job row's owner is the key id)
    role: str
    query: TrackQuery
    top_k: int
    ranking: ByTrack | ByAttributes


def job_request(
    kind: str,
    role: str,
    query: TrackQuery,
    top_k: int,
    track_id: int | None = None,
    text: str | None = None,
    case_id: str | None = None,
    principal_name: str | None = None,
) -> dict[str, Any]:
    """The stored request of a search job: all a runner needs to run it again (the job's owner
    is the key id; `principal_name` is the key's name, for the audit log)."""
    return {
        "kind": kind,
        "role": role,
        "filters": query.as_json(),
        "top_k": top_k,
        "track_id": track_id,
        "text": text,
        "case_id": case_id,
        "principal": principal_name,
    }


def job_zone_ids(params: Mapping[str, Any]) -> list[int] | None:
    """The zone filter of a stored request (None: not filtered by zone)."""
    return (params.get("filters") or {}).get("zone_ids")


def load_spec(session: Session, job_id: str) -> SearchJobSpec:
    """The spec of a stored job; the seed track is read again for track jobs."""
    job = get_job(session, job_id)
    if job is None:
        raise LookupError(f"job {job_id!r} does not exist")
    params = job.params
    missing = sorted({"kind", "role", "filters", "top_k"} - set(params))
    if missing:
        raise ValueError(f"the stored request lacks {missing} (queued by an older version?)")
    kind = str(params["kind"])
    ranking: ByTrack | ByAttributes = ByAttributes()
    if kind == "track":
        seed = get_track(session, int(params["track_id"]))
        if seed is None:
            raise LookupError(f"seed track {params['track_id']} no longer exists")
        ranking = ByTrack(seed)
    return SearchJobSpec(
        job_id=job.id,
        kind=kind,
        owner=str(params.get("principal") or job_owner(session, job.id)),
        role=str(params["role"]),
        query=TrackQuery.from_json(params["filters"]),
        top_k=int(params["top_k"]),
        ranking=ranking,
    )


class SearchJobRunner:
    """Runs this process's search jobs on `workers` threads; `start` takes over orphaned jobs
    and starts the heartbeat, `shutdown` stops between slices and hands unfinished jobs back."""

    def __init__(
        self,
        context: ApiContext,
        workers: int = 2,
        current: Callable[[], ApiContext] | None = None,
    ) -> None:
        self.runner_id = uuid.uuid4().hex
        self._context = context
        # the API's context now: a job ranks with the index + embedder live when it starts
        self._current = current or (lambda: context)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="search-job")
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._heartbeat = threading.Thread(
            target=self._beat_until_stopped, name="search-job-heartbeat", daemon=True
        )

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> list[str]:
        """Take over the jobs dead processes left, start the heartbeat; the ids taken over."""
        try:
            taken = self.take_over_orphans()
        except CatalogError:  # the heartbeat tries again; the API serves meanwhile
            log.exception("search jobs: could not take over orphaned jobs at start-up")
            taken = []
        self._heartbeat.start()
        return taken

    def create(self, session: Session, owner: str, request: Mapping[str, Any]) -> str:
        """Store a queued job held by this runner (the caller commits, then calls `submit`)."""
        kind = f"{JOB_KIND_PREFIX}{request['kind']}"
        return create_held_job(session, kind, owner, request, self.runner_id)

    def submit(self, job_id: str) -> None:
        """Run a stored job this runner holds (ignored once shutting down: it is handed back)."""
        with self._lock:
            if not self._stopping.is_set():
                self._futures[job_id] = self._pool.submit(self._run, job_id)

    def take_over_orphans(self) -> list[str]:
        """Queue here every search job whose runner stopped beating; the ids taken over."""
        now = datetime.now(UTC)
        stale_before = now - timedelta(seconds=LEASE_S)
        with self._context.sessions() as session:
            orphans = orphaned_job_ids(session, JOB_KIND_PREFIX, stale_before)
            taken = [
                job_id
                for job_id in orphans
                if take_over_job(session, job_id, self.runner_id, stale_before, now)
            ]
            session.commit()
        for job_id in taken:
            log.info("search job %s: taken over from a stopped runner", job_id)
            self.submit(job_id)
        return taken

    def wait(self, job_id: str, timeout_s: float) -> None:
        """Block until this runner's worker for the job returns (KeyError: not run here)."""
        with self._lock:
            future = self._futures[job_id]
        future.result(timeout=timeout_s)

    def shutdown(self) -> None:
        """Stop between slices and hand every unfinished job back, queued; idempotent."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._context.sessions() as session:
            released = release_jobs(session, self.runner_id)
            session.commit()
        if released:
            log.info("search jobs: %d unfinished job(s) handed back for the next start", released)

    def _beat_until_stopped(self) -> None:
        while not self._stopping.wait(HEARTBEAT_S):
            try:
                with self._context.sessions() as session:
                    beat(session, self.runner_id)
                    session.commit()
                self.take_over_orphans()
            except CatalogError:  # a catalog hiccup must not stop the heartbeat for good
                log.exception("search job heartbeat failed")

    def _progress(self, job_id: str, fraction: float) -> None:
        if self._stopping.is_set():
            raise RunnerStoppingError
        with self._context.sessions() as session:
            held = record_progress(session, job_id, self.runner_id, round(min(1.0, fraction), 4))
            session.commit()
        if not held:
            raise JobCancelledError

    def _run(self, job_id: str) -> None:
        try:
            with self._context.sessions() as session:
                if not start_held_job(session, job_id, self.runner_id):
                    return  # cancelled while queued, or taken over by another runner
                session.commit()
                spec = load_spec(session, job_id)

            def progress(fraction: float) -> None:
                self._progress(job_id, fraction)

            context = self._current()  # one version's index and embedder for the whole job
            with context.sessions() as session:
                results = rank_in_slices(
                    context, session, spec.ranking, spec.query, spec.top_k, progress,
                    SLICE_TRACKS, ATTRIBUTE_PROGRESS_ROWS,
                )  # fmt: skip
            self._finish(spec, results)
        except (JobCancelledError, RunnerStoppingError):
            return
        except Exception as error:  # a failed job must record why, whatever went wrong
            log.exception("search job %s failed", job_id)
            with self._context.sessions() as session:
                message = f"{type(error).__name__}: {error}"
                finish_held_job(session, job_id, self.runner_id, "failed", error=message)
                session.commit()

    def _finish(self, spec: SearchJobSpec, results: list[ScoredTrack]) -> None:
        with self._context.sessions() as session:
            result = {"total": len(results), "hits": [r.as_json() for r in results]}
            if not finish_held_job(session, spec.job_id, self.runner_id, "succeeded", result):
                return  # cancelled in the meantime
            append_audit(
                session,
                principal=spec.owner,
                role=spec.role,
                action="search_job_finished",
                query_type=spec.kind,
                filters=spec.query.as_json(),
                hit_count=len(results),
                target=f"job:{spec.job_id}",
            )
            session.commit()
