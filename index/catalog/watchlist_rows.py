"""ORM rows of watchlists (issue #14): a watchlist under an open case, its entries (a plate
pattern or a vehicle exemplar's embedding) and the hits live ingest found. Kept beside
index/catalog/rows.py (same `Base`, same naming convention) so the catalog's metadata and
migration 0011 hold them; index/catalog/__init__.py imports this module."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from index.catalog.rows import Base, RowId, UtcDateTime, utc_now


class WatchlistRow(Base):
    """A watchlist: filed under a case with a purpose; active until `expires_at` or `ended_at`
    (set when it is deleted or its case is closed)."""

    __tablename__ = "watchlists"
    __table_args__ = (Index(None, "case_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    purpose: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(64))


class WatchlistEntryRow(Base):
    """One thing to watch for: a plate pattern (`plate_pattern`, `plate_match`, and
    `max_distance` when fuzzy) or an exemplar (`embedding` of `embedding_version`, from
    `exemplar_track_id` or an uploaded image, and `min_similarity`)."""

    __tablename__ = "watchlist_entries"
    __table_args__ = (Index(None, "watchlist_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    watchlist_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("watchlists.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))  # "plate" | "exemplar"
    label: Mapped[str] = mapped_column(String(200), default="")
    plate_pattern: Mapped[str | None] = mapped_column(String(64))
    plate_match: Mapped[str | None] = mapped_column(String(16))  # exact | wildcard | fuzzy
    max_distance: Mapped[float | None] = mapped_column(Float)
    exemplar_track_id: Mapped[int | None] = mapped_column(RowId)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_version: Mapped[str | None] = mapped_column(String(64))
    min_similarity: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WatchlistHitRow(Base):
    """A track that matched an entry; written with its `watchlist.hit` outbox row."""

    __tablename__ = "watchlist_hits"
    __table_args__ = (
        UniqueConstraint("entry_id", "track_id"),  # re-indexing a track raises no second hit
        Index(None, "watchlist_id", "at"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    watchlist_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("watchlists.id", ondelete="CASCADE")
    )
    entry_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("watchlist_entries.id", ondelete="CASCADE")
    )
    track_id: Mapped[int] = mapped_column(RowId, ForeignKey("tracks.id", ondelete="CASCADE"))
    camera_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    plate_text: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    outbox_id: Mapped[int] = mapped_column(RowId)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
