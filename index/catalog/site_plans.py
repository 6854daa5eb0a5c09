"""Catalog repository for site plans (issue #18): the plans the camera map can draw cameras on.

The image itself lives in object storage; the row holds its key and the plan's geographic
edges. Callers write in this order (search_api/routers/site_plans.py): image, then row (an
orphan image at worst); and delete the image, then the row (a retry after a storage outage
finds the row still there). Functions flush, never commit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog.rows import utc_now
from index.catalog.site_plan_rows import SitePlanRow

MAX_NAME_CHARS = 200


class SitePlanError(ValueError):
    """A site plan that cannot be stored as given; the message starts with the field."""


class DuplicateSitePlanError(SitePlanError):
    """Another site plan already has this name."""


class UnknownSitePlanError(LookupError):
    """No site plan has this id."""


@dataclass(frozen=True)
class PlanBounds:
    """The plan's edges in degrees: its top is `north`, its left `west` (the camera map
    stretches the image over this box, equirectangular). Plans crossing ±180° are refused."""

    north: float
    south: float
    west: float
    east: float

    def __post_init__(self) -> None:
        for field, limit in (("north", 90), ("south", 90), ("west", 180), ("east", 180)):
            value = getattr(self, field)
            if not math.isfinite(value) or not -limit <= value <= limit:
                raise SitePlanError(f"{field}: must be a number in [-{limit}, {limit}]")
        if self.north <= self.south:
            raise SitePlanError(f"north: must be above south ({self.north} <= {self.south})")
        if self.east <= self.west:
            raise SitePlanError(f"east: must be east of west ({self.east} <= {self.west})")


@dataclass(frozen=True)
class NewSitePlan:
    """A plan whose image is already stored under `object_key`."""

    name: str
    object_key: str
    content_type: str
    size_bytes: int
    sha256: str
    width_px: int
    height_px: int
    bounds: PlanBounds
    created_by: str


@dataclass(frozen=True)
class SitePlan(NewSitePlan):
    """A stored plan: what was added, with its id and times."""

    id: int
    created_at: datetime
    updated_at: datetime


def _plan(row: SitePlanRow) -> SitePlan:
    return SitePlan(
        name=row.name, object_key=row.object_key, content_type=row.content_type,
        size_bytes=row.size_bytes, sha256=row.sha256, width_px=row.width_px,
        height_px=row.height_px, bounds=PlanBounds(row.north, row.south, row.west, row.east),
        created_by=row.created_by, id=row.id, created_at=row.created_at,
        updated_at=row.updated_at,
    )  # fmt: skip


def _checked_name(session: Session, name: str, plan_id: int | None = None) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise SitePlanError(f"name: must have 1-{MAX_NAME_CHARS} characters")
    taken = session.scalar(select(SitePlanRow.id).where(SitePlanRow.name == name))
    if taken is not None and taken != plan_id:
        raise DuplicateSitePlanError(f"name: site plan {name!r} already exists")
    return name


def check_new_name(session: Session, name: str) -> str:
    """The name stripped, if a new plan may take it (before its image is stored);
    SitePlanError naming `name` otherwise."""
    return _checked_name(session, name)


def add_site_plan(session: Session, plan: NewSitePlan) -> SitePlan:
    """Store the row of a plan whose image is stored; SitePlanError naming the field."""
    row = SitePlanRow(
        name=_checked_name(session, plan.name), object_key=plan.object_key,
        content_type=plan.content_type, size_bytes=plan.size_bytes, sha256=plan.sha256,
        width_px=plan.width_px, height_px=plan.height_px, north=plan.bounds.north,
        south=plan.bounds.south, west=plan.bounds.west, east=plan.bounds.east,
        created_by=plan.created_by,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return _plan(row)


def list_site_plans(session: Session) -> list[SitePlan]:
    """Every plan, newest first."""
    rows = session.scalars(select(SitePlanRow).order_by(SitePlanRow.id.desc()))
    return [_plan(row) for row in rows]


def _row(session: Session, plan_id: int) -> SitePlanRow:
    row = session.get(SitePlanRow, plan_id)
    if row is None:
        raise UnknownSitePlanError(f"site plan {plan_id} not found")
    return row


def get_site_plan(session: Session, plan_id: int) -> SitePlan:
    """The plan; UnknownSitePlanError when there is none."""
    return _plan(_row(session, plan_id))


def update_site_plan(session: Session, plan_id: int, name: str, bounds: PlanBounds) -> SitePlan:
    """Rename the plan and move its edges (the image stays)."""
    row = _row(session, plan_id)
    row.name = _checked_name(session, name, plan_id)
    row.north, row.south, row.west, row.east = bounds.north, bounds.south, bounds.west, bounds.east
    row.updated_at = utc_now()
    session.flush()
    return _plan(row)


def delete_site_plan(session: Session, plan_id: int) -> None:
    """Remove the plan's row (its image must be deleted first)."""
    session.delete(_row(session, plan_id))
    session.flush()
