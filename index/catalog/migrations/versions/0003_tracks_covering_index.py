"""Camera + time filters read ids from an index that also holds end_at and class_name.

Revision ID: 0003_tracks_covering_index
Revises: 0002_camera_removed_at
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision: str = "0003_tracks_covering_index"
down_revision: str | None = "0002_camera_removed_at"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tracks_camera_id_start_at_end_at_class_name",
        "tracks",
        ["camera_id", "start_at", "end_at", "class_name"],
    )
    op.drop_index("ix_tracks_camera_id_start_at", table_name="tracks")


def downgrade() -> None:
    op.create_index("ix_tracks_camera_id_start_at", "tracks", ["camera_id", "start_at"])
    op.drop_index("ix_tracks_camera_id_start_at_end_at_class_name", table_name="tracks")
