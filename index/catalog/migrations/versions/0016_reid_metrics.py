"""Learned re-ID metrics (issue #16).

PLACEHOLDER: reserved so that parallel work keeps one linear chain; its owner fills it in.

Revision ID: 0016_reid_metrics
Revises: 0015_reindex_footage
Create Date: 2026-12-06
"""

from __future__ import annotations

revision: str = "0016_reid_metrics"
down_revision: str | None = "0015_reindex_footage"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
