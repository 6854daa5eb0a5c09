"""Re-index jobs, offline footage and versioned indexes (issue #15).

PLACEHOLDER: reserved so that parallel work keeps one linear chain; its owner fills it in.

Revision ID: 0015_reindex_footage
Revises: 0014_retention_exports
Create Date: 2026-12-06
"""

from __future__ import annotations

revision: str = "0015_reindex_footage"
down_revision: str | None = "0014_retention_exports"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
