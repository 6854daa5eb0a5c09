"""Hop decisions, site plans and webhook secret overlap (issues #18 and #13).

Three parts, one per helper; each fills only its own pair of functions:
- `_upgrade_hops` / `_downgrade_hops`: an investigator's confirm / reject of a cross-camera hop,
  kept per case in the catalog (not in one browser tab).
- `_upgrade_site_plans` / `_downgrade_site_plans`: an uploaded site plan (image in object storage)
  with the geographic bounds that place cameras on it.
- `_upgrade_webhook_overlap` / `_downgrade_webhook_overlap`: a rotated webhook secret keeps the
  previous one valid for an overlap period.

Revision ID: 0016_hops_site_plans_webhooks
Revises: 0015_reindex_footage
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016_hops_site_plans_webhooks"
down_revision: str | None = "0015_reindex_footage"
branch_labels: str | None = None
depends_on: str | None = None


HOP_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _upgrade_hops() -> None:
    """`hop_decisions` (index/catalog/hop_rows.py): one confirm / reject per case and pair of
    tracks, stored earlier sighting first; a deleted track takes its decisions with it."""
    op.create_table(
        "hop_decisions",
        sa.Column("id", HOP_ROW_ID, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("from_track_id", HOP_ROW_ID, nullable=False),
        sa.Column("to_track_id", HOP_ROW_ID, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "decision IN ('confirmed', 'rejected')", name=op.f("ck_hop_decisions_decision")
        ),
        sa.CheckConstraint(
            "from_track_id <> to_track_id", name=op.f("ck_hop_decisions_two_tracks")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_hop_decisions_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["from_track_id"], ["tracks.id"], name="fk_hop_decisions_from_track_id_tracks",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_track_id"], ["tracks.id"], name="fk_hop_decisions_to_track_id_tracks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_hop_decisions"),
        sa.UniqueConstraint(
            "case_id", "from_track_id", "to_track_id",
            name="uq_hop_decisions_case_id_from_track_id_to_track_id",
        ),
    )  # fmt: skip
    # the cascades from a deleted track look its decisions up by either end
    op.create_index("ix_hop_decisions_from_track_id", "hop_decisions", ["from_track_id"])
    op.create_index("ix_hop_decisions_to_track_id", "hop_decisions", ["to_track_id"])


def _downgrade_hops() -> None:
    op.drop_index("ix_hop_decisions_to_track_id", table_name="hop_decisions")
    op.drop_index("ix_hop_decisions_from_track_id", table_name="hop_decisions")
    op.drop_table("hop_decisions")


def _upgrade_site_plans() -> None:
    """`site_plans` (index/catalog/site_plan_rows.py): a plan image's object key, size and
    pixels, and the latitude/longitude edges the camera map stretches it over."""
    row_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "site_plans",
        sa.Column("id", row_id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("object_key", sa.String(300), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width_px", sa.Integer(), nullable=False),
        sa.Column("height_px", sa.Integer(), nullable=False),
        sa.Column("north", sa.Float(), nullable=False),
        sa.Column("south", sa.Float(), nullable=False),
        sa.Column("west", sa.Float(), nullable=False),
        sa.Column("east", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_site_plans"),
        sa.UniqueConstraint("name", name="uq_site_plans_name"),
    )


def _downgrade_site_plans() -> None:
    op.drop_table("site_plans")


def _upgrade_webhook_overlap() -> None:
    """`webhooks.previous_secret` / `previous_secret_until` (index/catalog/rows.py WebhookRow):
    the secret a rotation replaced keeps signing deliveries, beside the new one, until then.
    ALTER TABLE in place (never SQLite's copy-and-drop: dropping `webhooks` with foreign keys on
    would delete the subscribers' cursors and dead letters by cascade)."""
    with op.batch_alter_table("webhooks", recreate="never") as batch:
        batch.add_column(sa.Column("previous_secret", sa.String(200), nullable=True))
        batch.add_column(
            sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True)
        )


def _downgrade_webhook_overlap() -> None:
    with op.batch_alter_table("webhooks", recreate="never") as batch:  # SQLite ≥ 3.35
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret")


def upgrade() -> None:
    _upgrade_hops()
    _upgrade_site_plans()
    _upgrade_webhook_overlap()


def downgrade() -> None:
    _downgrade_webhook_overlap()
    _downgrade_site_plans()
    _downgrade_hops()
