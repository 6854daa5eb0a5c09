"""Catalog reads for a re-index unit's neighbours (issue #15): the units of the same job and
camera whose recorded segments lie near a unit's, so the unit can warm its tracker up on the
previous segment's tail and follow its own tracks into the following ones
(index/reindex_boundaries.py decides which of them are contiguous)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from index.catalog.reindex import UnitRecord, _unit_query, _unit_record
from index.catalog.reindex_rows import ReindexUnitRow
from index.catalog.rows import SegmentRow


def job_camera_units(
    session: Session, job_id: str, camera_id: str, start: datetime, end: datetime
) -> list[UnitRecord]:
    """The job's units of `camera_id` whose segments touch [start, end], in recording order."""
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
