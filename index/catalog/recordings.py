"""Catalog repository for recorded segments and recording gaps.

Segments cross this boundary as ingest's own `Segment` value (data flows ingest → index, so
the catalog takes and returns the upstream type rather than keeping a copy of its fields).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog.cameras import require_camera
from index.catalog.rows import (
    RecordingGapRow,
    SegmentRow,
    insert_ignoring_conflict,
    utc_now,
)
from index.catalog.values import RecordingGap, check_time_range
from ingest.segment import Segment


def add_segment(session: Session, segment: Segment) -> int:
    """Record a stored segment; re-adding the same object_key and sha256 returns the same id."""
    key = segment.object_key
    start_utc, end_utc = check_time_range(segment.start_at, segment.end_at, f"segment {key!r}")
    if not key:
        raise ValueError("segment object_key must not be empty")
    if len(segment.sha256) != 64:
        raise ValueError(f"segment {key!r} sha256 {segment.sha256!r} is not 64 hex characters")
    if segment.size_bytes < 0:
        raise ValueError(f"segment {key!r} size_bytes {segment.size_bytes} is negative")
    sha256 = segment.sha256.lower()
    require_camera(session, segment.camera_id)
    statement = (
        insert_ignoring_conflict(session, SegmentRow)
        .values(
            camera_id=segment.camera_id,
            start_at=start_utc,
            end_at=end_utc,
            object_key=key,
            sha256=sha256,
            size_bytes=segment.size_bytes,
            created_at=utc_now(),
        )
        .on_conflict_do_nothing(index_elements=["object_key"])
        .returning(SegmentRow.id)
    )
    new_id = session.execute(statement).scalar_one_or_none()
    if new_id is not None:
        return int(new_id)
    existing = session.execute(
        select(SegmentRow.id, SegmentRow.sha256).where(SegmentRow.object_key == key)
    ).one()
    if existing.sha256 != sha256:
        raise ValueError(
            f"segment {key!r} already recorded with a different sha256 ({existing.sha256})"
        )
    return int(existing.id)


def segments_between(
    session: Session, camera_id: str, start: datetime, end: datetime
) -> list[Segment]:
    """Segments of `camera_id` overlapping [start, end), oldest first."""
    start_utc, end_utc = check_time_range(start, end, "segment query")
    rows = session.scalars(
        select(SegmentRow)
        .where(
            SegmentRow.camera_id == camera_id,
            SegmentRow.start_at < end_utc,
            SegmentRow.end_at > start_utc,
        )
        .order_by(SegmentRow.start_at, SegmentRow.id)
    )
    return [
        Segment(
            camera_id=r.camera_id,
            start_at=r.start_at,
            end_at=r.end_at,
            object_key=r.object_key,
            sha256=r.sha256,
            size_bytes=r.size_bytes,
        )
        for r in rows
    ]


def last_segment_end(session: Session, camera_id: str) -> datetime | None:
    """The end of the camera's latest recorded segment; None when it has none.

    A camera's segments do not overlap, so the latest start has the latest end: one seek on
    the (camera_id, start_at) index rather than a scan of the camera's segments.
    """
    return session.scalar(
        select(SegmentRow.end_at)
        .where(SegmentRow.camera_id == camera_id)
        .order_by(SegmentRow.start_at.desc(), SegmentRow.id.desc())
        .limit(1)
    )


def add_recording_gap(
    session: Session, camera_id: str, start_at: datetime, end_at: datetime, reason: str
) -> int:
    start_utc, end_utc = check_time_range(start_at, end_at, f"gap of {camera_id}")
    require_camera(session, camera_id)
    row = RecordingGapRow(camera_id=camera_id, start_at=start_utc, end_at=end_utc, reason=reason)
    session.add(row)
    session.flush()
    return row.id


def gaps_between(
    session: Session, camera_id: str, start: datetime, end: datetime
) -> list[RecordingGap]:
    """Recording gaps of `camera_id` overlapping [start, end), oldest first."""
    start_utc, end_utc = check_time_range(start, end, "gap query")
    rows = session.scalars(
        select(RecordingGapRow)
        .where(
            RecordingGapRow.camera_id == camera_id,
            RecordingGapRow.start_at < end_utc,
            RecordingGapRow.end_at > start_utc,
        )
        .order_by(RecordingGapRow.start_at, RecordingGapRow.id)
    )
    return [RecordingGap(r.id, r.camera_id, r.start_at, r.end_at, r.reason) for r in rows]
