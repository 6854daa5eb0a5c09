"""Accounts (issue #17): camera groups (a camera is in at most one), user accounts, their
session tokens, and camera grants of users and API keys.

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

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
    op.create_table(
        "users",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "user_sessions",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("user_id", ROW_ID, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_sessions_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("jti", name="pk_user_sessions"),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_table(
        "grants",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", ROW_ID, nullable=True),
        sa.Column("key_id", ROW_ID, nullable=True),
        sa.Column("camera_id", sa.String(64), nullable=True),
        sa.Column("group_name", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.CheckConstraint("(user_id IS NULL) <> (key_id IS NULL)", name="ck_grants_one_holder"),
        sa.CheckConstraint("camera_id IS NULL OR group_name IS NULL", name="ck_grants_one_target"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_grants_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name="fk_grants_key_id_api_keys", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_grants_camera_id_cameras"),
        sa.ForeignKeyConstraint(
            ["group_name"],
            ["camera_groups.name"],
            name="fk_grants_group_name_camera_groups",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_grants"),
    )
    op.create_index("ix_grants_user_id", "grants", ["user_id"])
    op.create_index("ix_grants_key_id", "grants", ["key_id"])


def downgrade() -> None:
    op.drop_table("grants")
    op.drop_table("user_sessions")
    op.drop_table("users")
    op.drop_index("ix_cameras_group_name", table_name="cameras")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("group_name")
    op.drop_table("camera_groups")
