"""Catalog repository for running jobs across processes: owners, runner leases and heartbeats.

Each API process has one runner with its own id. A runner holds the jobs it queued or took over
(`runner_id`) and refreshes their `heartbeat_at`; every write a worker makes is conditional on
still holding the job in the expected state, so a job cancelled (or taken over) meanwhile is
never overwritten. A waiting or running job whose heartbeat is older than the lease was left by
a dead process: `take_over_job` hands it to a live runner, queued afresh (jobs are idempotent:
the stored request is run again from the start).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, or_, select, update
from sqlalchemy.orm import Session

from index.catalog.rows import JobRow, utc_now
from index.catalog.values import JobRecord

LIVE_JOB_STATES = ("queued", "running")
FINISHED_JOB_STATES = ("succeeded", "failed", "cancelled")
_STATE_PHRASES = {
    "succeeded": "has succeeded",
    "failed": "has failed",
    "cancelled": "was cancelled",
}


def job_state_phrase(state: str) -> str:
    """How a message says a job is in `state`: "is running", "is paused", "has succeeded"."""
    return _STATE_PHRASES.get(state, f"is {state}")


def _job_record(row: JobRow) -> JobRecord:
    return JobRecord(
        row.id,
        row.kind,
        row.state,
        row.progress,
        dict(row.params or {}),
        None if row.result is None else dict(row.result),
        row.error,
        row.created_at,
        row.updated_at,
    )


def create_job(
    session: Session,
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    owner: str | None = None,
    runner_id: str | None = None,
) -> str:
    """Queue a job record (started by `owner`, held by `runner_id` if given); return its id."""
    if not kind:
        raise ValueError("job kind must not be empty")
    row = JobRow(
        id=uuid.uuid4().hex, kind=kind, state="queued", progress=0.0, params=dict(params or {}),
        owner=owner, runner_id=runner_id, heartbeat_at=utc_now() if runner_id else None,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def get_job(session: Session, job_id: str) -> JobRecord | None:
    row = session.get(JobRow, job_id)
    return None if row is None else _job_record(row)


def job_ids_starting(session: Session, prefix: str, limit: int) -> list[str]:
    """Ids of jobs whose id starts with `prefix` (at most `limit`, in id order)."""
    statement = (
        select(JobRow.id)
        .where(JobRow.id.startswith(prefix, autoescape=True))
        .order_by(JobRow.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def create_held_job(
    session: Session, kind: str, owner: str, params: Mapping[str, Any], runner_id: str
) -> str:
    """Queue a job started by `owner`, held by `runner_id`; returns its id."""
    if not kind or not owner:
        raise ValueError("a job needs a kind and an owner")
    return create_job(session, kind, params, owner=owner, runner_id=runner_id)


def job_owner(session: Session, job_id: str) -> str | None:
    """Who started the job (None: unknown job, or a job nobody owns)."""
    return session.scalar(select(JobRow.owner).where(JobRow.id == job_id))


def _held(job_id: str, runner_id: str, state: str) -> Any:
    return (JobRow.id == job_id, JobRow.runner_id == runner_id, JobRow.state == state)


def _rows_changed(session: Session, statement: Update) -> int:
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount)


def _changed(session: Session, statement: Update) -> bool:
    return _rows_changed(session, statement) == 1


def start_held_job(session: Session, job_id: str, runner_id: str) -> bool:
    """queued → running if `runner_id` holds the job; False when it was cancelled or taken."""
    now = utc_now()
    statement = (
        update(JobRow)
        .where(*_held(job_id, runner_id, "queued"))
        .values(state="running", progress=0.0, heartbeat_at=now, updated_at=now)
    )
    return _changed(session, statement)


def record_progress(session: Session, job_id: str, runner_id: str, progress: float) -> bool:
    """Progress (0..1) of a running job `runner_id` holds; False when it no longer does."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"job progress {progress} not in [0, 1]")
    now = utc_now()
    statement = (
        update(JobRow)
        .where(*_held(job_id, runner_id, "running"))
        .values(progress=float(progress), heartbeat_at=now, updated_at=now)
    )
    return _changed(session, statement)


def finish_held_job(
    session: Session,
    job_id: str,
    runner_id: str,
    state: str,
    result: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """Record how a live job `runner_id` holds ended; False (and nothing written) when the job
    was cancelled or taken over meanwhile."""
    if state not in FINISHED_JOB_STATES:
        raise ValueError(f"job state {state!r} is not one of {FINISHED_JOB_STATES}")
    changes: dict[str, Any] = {"state": state, "runner_id": None, "updated_at": utc_now()}
    if state == "succeeded":
        changes["progress"] = 1.0
    if result is not None:
        changes["result"] = dict(result)
    if error is not None:
        changes["error"] = error
    statement = (
        update(JobRow)
        .where(
            JobRow.id == job_id,
            JobRow.runner_id == runner_id,
            JobRow.state.in_(LIVE_JOB_STATES),
        )
        .values(**changes)
    )
    return _changed(session, statement)


def cancel_live_job(session: Session, job_id: str) -> bool:
    """Mark a waiting or running job cancelled; False when it had already finished."""
    statement = (
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.state.in_(LIVE_JOB_STATES))
        .values(state="cancelled", runner_id=None, updated_at=utc_now())
    )
    return _changed(session, statement)


def beat(session: Session, runner_id: str, now: datetime | None = None) -> int:
    """Refresh the heartbeat of every live job `runner_id` holds; how many it holds."""
    statement = (
        update(JobRow)
        .where(JobRow.runner_id == runner_id, JobRow.state.in_(LIVE_JOB_STATES))
        .values(heartbeat_at=now or utc_now())
    )
    return _rows_changed(session, statement)


def _stale(stale_before: datetime) -> Any:
    return (
        JobRow.state.in_(LIVE_JOB_STATES),
        or_(JobRow.heartbeat_at.is_(None), JobRow.heartbeat_at < stale_before),
    )


def orphaned_job_ids(session: Session, kind_prefix: str, stale_before: datetime) -> list[str]:
    """Live jobs of `kind_prefix…` whose heartbeat stopped before `stale_before`, oldest first."""
    statement = (
        select(JobRow.id)
        .where(*_stale(stale_before), JobRow.kind.startswith(kind_prefix, autoescape=True))
        .order_by(JobRow.created_at, JobRow.id)
    )
    return list(session.scalars(statement))


def take_over_job(
    session: Session, job_id: str, runner_id: str, stale_before: datetime, now: datetime
) -> bool:
    """Hand an orphaned job to `runner_id`, queued from the start; False when it is not
    orphaned (any more): its runner lives, it finished, or another runner took it first."""
    statement = (
        update(JobRow)
        .where(JobRow.id == job_id, *_stale(stale_before))
        .values(state="queued", progress=0.0, runner_id=runner_id, heartbeat_at=now, updated_at=now)
    )
    return _changed(session, statement)


def release_jobs(session: Session, runner_id: str) -> int:
    """Give up every live job `runner_id` holds (clean shutdown): queued again with no holder,
    so the next runner to start takes them at once; how many were released."""
    statement = (
        update(JobRow)
        .where(JobRow.runner_id == runner_id, JobRow.state.in_(LIVE_JOB_STATES))
        .values(state="queued", progress=0.0, runner_id=None, heartbeat_at=None)
    )
    return _rows_changed(session, statement)
