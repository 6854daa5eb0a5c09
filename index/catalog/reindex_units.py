"""Catalog repository for the units of re-index jobs (issue #15): one recorded segment each,
with its checkpoint, planned from a job's cameras and range.

A unit's checkpoint moves `pending` → `done` in the transaction that stores its tracks
(`finish_unit` is conditional on `pending`, so two workers finishing one unit cannot both
commit), or `pending` → `skipped` with the reason when its segment cannot be read. A live
camera's segments that ended after a job's `live_until` are not planned (index/reindex_jobs.py
says why). The jobs themselves: index/catalog/reindex.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, select, update
from sqlalchemy.orm import Session

from index.catalog.jobs import _changed
from index.catalog.reindex_rows import ReindexUnitRow
from index.catalog.rows import CameraRow, SegmentRow, ensure_utc, insert_ignoring_conflict, utc_now
from index.catalog.values import check_time_range

UNIT_STATES = ("pending", "done", "skipped")


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
