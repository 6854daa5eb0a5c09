"""Retention tiers, legal holds and evidence exports (issue #17): retention tiers per camera
group, legal holds on cases, the material filed under a case, and the tracks whose recording
retention deleted. (Evidence exports keep their state in the jobs table and object storage.)

Revision ID: 0014_retention_exports
Revises: 0013_audit_chain
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014_retention_exports"
down_revision: str | None = "0013_audit_chain"
branch_labels: str | None = None
depends_on: str | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "retention_tiers",
        sa.Column("group_name", sa.String(100), nullable=False),
        sa.Column("segments_days", sa.Integer(), nullable=False),
        sa.Column("tracks_days", sa.Integer(), nullable=False),
        sa.Column("events_days", sa.Integer(), nullable=False),
        sa.Column("audit_days", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group_name", name="pk_retention_tiers"),
    )
    op.create_table(
        "legal_holds",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("held_by", sa.String(200), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(200), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_legal_holds_case_id_cases"),
        sa.PrimaryKeyConstraint("case_id", name="pk_legal_holds"),
    )
    op.create_table(
        "case_material",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref_id", ROW_ID, autoincrement=False, nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_material_case_id_cases"),
        sa.PrimaryKeyConstraint("case_id", "kind", "ref_id", name="pk_case_material"),
    )
    op.create_index("ix_case_material_kind_ref_id", "case_material", ["kind", "ref_id"])
    op.create_table(
        "track_clips_deleted",
        sa.Column("track_id", ROW_ID, autoincrement=False, nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name="fk_track_clips_deleted_track_id_tracks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("track_id", name="pk_track_clips_deleted"),
    )


def downgrade() -> None:
    op.drop_table("track_clips_deleted")
    op.drop_index("ix_case_material_kind_ref_id", table_name="case_material")
    op.drop_table("case_material")
    op.drop_table("legal_holds")
    op.drop_table("retention_tiers")
