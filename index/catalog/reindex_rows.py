"""ORM rows of re-index jobs (issue #15): each job's units (one recorded segment each, its
checkpoint) and the versioned indexes. Kept beside index/catalog/rows.py (same `Base`) so the
catalog's metadata and migration 0015 hold them; index/catalog/__init__.py imports this module.

The job itself is a `jobs` row of kind "reindex" (its lease and heartbeat as every job's)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from index.catalog.rows import Base, RowId, UtcDateTime, utc_now


class ReindexUnitRow(Base):
    """One segment of a re-index job and its checkpoint: `pending` until its tracks commit
    with `done` in one transaction, or `skipped` (unreadable segment) with the reason."""

    __tablename__ = "reindex_units"
    __table_args__ = (
        UniqueConstraint("job_id", "recording_id"),
        Index(None, "job_id", "state"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    recording_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    footage_s: Mapped[float] = mapped_column(Float, default=0.0)
    track_count: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class IndexVersionRow(Base):
    """A versioned index: the vector space (`version` = the embedding version) and the models
    behind it. `building` while a re-index fills it (a shadow beside the live one), `live` for
    the one version searches use (at most one), `retired` once its index was removed."""

    __tablename__ = "index_versions"

    version: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    detector: Mapped[str] = mapped_column(String(200))
    embedder: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    switched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
