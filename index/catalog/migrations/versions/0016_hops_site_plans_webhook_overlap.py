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

revision: str = "0016_hops_site_plans_webhooks"
down_revision: str | None = "0015_reindex_footage"
branch_labels: str | None = None
depends_on: str | None = None


def _upgrade_hops() -> None:
    pass  # PLACEHOLDER (hop decisions helper)


def _downgrade_hops() -> None:
    pass  # PLACEHOLDER (hop decisions helper)


def _upgrade_site_plans() -> None:
    pass  # PLACEHOLDER (site plan helper)


def _downgrade_site_plans() -> None:
    pass  # PLACEHOLDER (site plan helper)


def _upgrade_webhook_overlap() -> None:
    pass  # PLACEHOLDER (hardening helper)


def _downgrade_webhook_overlap() -> None:
    pass  # PLACEHOLDER (hardening helper)


def upgrade() -> None:
    _upgrade_hops()
    _upgrade_site_plans()
    _upgrade_webhook_overlap()


def downgrade() -> None:
    _downgrade_webhook_overlap()
    _downgrade_site_plans()
    _downgrade_hops()
