"""ORM row of hop decisions (issue #18): an investigator's confirm or reject of a cross-camera
hop, kept per case in the catalog so every session of the case sees the same trail. Kept
beside index/catalog/rows.py (same `Base`) so migration 0016 holds it; index/catalog/hops.py
is its repository."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from index.catalog.rows import Base, RowId, UtcDateTime, utc_now


class HopDecisionRow(Base):
    """One decision on a pair of tracks under a case, stored earlier sighting first (so A→B
    and B→A are one pair); a deleted track takes its decisions with it."""

    __tablename__ = "hop_decisions"
    __table_args__ = (
        UniqueConstraint("case_id", "from_track_id", "to_track_id"),
        CheckConstraint("decision IN ('confirmed', 'rejected')", name="decision"),
        CheckConstraint("from_track_id <> to_track_id", name="two_tracks"),
        Index(None, "from_track_id"),
        Index(None, "to_track_id"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    from_track_id: Mapped[int] = mapped_column(RowId, ForeignKey("tracks.id", ondelete="CASCADE"))
    to_track_id: Mapped[int] = mapped_column(RowId, ForeignKey("tracks.id", ondelete="CASCADE"))
    decision: Mapped[str] = mapped_column(String(16))  # "confirmed" | "rejected"
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
