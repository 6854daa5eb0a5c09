"""Watchlists (issue #14): watchlists under a case, their entries (plate pattern or vehicle
exemplar embedding) and the hits live ingest found.

Revision ID: 0011_watchlists
Revises: 0010_plates
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011_watchlists"
down_revision: str | None = "0010_plates"
branch_labels: str | None = None
depends_on: str | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "watchlists",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_watchlists_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_watchlists"),
    )
    op.create_index("ix_watchlists_case_id", "watchlists", ["case_id"])
    op.create_table(
        "watchlist_entries",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("watchlist_id", ROW_ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("plate_pattern", sa.String(64), nullable=True),
        sa.Column("plate_match", sa.String(16), nullable=True),
        sa.Column("max_distance", sa.Float(), nullable=True),
        sa.Column("exemplar_track_id", ROW_ID, nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_version", sa.String(64), nullable=True),
        sa.Column("min_similarity", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.id"],
            name="fk_watchlist_entries_watchlist_id_watchlists",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_watchlist_entries"),
    )
    op.create_index("ix_watchlist_entries_watchlist_id", "watchlist_entries", ["watchlist_id"])
    op.create_table(
        "watchlist_hits",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("watchlist_id", ROW_ID, nullable=False),
        sa.Column("entry_id", ROW_ID, nullable=False),
        sa.Column("track_id", ROW_ID, nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plate_text", sa.String(64), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("outbox_id", ROW_ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.id"],
            name="fk_watchlist_hits_watchlist_id_watchlists",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["watchlist_entries.id"],
            name="fk_watchlist_hits_entry_id_watchlist_entries",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name="fk_watchlist_hits_track_id_tracks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_watchlist_hits"),
        sa.UniqueConstraint("entry_id", "track_id", name="uq_watchlist_hits_entry_id_track_id"),
    )
    op.create_index("ix_watchlist_hits_watchlist_id_at", "watchlist_hits", ["watchlist_id", "at"])


def downgrade() -> None:
    op.drop_table("watchlist_hits")
    op.drop_table("watchlist_entries")
    op.drop_table("watchlists")
