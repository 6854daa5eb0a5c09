"""Catalog repository for camera groups (issue #17): named sets of cameras that grants and
retention tiers refer to. A camera is in at most one group (`cameras.group_name`), so a
camera's retention tier and its group grants are never ambiguous."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog.account_rows import CameraGroupRow
from index.catalog.cameras import UnknownCameraError
from index.catalog.rows import CameraRow

GROUP_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,100}")


class UnknownCameraGroupError(LookupError):
    """No camera group has this name."""


class DuplicateCameraGroupError(ValueError):
    """A camera group with this name exists already."""


@dataclass(frozen=True)
class CameraGroup:
    """A camera group and the ids of the cameras in it (removed cameras included: their
    recordings and tracks stay under the group's grants and retention until deleted)."""

    name: str
    description: str
    created_at: datetime
    camera_ids: tuple[str, ...]


def check_group_name(name: str) -> str:
    """Return `name` if it is a valid group name (1-100 letters, digits, `_.-`), else raise."""
    if not isinstance(name, str) or not GROUP_NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"group name {name!r} is invalid: use 1-100 letters, digits, '_', '.', '-'"
        )
    return name


def create_camera_group(session: Session, name: str, description: str = "") -> CameraGroup:
    """Create an empty group; ValueError for a bad name, DuplicateCameraGroupError if taken."""
    check_group_name(name)
    if session.get(CameraGroupRow, name) is not None:
        raise DuplicateCameraGroupError(f"name: camera group {name!r} exists already")
    row = CameraGroupRow(name=name, description=description.strip())
    session.add(row)
    session.flush()
    return CameraGroup(row.name, row.description, row.created_at, ())


def list_camera_groups(session: Session) -> list[CameraGroup]:
    """Every group, by name, with its cameras."""
    members: dict[str, list[str]] = {}
    for camera_id, group in session.execute(
        select(CameraRow.id, CameraRow.group_name)
        .where(CameraRow.group_name.is_not(None))
        .order_by(CameraRow.id)
    ):
        members.setdefault(str(group), []).append(camera_id)
    rows = session.scalars(select(CameraGroupRow).order_by(CameraGroupRow.name))
    return [
        CameraGroup(r.name, r.description, r.created_at, tuple(members.get(r.name, ())))
        for r in rows
    ]


def set_camera_group(session: Session, camera_id: str, group_name: str | None) -> None:
    """Put the camera in `group_name` (leaving any group it was in), or in none with None.

    LookupError when the camera (UnknownCameraError) or the group (UnknownCameraGroupError)
    does not exist."""
    row = session.get(CameraRow, camera_id)
    if row is None:
        raise UnknownCameraError(f"camera {camera_id!r} is not in the catalog")
    if group_name is not None and session.get(CameraGroupRow, group_name) is None:
        raise UnknownCameraGroupError(f"group: no camera group {group_name!r}")
    row.group_name = group_name
    session.flush()


def camera_group_of(session: Session, camera_id: str) -> str | None:
    """The group the camera is in; None when it is in none or is unknown."""
    group: str | None = session.scalar(
        select(CameraRow.group_name).where(CameraRow.id == camera_id)
    )
    return group


def cameras_in_group(session: Session, name: str) -> list[str]:
    """Ids of the cameras in the group, sorted (removed cameras included); [] for an empty or
    unknown group."""
    return list(
        session.scalars(
            select(CameraRow.id).where(CameraRow.group_name == name).order_by(CameraRow.id)
        )
    )
