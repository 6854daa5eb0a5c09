"""Re-index jobs, offline footage and versioned indexes (issue #15).

Re-index part (`_upgrade_reindex` / `_downgrade_reindex`): `reindex_units` (one recorded segment
of a job with its checkpoint), `index_versions` (index/catalog/reindex_rows.py), the tracks'
`detector_version`, and room for 200-character embedding versions (the INT8 embedder's has 71).

Revision ID: 0015_reindex_footage
Revises: 0014_retention_exports
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0015_reindex_footage"
down_revision: str | None = "0014_retention_exports"
branch_labels: str | None = None
depends_on: str | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _upgrade_reindex() -> None:
    op.create_table(
        "reindex_units",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("recording_id", ROW_ID, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("footage_s", sa.Float(), nullable=False),
        sa.Column("track_count", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_reindex_units_job_id_jobs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["segments.id"], name="fk_reindex_units_recording_id_segments"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reindex_units"),
        sa.UniqueConstraint("job_id", "recording_id", name="uq_reindex_units_job_id_recording_id"),
    )
    op.create_index("ix_reindex_units_job_id_state", "reindex_units", ["job_id", "state"])
    op.create_table(
        "index_versions",
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detector", sa.String(200), nullable=False),
        sa.Column("embedder", sa.String(200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("switched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("version", name="pk_index_versions"),
    )
    with op.batch_alter_table("tracks") as batch:
        batch.add_column(sa.Column("detector_version", sa.String(200), nullable=True))
        # the INT8 embedder's version is 71 characters: 64 refused it on PostgreSQL
        batch.alter_column(
            "embedding_version", existing_type=sa.String(64), type_=sa.String(200)
        )


def _downgrade_reindex() -> None:
    with op.batch_alter_table("tracks") as batch:
        batch.alter_column(
            "embedding_version", existing_type=sa.String(200), type_=sa.String(64)
        )
        batch.drop_column("detector_version")
    op.drop_table("index_versions")
    op.drop_index("ix_reindex_units_job_id_state", table_name="reindex_units")
    op.drop_table("reindex_units")


def upgrade() -> None:
    _upgrade_reindex()


def downgrade() -> None:
    _downgrade_reindex()
