"""Audit hash chain (issue #17): entry hashes and signed checkpoints.

PLACEHOLDER: reserved so that parallel work keeps one linear chain; its owner fills it in.

Revision ID: 0013_audit_chain
Revises: 0012_accounts
Create Date: 2026-12-06
"""

from __future__ import annotations

revision: str = "0013_audit_chain"
down_revision: str | None = "0012_accounts"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
