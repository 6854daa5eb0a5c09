"""Licence plates of vehicle tracks (issue #14): one row per track with the voted text, its
confidence, format and colour, ranked alternatives, every read (frame time and box) and the
plate crop's object key; an index on the text serves exact and prefix plate searches.

Revision ID: 0010_plates
Revises: 0009_webhooks
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_plates"
down_revision: str | None = "0009_webhooks"
branch_labels: str | None = None
depends_on: str | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "plates",
        sa.Column("track_id", ROW_ID, autoincrement=False, nullable=False),
        sa.Column("text", sa.String(32), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("plate_format", sa.String(16), nullable=False),
        sa.Column("colour", sa.String(16), nullable=False),
        sa.Column("alternatives", JSON_DOCUMENT, nullable=False),
        sa.Column("reads", JSON_DOCUMENT, nullable=False),
        sa.Column("crop_key", sa.String(512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name="fk_plates_track_id_tracks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("track_id", name="pk_plates"),
    )
    # varchar_pattern_ops: LIKE 'A12%' uses the index on PostgreSQL whatever the collation.
    op.create_index(
        "ix_plates_text", "plates", ["text"], postgresql_ops={"text": "varchar_pattern_ops"}
    )


def downgrade() -> None:
    op.drop_index("ix_plates_text", table_name="plates")
    op.drop_table("plates")
