"""Re-index jobs, offline footage and versioned indexes (issue #15).

Footage part (the footage helper's ops, `_upgrade_footage` / `_downgrade_footage`): the cameras'
`kind` (live | offline) and the `footage_uploads` table (index/catalog/footage_rows.py).

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
from sqlalchemy.dialects import postgresql

revision: str = "0015_reindex_footage"
down_revision: str | None = "0014_retention_exports"
branch_labels: str | None = None
depends_on: str | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _upgrade_footage() -> None:
    op.add_column(
        "cameras", sa.Column("kind", sa.String(16), server_default="live", nullable=False)
    )
    op.create_table(
        "footage_uploads",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("camera_label", sa.String(200), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("part_bytes", sa.Integer(), nullable=False),
        sa.Column("parts_received", JSON_DOCUMENT, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("heading_deg", sa.Float(), nullable=True),
        sa.Column("start_time_given", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("probe", JSON_DOCUMENT, nullable=True),
        sa.Column("report", JSON_DOCUMENT, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_footage_uploads"),
    )
    op.create_index("ix_footage_uploads_sha256", "footage_uploads", ["sha256"])
    op.create_index("ix_footage_uploads_camera_id", "footage_uploads", ["camera_id"])


def _downgrade_footage() -> None:
    op.drop_index("ix_footage_uploads_camera_id", table_name="footage_uploads")
    op.drop_index("ix_footage_uploads_sha256", table_name="footage_uploads")
    op.drop_table("footage_uploads")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("kind")


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
    _upgrade_footage()
    _upgrade_reindex()


def downgrade() -> None:
    _downgrade_reindex()
    _downgrade_footage()
