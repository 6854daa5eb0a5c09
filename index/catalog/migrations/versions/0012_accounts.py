"""Accounts (issue #17): camera groups (a camera is in at most one).

Revision ID: 0012_accounts
Revises: 0011_watchlists
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012_accounts"
down_revision: str | None = "0011_watchlists"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "camera_groups",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_camera_groups"),
    )
    # A plain column (no foreign key): SQLite adds it in place instead of rebuilding `cameras`,
    # which every recording, track and event refers to; the repository checks the group exists.
    op.add_column("cameras", sa.Column("group_name", sa.String(100), nullable=True))
    op.create_index("ix_cameras_group_name", "cameras", ["group_name"])


def downgrade() -> None:
    op.drop_index("ix_cameras_group_name", table_name="cameras")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("group_name")
    op.drop_table("camera_groups")
