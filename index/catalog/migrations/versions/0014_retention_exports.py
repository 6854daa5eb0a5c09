"""Retention tiers, legal holds and evidence exports (issue #17).

PLACEHOLDER: reserved so that parallel work keeps one linear chain; its owner fills it in.

Revision ID: 0014_retention_exports
Revises: 0013_audit_chain
Create Date: 2026-12-06
"""

from __future__ import annotations

revision: str = "0014_retention_exports"
down_revision: str | None = "0013_audit_chain"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
