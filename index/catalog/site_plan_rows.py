"""ORM row of site plans (issue #18): an uploaded plan image (kept in object storage under
`object_key`) and the geographic edges that place cameras on it. Kept beside
index/catalog/rows.py (same `Base`) so the catalog's metadata and migration 0016 hold it;
index/catalog/__init__.py imports this module through index/catalog/site_plans.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from index.catalog.rows import Base, RowId, UtcDateTime, utc_now


class SitePlanRow(Base):
    """A site plan: its image (`object_key`, `content_type`, size, pixels) stretched over the
    latitude/longitude box north/south/west/east (degrees, equirectangular: what the camera
    map draws), who uploaded it and when. Names are unique (the map offers plans by name)."""

    __tablename__ = "site_plans"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    object_key: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    width_px: Mapped[int] = mapped_column(Integer)
    height_px: Mapped[int] = mapped_column(Integer)
    north: Mapped[float] = mapped_column(Float)
    south: Mapped[float] = mapped_column(Float)
    west: Mapped[float] = mapped_column(Float)
    east: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)
