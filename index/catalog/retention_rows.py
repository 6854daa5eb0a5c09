"""ORM rows of retention and legal hold (issue #17): retention tiers per camera group, legal
holds on cases, the material filed under a case, and the tracks whose recording retention has
deleted. Kept beside index/catalog/rows.py (same `Base`) so migration 0014 holds them;
index/catalog/__init__.py imports this module."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from index.catalog.rows import Base, RowId, UtcDateTime, utc_now


class RetentionTierRow(Base):
    """How many days a camera group's material is kept; `group_name` "*" is the default tier
    (cameras in no group, and groups without a tier of their own). `audit_days` is read from
    the default tier only (the audit log is not per camera)."""

    __tablename__ = "retention_tiers"

    group_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    segments_days: Mapped[int] = mapped_column(Integer)
    tracks_days: Mapped[int] = mapped_column(Integer)
    events_days: Mapped[int] = mapped_column(Integer)
    audit_days: Mapped[int | None] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class LegalHoldRow(Base):
    """A legal hold on a case: while `released_at` is None nothing filed under the case is
    deleted by retention. Placing a released hold again reuses the row."""

    __tablename__ = "legal_holds"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    held_by: Mapped[str] = mapped_column(String(200))
    held_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    released_by: Mapped[str | None] = mapped_column(String(200))
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CaseMaterialRow(Base):
    """A track or event filed under a case (besides the tracks the case's audited views and
    watchlist hits name): what a legal hold on the case keeps."""

    __tablename__ = "case_material"
    __table_args__ = (Index(None, "kind", "ref_id"),)

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # "track" | "event"
    ref_id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=False)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class TrackClipDeletedRow(Base):
    """A track kept longer than its recording: retention deleted the segments it was seen in,
    so the API says `clip_available: false` instead of handing out a broken clip link."""

    __tablename__ = "track_clips_deleted"

    track_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    deleted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
