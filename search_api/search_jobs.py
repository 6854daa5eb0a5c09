"""Background search jobs: wide searches run on a thread pool, in slices, with progress and cancel.

A job lives in the catalog's `jobs` table: its request (`params`: filters already resolved,
top_k, seed track), state (queued → running → succeeded / failed / cancelled), progress and
result (ranked track ids with scores and matched attributes; links are signed when a page is
read). Each API process has one runner (index/job_runner.py): it holds the jobs it runs and
keeps their heartbeat fresh, takes over jobs whose heartbeat stopped (a dead process's) at
start-up and then every heartbeat, and on a clean shutdown hands its unfinished jobs back,
queued, to the next runner. A job taken over runs its stored request again from the start: the
same result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from index.catalog import (
    Session,
    TrackQuery,
    append_audit,
    create_held_job,
    finish_held_job,
    get_job,
    get_track,
    job_owner,
    record_progress,
)
from index.job_runner import JobCancelledError, PooledJobRunner
from search_api.context import ApiContext
from search_api.search_pipeline import ByAttributes, ByTrack, rank_in_slices
from search_api.search_service import ScoredTrack

log = logging.getLogger(__name__)

JOB_KIND_PREFIX = "search:"
SLICE_TRACKS = 20_000  # candidates per vector search: a job may stop between slices
ATTRIBUTE_PROGRESS_ROWS = 5_000


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


class SearchJobRunner(PooledJobRunner):
    """Runs this process's search jobs on `workers` threads (index/job_runner.py: leases,
    heartbeat, take-over); `shutdown` stops workers between slices and hands jobs back."""

    def __init__(
        self,
        context: ApiContext,
        workers: int = 2,
        current: Callable[[], ApiContext] | None = None,
    ) -> None:
        super().__init__(context.sessions, JOB_KIND_PREFIX, "search job", workers=workers)
        self._context = context
        # the API's context now: a job ranks with the index + embedder live when it starts
        self._current = current or (lambda: context)

    def create(self, session: Session, owner: str, request: Mapping[str, Any]) -> str:
        """Store a queued job held by this runner (the caller commits, then calls `submit`)."""
        kind = f"{JOB_KIND_PREFIX}{request['kind']}"
        return create_held_job(session, kind, owner, request, self.runner_id)

    def _progress(self, job_id: str, fraction: float) -> None:
        if self.stopping:
            raise RunnerStoppingError
        # through this module's `record_progress`, so a test can hold a worker at a write
        self.report_progress(job_id, fraction, record_progress)

    def run(self, job_id: str) -> None:
        try:
            if not self.start_job(job_id):
                return  # cancelled while queued, or taken over by another runner
            with self._context.sessions() as session:
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
