"""Catalog repository for cameras: the catalog is the source of truth the runtime polls."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog.rows import CameraRow, utc_now
from index.catalog.values import CameraSpec, check_camera_id


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
        timezone=row.timezone,
        kind=row.kind,
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
    row.timezone = spec.timezone
    row.kind = spec.kind
    session.flush()


def get_camera(session: Session, camera_id: str) -> CameraSpec | None:
    """The camera's configuration; None when unknown or removed."""
    row = session.get(CameraRow, camera_id)
    return None if row is None or row.removed_at is not None else _camera_spec(row)


def camera_timezone(session: Session, camera_id: str, default: str) -> str:
    """The camera's IANA time zone, `default` (SKYNET_TIMEZONE) when it has none of its own."""
    zone = session.scalar(select(CameraRow.timezone).where(CameraRow.id == camera_id))
    return zone or default


def list_cameras(session: Session) -> list[CameraSpec]:
    """Cameras that are configured (removed ones are left out)."""
    rows = session.scalars(
        select(CameraRow).where(CameraRow.removed_at.is_(None)).order_by(CameraRow.id)
    )
    return [_camera_spec(row) for row in rows]


def searchable_cameras(session: Session) -> list[CameraSpec]:
    """Every camera whose tracks may be searched, by id: configured ones and removed ones
    (a removed camera's recordings and tracks stay until retention deletes them)."""
    return [_camera_spec(row) for row in session.scalars(select(CameraRow).order_by(CameraRow.id))]


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
