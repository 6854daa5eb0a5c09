"""Catalog repository for re-index jobs (issue #15): units (one recorded segment each, with its
checkpoint), job pause / resume / cancel / claim, and the versioned indexes.

A unit's checkpoint moves `pending` → `done` in the transaction that stores its tracks
(`finish_unit` is conditional on `pending`, so two workers finishing one unit cannot both
commit), or `pending` → `skipped` with the reason when its segment cannot be read. The job is a
`jobs` row of kind "reindex"; pausing takes it out of the live states, so no runner holds it and
no lease expires; resuming queues it again and the runner goes on with its pending units.
Counts a unit adds to its job's result (`UNIT_COUNTS`: the tracks it replaced) commit in the
unit's own transaction, so a crashed or redone unit counts once; the runner's progress reports
keep them.

Index versions: at most one `live` version (the vector space searches use); a re-index with
another embedding version fills a `building` one; `switch_live` makes it live in one UPDATE
pair inside the caller's transaction (the previous live version stays, `building` again in
name only: kept, searchable by nobody, until `retire_version`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Update, and_, func, not_, or_, select, update
from sqlalchemy.orm import Session

from index.catalog.jobs import LIVE_JOB_STATES, _job_record
from index.catalog.reindex_rows import IndexVersionRow, ReindexUnitRow
from index.catalog.rows import (
    CameraRow,
    JobRow,
    SegmentRow,
    ensure_utc,
    insert_ignoring_conflict,
    utc_now,
)
from index.catalog.values import JobRecord, check_time_range

REINDEX_JOB_KIND = "reindex"
UNIT_STATES = ("pending", "done", "skipped")
VERSION_STATES = ("building", "live", "kept", "retired")
PAUSABLE_JOB_STATES = LIVE_JOB_STATES
CANCELLABLE_JOB_STATES = (*LIVE_JOB_STATES, "paused")
UNIT_COUNTS = ("tracks_replaced",)  # job result keys the units add to (see the docstring)


@dataclass(frozen=True, slots=True)
class UnitSegment:
    """A re-index unit and the recorded segment it analyses: where its bytes are, what they
    must be (sha256, size) and the time they cover."""

    unit_id: int
    job_id: str
    recording_id: int
    camera_id: str
    object_key: str
    sha256: str
    size_bytes: int
    start_at: datetime
    end_at: datetime

    @property
    def footage_s(self) -> float:
        return (self.end_at - self.start_at).total_seconds()


@dataclass(frozen=True)
class UnitRecord(UnitSegment):
    """One unit of a re-index job as the catalog keeps it: its segment and its checkpoint."""

    state: str
    attempts: int
    error: str | None


@dataclass(frozen=True)
class UnitProgress:
    """A job's units by state, and footage seconds in all and finished (done or skipped)."""

    total: int
    done: int
    skipped: int
    footage_s: float
    finished_footage_s: float
    tracks: int

    @property
    def pending(self) -> int:
        return self.total - self.done - self.skipped


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


def _changed(session: Session, statement: Update) -> bool:
    return int(cast(CursorResult[Any], session.execute(statement)).rowcount) == 1


# ---- units ----------------------------------------------------------------------------------


def plan_units(
    session: Session,
    job_id: str,
    camera_ids: Iterable[str],
    start: datetime,
    end: datetime,
    live_until: datetime | None = None,
) -> int:
    """Add a unit for every recorded segment of `camera_ids` overlapping [start, end) (again:
    nothing new) but, of a live camera, those that ended after `live_until` (None: none left
    out; index/reindex_jobs.py says why); the job's unit count."""
    statement = _range_segments(camera_ids, start, end)
    if live_until is not None:
        statement = statement.where(not_(_unsettled(live_until)))
    recordings = session.scalars(statement.order_by(SegmentRow.start_at, SegmentRow.id)).all()
    if recordings:
        insert = insert_ignoring_conflict(session, ReindexUnitRow).on_conflict_do_nothing(
            index_elements=["job_id", "recording_id"]
        )
        session.execute(
            insert,
            [
                {"job_id": job_id, "recording_id": r, "state": "pending", "attempts": 0,
                 "footage_s": 0.0, "track_count": 0}
                for r in recordings
            ],
        )  # fmt: skip
    count = select(func.count(ReindexUnitRow.id)).where(ReindexUnitRow.job_id == job_id)
    return int(session.scalar(count) or 0)


def unsettled_live_segments(
    session: Session,
    camera_ids: Iterable[str],
    start: datetime,
    end: datetime,
    live_until: datetime,
) -> int:
    """How many segments overlapping [start, end) `plan_units` leaves out with `live_until`."""
    statement = _range_segments(camera_ids, start, end).where(_unsettled(live_until))
    return int(session.scalar(statement.with_only_columns(func.count(SegmentRow.id))) or 0)


def _range_segments(camera_ids: Iterable[str], start: datetime, end: datetime) -> Any:
    """The ids of the segments of `camera_ids` overlapping [start, end)."""
    start_utc, end_utc = check_time_range(start, end, "re-index range")
    return select(SegmentRow.id).where(
        SegmentRow.camera_id.in_(sorted(set(camera_ids))),
        SegmentRow.start_at < end_utc,
        SegmentRow.end_at > start_utc,
    )


def _unsettled(live_until: datetime) -> ColumnElement[bool]:
    """A live camera's segment that ended after `live_until`."""
    live = select(CameraRow.id).where(CameraRow.kind == "live")
    until = ensure_utc(live_until, "live_until")
    return and_(SegmentRow.camera_id.in_(live), SegmentRow.end_at > until)


def _unit_query() -> Any:
    return select(ReindexUnitRow, SegmentRow).join(
        SegmentRow, SegmentRow.id == ReindexUnitRow.recording_id
    )


def _unit_record(unit: ReindexUnitRow, segment: SegmentRow) -> UnitRecord:
    return UnitRecord(
        unit.id, unit.job_id, unit.recording_id, segment.camera_id, segment.object_key,
        segment.sha256, segment.size_bytes, segment.start_at, segment.end_at, unit.state,
        unit.attempts, unit.error,
    )  # fmt: skip


def job_units(session: Session, job_id: str, state: str | None = None) -> list[UnitRecord]:
    """The job's units (of `state`, if given) in recording time order."""
    statement = _unit_query().where(ReindexUnitRow.job_id == job_id)
    if state is not None:
        statement = statement.where(ReindexUnitRow.state == state)
    rows = session.execute(statement.order_by(SegmentRow.start_at, ReindexUnitRow.id))
    return [_unit_record(unit, segment) for unit, segment in rows]


def job_camera_units(
    session: Session, job_id: str, camera_id: str, start: datetime, end: datetime
) -> list[UnitRecord]:
    """The job's units of `camera_id` whose segments touch [start, end], in recording order: a
    unit's neighbours (index/reindex_boundaries.py decides which of them are contiguous)."""
    if end < start:
        raise ValueError(f"neighbour window ends before it starts: {start} .. {end}")
    statement = _unit_query().where(
        ReindexUnitRow.job_id == job_id,
        SegmentRow.camera_id == camera_id,
        SegmentRow.end_at >= start,
        SegmentRow.start_at <= end,
    )
    rows = session.execute(statement.order_by(SegmentRow.start_at, ReindexUnitRow.id))
    return [_unit_record(unit, segment) for unit, segment in rows]


def get_unit(session: Session, unit_id: int) -> UnitRecord | None:
    row = session.execute(_unit_query().where(ReindexUnitRow.id == unit_id)).first()
    return None if row is None else _unit_record(row[0], row[1])


def begin_unit_attempt(session: Session, unit_id: int) -> int:
    """Count one more attempt at a pending unit; the attempts so far (0: not pending)."""
    session.execute(
        update(ReindexUnitRow)
        .where(ReindexUnitRow.id == unit_id, ReindexUnitRow.state == "pending")
        .values(attempts=ReindexUnitRow.attempts + 1)
    )
    row = session.get(ReindexUnitRow, unit_id)
    return 0 if row is None or row.state != "pending" else int(row.attempts)


def finish_unit(session: Session, unit_id: int, track_count: int, footage_s: float) -> bool:
    """pending → done (in the transaction that stores the unit's tracks); False when the unit
    was not pending (another worker finished it: the caller rolls back)."""
    return _changed(
        session,
        update(ReindexUnitRow)
        .where(ReindexUnitRow.id == unit_id, ReindexUnitRow.state == "pending")
        .values(state="done", track_count=track_count, footage_s=footage_s, done_at=utc_now()),
    )


def skip_unit(session: Session, unit_id: int, error: str, footage_s: float) -> bool:
    """pending → skipped with the reason (an unreadable segment); False when not pending."""
    return _changed(
        session,
        update(ReindexUnitRow)
        .where(ReindexUnitRow.id == unit_id, ReindexUnitRow.state == "pending")
        .values(state="skipped", error=error[:2000], footage_s=footage_s, done_at=utc_now()),
    )


def unit_progress(session: Session, job_id: str) -> UnitProgress:
    """The job's units counted by state, with footage seconds (from the segments' spans)."""
    span_s = (func.julianday(SegmentRow.end_at) - func.julianday(SegmentRow.start_at)) * 86400.0
    if session.get_bind().dialect.name == "postgresql":
        span_s = func.extract("epoch", SegmentRow.end_at - SegmentRow.start_at)
    rows = session.execute(
        select(
            ReindexUnitRow.state,
            func.count(ReindexUnitRow.id),
            func.coalesce(func.sum(span_s), 0.0),
            func.coalesce(func.sum(ReindexUnitRow.track_count), 0),
        )
        .join(SegmentRow, SegmentRow.id == ReindexUnitRow.recording_id)
        .where(ReindexUnitRow.job_id == job_id)
        .group_by(ReindexUnitRow.state)
    ).all()
    by_state = {row[0]: (int(row[1]), float(row[2]), int(row[3])) for row in rows}
    done, skipped = by_state.get("done", (0, 0.0, 0)), by_state.get("skipped", (0, 0.0, 0))
    return UnitProgress(
        total=sum(v[0] for v in by_state.values()),
        done=done[0],
        skipped=skipped[0],
        footage_s=sum(v[1] for v in by_state.values()),
        finished_footage_s=done[1] + skipped[1],
        tracks=done[2],
    )


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
    if count < 0:
        raise ValueError(f"replaced track count {count} is negative")
    if count == 0:
        return
    session.execute(update(JobRow).where(JobRow.id == job_id).values(updated_at=utc_now()))
    result = _job_result(session, job_id)
    result["tracks_replaced"] = int(result.get("tracks_replaced", 0)) + count
    _set_job_result(session, job_id, result)


def _job_result(session: Session, job_id: str) -> dict[str, Any]:
    return dict(session.scalar(select(JobRow.result).where(JobRow.id == job_id)) or {})


def _set_job_result(session: Session, job_id: str, result: dict[str, Any]) -> None:
    session.execute(update(JobRow).where(JobRow.id == job_id).values(result=result))
