"""Accounts (issue #17): users, sessions, camera groups and grants.

PLACEHOLDER: reserved so that parallel work keeps one linear chain; its owner fills it in.

Revision ID: 0012_accounts
Revises: 0011_watchlists
Create Date: 2026-12-06
"""

from __future__ import annotations

revision: str = "0012_accounts"
down_revision: str | None = "0011_watchlists"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
