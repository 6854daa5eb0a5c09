"""Catalog repository for camera grants (issue #17): which cameras a user or an API key may
see — single cameras, camera groups (resolved when the caller authenticates, so a camera added
to a group is seen at once), or every camera."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from index.catalog.account_rows import CameraGroupRow, GrantRow
from index.catalog.camera_groups import UnknownCameraGroupError, cameras_in_group
from index.catalog.cameras import UnknownCameraError
from index.catalog.rows import CameraRow


@dataclass(frozen=True)
class Grant:
    """One grant: `camera_id`, `group_name`, or neither (every camera)."""

    id: int
    user_id: int | None
    key_id: int | None
    camera_id: str | None
    group_name: str | None
    created_at: datetime
    created_by: str

    @property
    def target(self) -> str:
        if self.camera_id is not None:
            return f"camera:{self.camera_id}"
        return "all cameras" if self.group_name is None else f"group:{self.group_name}"


def _holder(user_id: int | None, key_id: int | None) -> ColumnElement[bool]:
    if (user_id is None) == (key_id is None):
        raise ValueError("a grant is held by exactly one user or one API key")
    if user_id is not None:
        return GrantRow.user_id == user_id
    return GrantRow.key_id == key_id


def _grant(row: GrantRow) -> Grant:
    return Grant(
        row.id, row.user_id, row.key_id, row.camera_id, row.group_name, row.created_at,
        row.created_by,
    )  # fmt: skip


def add_grant(
    session: Session,
    created_by: str,
    *,
    user_id: int | None = None,
    key_id: int | None = None,
    camera_id: str | None = None,
    group_name: str | None = None,
) -> Grant:
    """Let the user (or key) see `camera_id`, the cameras of `group_name`, or with neither
    every camera; the same grant twice is stored once. LookupError for an unknown camera or
    group; ValueError when both a camera and a group are given."""
    holder = _holder(user_id, key_id)
    if camera_id is not None and group_name is not None:
        raise ValueError("grant one camera or one camera group, not both")
    if camera_id is not None and session.get(CameraRow, camera_id) is None:
        raise UnknownCameraError(f"camera: no camera {camera_id!r} in the catalog")
    if group_name is not None and session.get(CameraGroupRow, group_name) is None:
        raise UnknownCameraGroupError(f"group: no camera group {group_name!r}")
    existing = session.scalar(
        select(GrantRow).where(
            holder,
            GrantRow.camera_id.is_(None) if camera_id is None else GrantRow.camera_id == camera_id,
            GrantRow.group_name.is_(None)
            if group_name is None
            else GrantRow.group_name == group_name,
        )
    )
    if existing is not None:
        return _grant(existing)
    row = GrantRow(
        user_id=user_id, key_id=key_id, camera_id=camera_id, group_name=group_name,
        created_by=created_by,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return _grant(row)


def remove_grants(
    session: Session,
    *,
    user_id: int | None = None,
    key_id: int | None = None,
    camera_id: str | None = None,
    group_name: str | None = None,
) -> int:
    """Remove the matching grant (camera, group, or with neither the every-camera grant);
    returns how many went (0 or 1)."""
    holder = _holder(user_id, key_id)
    rows = session.scalars(
        select(GrantRow).where(
            holder,
            GrantRow.camera_id.is_(None) if camera_id is None else GrantRow.camera_id == camera_id,
            GrantRow.group_name.is_(None)
            if group_name is None
            else GrantRow.group_name == group_name,
        )
    ).all()
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)


def grants_of(
    session: Session, *, user_id: int | None = None, key_id: int | None = None
) -> list[Grant]:
    rows = session.scalars(select(GrantRow).where(_holder(user_id, key_id)).order_by(GrantRow.id))
    return [_grant(r) for r in rows]


def granted_cameras(
    session: Session, *, user_id: int | None = None, key_id: int | None = None
) -> frozenset[str] | None:
    """The cameras the grants cover now: None when one grant covers every camera, else the
    granted cameras and those of the granted groups (empty without grants)."""
    cameras: set[str] = set()
    for grant in grants_of(session, user_id=user_id, key_id=key_id):
        if grant.camera_id is None and grant.group_name is None:
            return None
        if grant.camera_id is not None:
            cameras.add(grant.camera_id)
        else:
            cameras.update(cameras_in_group(session, str(grant.group_name)))
    return frozenset(cameras)
