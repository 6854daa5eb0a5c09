"""Cameras choose their detector tiling ("COLSxROWS"; existing cameras keep the full frame).

Revision ID: 0006_camera_tiles
Revises: 0005_job_leases
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_camera_tiles"
down_revision: str | None = "0005_job_leases"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("tiles", sa.String(8), nullable=False, server_default="1x1"))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("tiles")
