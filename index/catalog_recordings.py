"""Catalog repository for cameras, recorded segments and recording gaps."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from index.catalog_models import (
    Base,
    CameraRow,
    RecordingGapRow,
    SegmentRow,
    utc_now,
)
from index.catalog_values import (
    CameraSpec,
    RecordingGap,
    SegmentRecord,
    check_camera_id,
    check_time_range,
)


class UnknownCameraError(LookupError):
    """A row refers to a camera id that is not in the catalog."""


def require_camera(session: Session, camera_id: str) -> None:
    """Raise UnknownCameraError unless the camera exists (cached per session: cameras that
    have rows referring to them cannot be deleted)."""
    known: set[str] = session.info.setdefault("catalog_known_cameras", set())
    if camera_id in known:
        return
    check_camera_id(camera_id)
    if session.scalar(select(CameraRow.id).where(CameraRow.id == camera_id)) is None:
        raise UnknownCameraError(f"camera {camera_id!r} is not in the catalog (upsert it first)")
    known.add(camera_id)


def insert_ignoring_conflict(session: Session, row_class: type[Base]) -> Any:
    """A Core INSERT for the row's table in the session's dialect (both dialects support
    ON CONFLICT DO NOTHING ... RETURNING); Core skips the ORM's per-row bookkeeping."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(cast(Table, row_class.__table__))


# ---- cameras ---------------------------------------------------------------------------------


def _camera_spec(row: CameraRow) -> CameraSpec:
    return CameraSpec(
        id=row.id,
        name=row.name,
        main_url=row.main_url,
        sub_url=row.sub_url,
        detect_fps=row.detect_fps,
        lat=row.lat,
        lon=row.lon,
        heading_deg=row.heading_deg,
        enabled=row.enabled,
        tiles=row.tiles,
    )


def upsert_camera(session: Session, spec: CameraSpec) -> None:
    """Insert the camera or overwrite its configuration (created_at is kept; a removed
    camera added again comes back)."""
    row = session.get(CameraRow, spec.id)
    if row is None:
        row = CameraRow(id=spec.id)
        session.add(row)
    row.removed_at = None
    row.name = spec.name
    row.main_url = spec.main_url
    row.sub_url = spec.sub_url
    row.detect_fps = spec.detect_fps
    row.lat, row.lon, row.heading_deg = spec.lat, spec.lon, spec.heading_deg
    row.enabled = spec.enabled
    row.tiles = spec.tiles
    session.flush()


def get_camera(session: Session, camera_id: str) -> CameraSpec | None:
    """The camera's configuration; None when unknown or removed."""
    row = session.get(CameraRow, camera_id)
    return None if row is None or row.removed_at is not None else _camera_spec(row)


def list_cameras(session: Session) -> list[CameraSpec]:
    """Cameras that are configured (removed ones are left out)."""
    rows = session.scalars(
        select(CameraRow).where(CameraRow.removed_at.is_(None)).order_by(CameraRow.id)
    )
    return [_camera_spec(row) for row in rows]


def remove_camera(session: Session, camera_id: str) -> bool:
    """Stop using a camera; its recordings and tracks stay (evidence, retention deletes them).

    Returns False when the camera is unknown or already removed.
    """
    row = session.get(CameraRow, camera_id)
    if row is None or row.removed_at is not None:
        return False
    row.removed_at = utc_now()
    row.enabled = False
    session.flush()
    return True


# ---- segments and gaps -----------------------------------------------------------------------


def add_segment(
    session: Session,
    camera_id: str,
    start_at: datetime,
    end_at: datetime,
    object_key: str,
    sha256: str,
    size_bytes: int,
) -> int:
    """Record a stored segment; re-adding the same object_key and sha256 returns the same id."""
    start_utc, end_utc = check_time_range(start_at, end_at, f"segment {object_key!r}")
    if not object_key:
        raise ValueError("segment object_key must not be empty")
    if len(sha256) != 64:
        raise ValueError(f"segment {object_key!r} sha256 {sha256!r} is not 64 hex characters")
    if size_bytes < 0:
        raise ValueError(f"segment {object_key!r} size_bytes {size_bytes} is negative")
    require_camera(session, camera_id)
    statement = (
        insert_ignoring_conflict(session, SegmentRow)
        .values(
            camera_id=camera_id,
            start_at=start_utc,
            end_at=end_utc,
            object_key=object_key,
            sha256=sha256.lower(),
            size_bytes=size_bytes,
            created_at=utc_now(),
        )
        .on_conflict_do_nothing(index_elements=["object_key"])
        .returning(SegmentRow.id)
    )
    new_id = session.execute(statement).scalar_one_or_none()
    if new_id is not None:
        return int(new_id)
    existing = session.execute(
        select(SegmentRow.id, SegmentRow.sha256).where(SegmentRow.object_key == object_key)
    ).one()
    if existing.sha256 != sha256.lower():
        raise ValueError(
            f"segment {object_key!r} already recorded with a different sha256 ({existing.sha256})"
        )
    return int(existing.id)


def segments_between(
    session: Session, camera_id: str, start: datetime, end: datetime
) -> list[SegmentRecord]:
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
        SegmentRecord(
            id=r.id,
            camera_id=r.camera_id,
            start_at=r.start_at,
            end_at=r.end_at,
            object_key=r.object_key,
            sha256=r.sha256,
            size_bytes=r.size_bytes,
        )
        for r in rows
    ]


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
