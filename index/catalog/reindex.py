"""Catalog repository for re-index jobs (issue #15): claim / pause / resume / cancel, their
running figures, and the versioned indexes they fill; a job's units and their checkpoints are
index/catalog/reindex_units.py's.

The job is a `jobs` row of kind "reindex"; pausing takes it out of the live states, so no
runner holds it and no lease expires; resuming queues it again and the runner goes on with its
pending units. Counts a unit adds to its job's result (`UNIT_COUNTS`: the tracks it replaced)
commit in the unit's own transaction, so a crashed or redone unit counts once; the runner's
progress reports keep them.

Index versions: at most one `live` version (the vector space searches use); a re-index with
another embedding version fills a `building` one; `switch_live_version` makes it live in one
UPDATE pair inside the caller's transaction (the previous live version becomes `kept`,
searchable by nobody, until `retire_index_version`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from index.catalog.jobs import LIVE_JOB_STATES, _changed, _job_record
from index.catalog.reindex_rows import IndexVersionRow
from index.catalog.rows import JobRow, utc_now
from index.catalog.values import JobRecord

REINDEX_JOB_KIND = "reindex"
VERSION_STATES = ("building", "live", "kept", "retired")
PAUSABLE_JOB_STATES = LIVE_JOB_STATES
CANCELLABLE_JOB_STATES = (*LIVE_JOB_STATES, "paused")
# job result keys the units add to (see the docstring); plates_read: their tracks' plates (#14)
UNIT_COUNTS = ("tracks_replaced", "plates_read")


@dataclass(frozen=True)
class IndexVersion:
    """A versioned index (see the module docstring for its states)."""

    version: str
    state: str
    detector: str
    embedder: str
    dim: int
    job_id: str | None
    created_at: datetime
    switched_at: datetime | None
    retired_at: datetime | None


# ---- jobs -----------------------------------------------------------------------------------


def list_jobs(session: Session, kind: str | None = None, limit: int = 100) -> list[JobRecord]:
    """Jobs (of `kind`, if given), newest first."""
    statement = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)
    if kind is not None:
        statement = statement.where(JobRow.kind == kind)
    return [_job_record(row) for row in session.scalars(statement)]


def claimable_reindex_jobs(session: Session, runner_id: str) -> list[JobRecord]:
    """Queued re-index jobs that nobody holds or `runner_id` holds: highest priority first,
    then oldest."""
    rows = session.scalars(
        select(JobRow)
        .where(
            JobRow.kind == REINDEX_JOB_KIND,
            JobRow.state == "queued",
            or_(JobRow.runner_id.is_(None), JobRow.runner_id == runner_id),
        )
        .order_by(JobRow.created_at, JobRow.id)
    ).all()
    jobs = [_job_record(row) for row in rows]
    return sorted(jobs, key=lambda job: -int(job.params.get("priority", 0)))


def claim_job(session: Session, job_id: str, runner_id: str) -> bool:
    """queued (unheld or held by `runner_id`) → running, held by `runner_id`."""
    now = utc_now()
    return _changed(
        session,
        update(JobRow)
        .where(
            JobRow.id == job_id,
            JobRow.state == "queued",
            or_(JobRow.runner_id.is_(None), JobRow.runner_id == runner_id),
        )
        .values(state="running", runner_id=runner_id, heartbeat_at=now, updated_at=now),
    )


def pause_job(session: Session, job_id: str) -> bool:
    """queued / running → paused (no runner holds it); False in any other state."""
    return _changed(
        session,
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.state.in_(PAUSABLE_JOB_STATES))
        .values(state="paused", runner_id=None, heartbeat_at=None, updated_at=utc_now()),
    )


def resume_job(session: Session, job_id: str) -> bool:
    """paused → queued (the next free runner goes on with its pending units)."""
    return _changed(
        session,
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.state == "paused")
        .values(state="queued", runner_id=None, heartbeat_at=None, updated_at=utc_now()),
    )


def cancel_job(session: Session, job_id: str) -> bool:
    """queued / running / paused → cancelled; False when it had already finished."""
    return _changed(
        session,
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.state.in_(CANCELLABLE_JOB_STATES))
        .values(state="cancelled", runner_id=None, updated_at=utc_now()),
    )


def job_state(session: Session, job_id: str) -> str | None:
    return session.scalar(select(JobRow.state).where(JobRow.id == job_id))


# ---- index versions -------------------------------------------------------------------------


def _version(row: IndexVersionRow) -> IndexVersion:
    return IndexVersion(
        row.version, row.state, row.detector, row.embedder, row.dim, row.job_id,
        row.created_at, row.switched_at, row.retired_at,
    )  # fmt: skip


def get_index_version(session: Session, version: str) -> IndexVersion | None:
    row = session.get(IndexVersionRow, version)
    return None if row is None else _version(row)


def live_index_version(session: Session) -> IndexVersion | None:
    """The version searches use; None before any was recorded."""
    row = session.scalars(select(IndexVersionRow).where(IndexVersionRow.state == "live")).first()
    return None if row is None else _version(row)


def index_versions(session: Session) -> list[IndexVersion]:
    rows = session.scalars(select(IndexVersionRow).order_by(IndexVersionRow.created_at))
    return [_version(row) for row in rows]


def add_index_version(
    session: Session,
    version: str,
    detector: str,
    embedder: str,
    dim: int,
    state: str = "building",
    job_id: str | None = None,
) -> IndexVersion:
    """Record a version (`building`, or `live` when none is live yet); an existing version is
    returned as it is. ValueError for a bad state or a second live version."""
    if state not in ("building", "live"):
        raise ValueError(f"a new index version is building or live, not {state!r}")
    existing = session.get(IndexVersionRow, version)
    if existing is not None:
        return _version(existing)
    if state == "live" and live_index_version(session) is not None:
        raise ValueError("another index version is live; switch to this one instead")
    now = utc_now()
    row = IndexVersionRow(
        version=version, state=state, detector=detector, embedder=embedder, dim=dim,
        job_id=job_id, created_at=now, switched_at=now if state == "live" else None,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return _version(row)


def switch_live_version(session: Session, version: str) -> IndexVersion | None:
    """Make `version` live; the previously live one becomes `kept` (searchable by nobody,
    kept until retired). Returns the previous live version. LookupError for an unknown
    version, ValueError for a retired one."""
    row = session.get(IndexVersionRow, version)
    if row is None:
        raise LookupError(f"index version {version!r} is not in the catalog")
    if row.state == "retired":
        raise ValueError(f"index version {version!r} is retired")
    previous = live_index_version(session)
    if previous is not None and previous.version == version:
        return previous
    now = utc_now()
    if previous is not None:
        session.execute(
            update(IndexVersionRow)
            .where(IndexVersionRow.version == previous.version)
            .values(state="kept")
        )
    row.state, row.switched_at = "live", now
    session.flush()
    return previous


def retire_index_version(session: Session, version: str) -> IndexVersion:
    """Mark a version that is not live retired (its index files are the caller's to remove).
    LookupError for an unknown version, ValueError for the live one."""
    row = session.get(IndexVersionRow, version)
    if row is None:
        raise LookupError(f"index version {version!r} is not in the catalog")
    if row.state == "live":
        raise ValueError(f"index version {version!r} is live: switch to another one first")
    row.state, row.retired_at = "retired", utc_now()
    session.flush()
    return _version(row)


def record_job_run(
    session: Session, job_id: str, runner_id: str, progress: float, stats: dict[str, Any]
) -> bool:
    """Progress (0..1) and running figures (kept in `result` until the job ends, with the
    stored `UNIT_COUNTS`) of a running job `runner_id` holds; False when it no longer does
    (paused, cancelled, taken over)."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"job progress {progress} not in [0, 1]")
    now = utc_now()
    held = _changed(  # first: the row's lock, so no unit's count lands between read and write
        session,
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.runner_id == runner_id, JobRow.state == "running")
        .values(progress=float(progress), heartbeat_at=now, updated_at=now),
    )
    if held:
        stored = _job_result(session, job_id)
        counts = {key: int(stored.get(key, 0)) for key in UNIT_COUNTS}
        _set_job_result(session, job_id, {**stats, **counts})
    return held


def add_replaced_tracks(session: Session, job_id: str, count: int) -> None:
    """Add `count` to the job result's `tracks_replaced`, in the transaction of the unit that
    deleted them (it commits or rolls back with the unit). The row is written before it is
    read, so the increment holds the job row's lock (PostgreSQL; SQLite: the database's write
    lock) against other units and the runner's reports."""
    add_unit_count(session, job_id, "tracks_replaced", count)


def add_unit_count(session: Session, job_id: str, key: str, count: int) -> None:
    """Add `count` to the job result's `key` (one of UNIT_COUNTS) in a unit's transaction, as
    `add_replaced_tracks` does."""
    if key not in UNIT_COUNTS:
        raise ValueError(f"{key!r} is not a unit count; one of {UNIT_COUNTS}")
    if count < 0:
        raise ValueError(f"{key} count {count} is negative")
    if count == 0:
        return
    session.execute(update(JobRow).where(JobRow.id == job_id).values(updated_at=utc_now()))
    result = _job_result(session, job_id)
    result[key] = int(result.get(key, 0)) + count
    _set_job_result(session, job_id, result)


def _job_result(session: Session, job_id: str) -> dict[str, Any]:
    return dict(session.scalar(select(JobRow.result).where(JobRow.id == job_id)) or {})


def _set_job_result(session: Session, job_id: str, result: dict[str, Any]) -> None:
    session.execute(update(JobRow).where(JobRow.id == job_id).values(result=result))
