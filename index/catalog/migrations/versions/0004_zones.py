"""Zones: named polygons per camera, which tracks passed through them, and each track's frame size.

Revision ID: 0004_zones
Revises: 0003_tracks_covering_index
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_zones"
down_revision: str | None = "0003_tracks_covering_index"
branch_labels: str | None = None
depends_on: str | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Nullable, so adding them rewrites nothing; tracks stored before stay in no zone.
    op.add_column("tracks", sa.Column("frame_width_px", sa.Integer(), nullable=True))
    op.add_column("tracks", sa.Column("frame_height_px", sa.Integer(), nullable=True))
    op.create_table(
        "zones",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("polygon", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_zones_camera_id_cameras"),
        sa.PrimaryKeyConstraint("id", name="pk_zones"),
        sa.UniqueConstraint("camera_id", "name", name="uq_zones_camera_id_name"),
    )
    op.create_table(
        "track_zones",
        sa.Column("track_id", ROW_ID, autoincrement=False, nullable=False),
        sa.Column("zone_id", ROW_ID, autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name="fk_track_zones_track_id_tracks", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zones.id"], name="fk_track_zones_zone_id_zones", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("track_id", "zone_id", name="pk_track_zones"),
    )
    op.create_index("ix_track_zones_zone_id_track_id", "track_zones", ["zone_id", "track_id"])


def downgrade() -> None:
    op.drop_table("track_zones")
    op.drop_table("zones")
    with op.batch_alter_table("tracks") as batch:
        batch.drop_column("frame_height_px")
        batch.drop_column("frame_width_px")
