"""Catalog repository for footage uploads (issue #15) and the camera questions they ask.

An upload moves `receiving` → `processing` → `stored` (or `failed`); every move is conditional
on the state it leaves, so two requests completing the same upload cannot both process it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from index.catalog.footage_rows import FootageUploadRow
from index.catalog.rows import CameraRow, ensure_utc, utc_now

UPLOAD_STATES = ("receiving", "processing", "stored", "failed")


class UnknownUploadError(LookupError):
    """No footage upload has this id (or the caller may not see it)."""


@dataclass(frozen=True)
class FootageUpload:
    """One upload as the catalog holds it (see FootageUploadRow for the fields)."""

    id: str
    camera_id: str
    camera_label: str
    filename: str
    size_bytes: int
    sha256: str | None
    part_bytes: int
    parts_received: tuple[int, ...]
    state: str
    lat: float | None
    lon: float | None
    heading_deg: float | None
    start_time_given: datetime | None
    start_at: datetime | None
    probe: dict[str, Any] | None
    report: dict[str, Any] | None
    error: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size_bytes // self.part_bytes))

    def part_size(self, number: int) -> int:
        """Bytes part `number` (0-based) must hold: `part_bytes`, the last one the rest."""
        if not 0 <= number < self.part_count:
            raise ValueError(f"part {number} not in [0, {self.part_count - 1}]")
        if number < self.part_count - 1:
            return self.part_bytes
        return self.size_bytes - self.part_bytes * (self.part_count - 1)

    @property
    def missing_parts(self) -> tuple[int, ...]:
        received = set(self.parts_received)
        return tuple(n for n in range(self.part_count) if n not in received)


@dataclass(frozen=True)
class NewFootageUpload:
    """What an operator declares when starting an upload."""

    camera_id: str
    camera_label: str
    filename: str
    size_bytes: int
    sha256: str | None
    part_bytes: int
    created_by: str
    lat: float | None = None
    lon: float | None = None
    heading_deg: float | None = None
    start_time_given: datetime | None = None


def _upload(row: FootageUploadRow) -> FootageUpload:
    return FootageUpload(
        row.id, row.camera_id, row.camera_label, row.filename, row.size_bytes, row.sha256,
        row.part_bytes, tuple(sorted(row.parts_received or [])), row.state, row.lat, row.lon,
        row.heading_deg, row.start_time_given, row.start_at,
        None if row.probe is None else dict(row.probe),
        None if row.report is None else dict(row.report),
        row.error, row.created_by, row.created_at, row.updated_at,
    )  # fmt: skip


def create_footage_upload(session: Session, new: NewFootageUpload) -> FootageUpload:
    """Record a new upload in state `receiving`; its id is random (unguessable)."""
    if new.size_bytes <= 0 or new.part_bytes <= 0:
        raise ValueError("an upload needs a positive size and part size")
    given = new.start_time_given
    row = FootageUploadRow(
        id=uuid.uuid4().hex, camera_id=new.camera_id, camera_label=new.camera_label,
        filename=new.filename, size_bytes=new.size_bytes,
        sha256=None if new.sha256 is None else new.sha256.lower(), part_bytes=new.part_bytes,
        parts_received=[], state="receiving", lat=new.lat, lon=new.lon,
        heading_deg=new.heading_deg,
        start_time_given=None if given is None else ensure_utc(given, "start time"),
        created_by=new.created_by,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return _upload(row)


def get_footage_upload(session: Session, upload_id: str) -> FootageUpload | None:
    row = session.get(FootageUploadRow, upload_id)
    return None if row is None else _upload(row)


def list_footage_uploads(
    session: Session,
    created_by: str | None = None,
    sha256: str | None = None,
    limit: int = 100,
) -> list[FootageUpload]:
    """Uploads, newest first: all, or those `created_by` started, or of one file's `sha256`."""
    statement = select(FootageUploadRow)
    if created_by is not None:
        statement = statement.where(FootageUploadRow.created_by == created_by)
    if sha256 is not None:
        statement = statement.where(FootageUploadRow.sha256 == sha256.lower())
    statement = statement.order_by(FootageUploadRow.created_at.desc()).limit(limit)
    return [_upload(row) for row in session.scalars(statement)]


def record_footage_part(session: Session, upload_id: str, number: int) -> FootageUpload:
    """Note that part `number` is stored (idempotent); UnknownUploadError when the upload is
    gone, ValueError when it no longer takes parts."""
    row = session.get(FootageUploadRow, upload_id, with_for_update=True)
    if row is None:
        raise UnknownUploadError(f"upload {upload_id!r} not found")
    if row.state != "receiving":
        raise ValueError(f"upload {upload_id!r} is {row.state}: it takes no more parts")
    if number not in (row.parts_received or []):
        row.parts_received = sorted([*(row.parts_received or []), number])
        row.updated_at = utc_now()
    session.flush()
    return _upload(row)


def move_footage_upload(
    session: Session,
    upload_id: str,
    from_state: str,
    to_state: str,
    **changes: Any,
) -> bool:
    """`from_state` → `to_state` with `changes` (start_at, probe, report, error); False when the
    upload was not in `from_state` (another request moved it first)."""
    if to_state not in UPLOAD_STATES:
        raise ValueError(f"upload state {to_state!r} not one of {UPLOAD_STATES}")
    unknown = set(changes) - {"start_at", "probe", "report", "error"}
    if unknown:
        raise ValueError(f"upload fields {sorted(unknown)} cannot be changed")
    statement = (
        update(FootageUploadRow)
        .where(FootageUploadRow.id == upload_id, FootageUploadRow.state == from_state)
        .values(state=to_state, updated_at=utc_now(), **changes)
        .execution_options(synchronize_session=False)
    )
    changed = session.execute(statement).rowcount == 1  # type: ignore[attr-defined]
    session.expire_all()
    return changed


def touch_footage_upload(session: Session, upload_id: str) -> bool:
    """Refresh an upload in `processing` (its worker's heartbeat); False when it left it."""
    statement = (
        update(FootageUploadRow)
        .where(FootageUploadRow.id == upload_id, FootageUploadRow.state == "processing")
        .values(updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(statement).rowcount == 1)  # type: ignore[attr-defined]


def take_over_footage_upload(session: Session, upload_id: str, stale_before: datetime) -> bool:
    """Claim an upload left in `processing` by a dead worker (no heartbeat since
    `stale_before`); False when its worker lives or another request claimed it first."""
    statement = (
        update(FootageUploadRow)
        .where(
            FootageUploadRow.id == upload_id,
            FootageUploadRow.state == "processing",
            FootageUploadRow.updated_at < ensure_utc(stale_before, "stale_before"),
        )
        .values(updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(statement).rowcount == 1)  # type: ignore[attr-defined]


def camera_kind(session: Session, camera_id: str) -> str | None:
    """The kind of the camera with this id, removed ones included; None when there is none."""
    return session.scalar(select(CameraRow.kind).where(CameraRow.id == camera_id))


def live_camera_named(session: Session, label: str) -> str | None:
    """The id of a live camera (removed ones included) whose id or name is `label`, compared
    without case; None when none is."""
    folded = label.strip().lower()
    statement = select(CameraRow.id).where(
        CameraRow.kind == "live",
        (func.lower(CameraRow.id) == folded) | (func.lower(CameraRow.name) == folded),
    )
    return session.scalars(statement.limit(1)).first()
