"""ORM rows of accounts (issue #17): camera groups. Kept beside index/catalog/rows.py (same
`Base`, same naming convention) so the catalog's metadata and migration 0012 hold them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from index.catalog.rows import Base, UtcDateTime, utc_now


class CameraGroupRow(Base):
    """A named set of cameras (a district, a site): grants and retention tiers name groups.
    A camera belongs to at most one group (`cameras.group_name`)."""

    __tablename__ = "camera_groups"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
