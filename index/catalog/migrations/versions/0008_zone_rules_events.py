"""Zone rules, camera time zones, violation events and the events outbox (issue #13).

Zones get a rule (kind, schedule, minimum dwell, sensitivity, classes); existing zones become
`generic` zones with no rule, always scheduled. Cameras get an IANA time zone; NULL means the
installation's `SKYNET_TIMEZONE`, so existing cameras follow that setting until one is set.
`events` holds violations and their review; `outbox` every change to publish, written in the
same transaction as the change (the events channel delivers from it).

Revision ID: 0008_zone_rules_events
Revises: 0007_api_key_expiry
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_zone_rules_events"
down_revision: str | None = "0007_api_key_expiry"
branch_labels: str | None = None
depends_on: str | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("zones") as batch:
        batch.add_column(sa.Column("kind", sa.String(32), nullable=False, server_default="generic"))
        batch.add_column(sa.Column("schedule", JSON_DOCUMENT, nullable=True))  # NULL: always
        batch.add_column(sa.Column("min_dwell_s", sa.Float(), nullable=False, server_default="300"))
        batch.add_column(sa.Column("sensitivity", sa.Float(), nullable=False, server_default="0.5"))
        batch.add_column(sa.Column("classes", JSON_DOCUMENT, nullable=True))  # NULL: kind's
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=True))
    op.create_table(
        "events",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("zone_id", ROW_ID, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("local_track_ids", JSON_DOCUMENT, nullable=False),
        sa.Column("evidence", JSON_DOCUMENT, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_events_camera_id_cameras"),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zones.id"], name="fk_events_zone_id_zones", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_camera_id_started_at", "events", ["camera_id", "started_at"])
    op.create_index(
        "ix_events_zone_id_kind_last_seen_at", "events", ["zone_id", "kind", "last_seen_at"]
    )
    op.create_index("ix_events_state_started_at", "events", ["state", "started_at"])
    op.create_table(
        "outbox",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sqlite_autoincrement=True,  # ids never reused: readers resume after the last id seen
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("events")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("timezone")
    with op.batch_alter_table("zones") as batch:
        batch.drop_column("classes")
        batch.drop_column("sensitivity")
        batch.drop_column("min_dwell_s")
        batch.drop_column("schedule")
        batch.drop_column("kind")
