"""ORM row of footage uploads (issue #15): one uploaded file on its way to becoming recorded
segments of an offline camera. Kept beside index/catalog/rows.py (same `Base`, same naming
convention) so the catalog's metadata and migration 0015 hold it; index/catalog/__init__.py
imports this module through index/catalog/footage.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from index.catalog.rows import Base, JsonDocument, UtcDateTime, utc_now


class FootageUploadRow(Base):
    """An upload: the file's name, size and hash, its parts (all `part_bytes` long but the
    last), where it is in its life (`state`) and what probing and cutting it found.

    The camera it becomes (`camera_id`, from the operator's `camera_label`) is created only when
    the footage is stored, so there is no foreign key: a refused upload leaves no camera.
    """

    __tablename__ = "footage_uploads"
    __table_args__ = (Index(None, "sha256"), Index(None, "camera_id"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    camera_label: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    part_bytes: Mapped[int] = mapped_column(Integer)
    parts_received: Mapped[list[int]] = mapped_column(JsonDocument, default=list)
    state: Mapped[str] = mapped_column(String(16), default="receiving")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    start_time_given: Mapped[datetime | None] = mapped_column(UtcDateTime)
    start_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # as used: given or the file's
    probe: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    report: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)  # segments, damage, job
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)
