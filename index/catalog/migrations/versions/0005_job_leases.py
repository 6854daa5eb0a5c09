"""Jobs survive a restart: each names its owner and the runner holding it, with a heartbeat.

Revision ID: 0005_job_leases
Revises: 0004_zones
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_job_leases"
down_revision: str | None = "0004_zones"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("owner", sa.String(200), nullable=True))
    op.add_column("jobs", sa.Column("runner_id", sa.String(64), nullable=True))
    op.add_column("jobs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    # Search jobs kept their owner in params until now; the jobs table is small.
    jobs = sa.table("jobs", sa.column("id", sa.String), sa.column("params", sa.JSON))
    connection = op.get_bind()
    for job_id, params in connection.execute(sa.select(jobs.c.id, jobs.c.params)).all():
        owner = (params or {}).get("owner")
        if isinstance(owner, str):
            connection.execute(
                sa.text("UPDATE jobs SET owner = :owner WHERE id = :id"),
                {"owner": owner, "id": job_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("runner_id")
        batch.drop_column("owner")
