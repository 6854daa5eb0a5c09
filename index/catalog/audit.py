"""Catalog repository for the append-only audit log (the table refuses UPDATE and DELETE)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog.rows import AuditRow, ensure_utc, utc_now
from index.catalog.values import AuditEntry


def append_audit(
    session: Session,
    *,
    principal: str,
    role: str,
    action: str,
    query_type: str | None = None,
    case_id: str | None = None,
    purpose: str | None = None,
    filters: Mapping[str, Any] | None = None,
    image_sha256: str | None = None,
    hit_count: int | None = None,
    target: str | None = None,
    at: datetime | None = None,
) -> int:
    """Append one audit row and return its id (the table refuses UPDATE and DELETE)."""
    if not principal or not action:
        raise ValueError("audit rows need a principal and an action")
    row = AuditRow(
        at=utc_now() if at is None else ensure_utc(at, "audit time"),
        principal=principal,
        role=role,
        action=action,
        query_type=query_type,
        case_id=case_id,
        purpose=purpose,
        filters=dict(filters or {}),
        image_sha256=image_sha256,
        hit_count=hit_count,
        target=target,
    )
    session.add(row)
    session.flush()
    return row.id


def audit_entries(
    session: Session,
    since: datetime | None = None,
    principal: str | None = None,
    limit: int = 1000,
) -> list[AuditEntry]:
    """The newest `limit` audit rows (from `since` on, for one principal if given), oldest
    first: what `skynet audit tail` shows."""
    if limit < 1:
        raise ValueError(f"audit limit {limit} must be at least 1")
    statement = select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)
    if since is not None:
        statement = statement.where(AuditRow.at >= ensure_utc(since, "audit since"))
    if principal is not None:
        statement = statement.where(AuditRow.principal == principal)
    newest_first = session.scalars(statement).all()
    return [
        AuditEntry(
            r.id,
            r.at,
            r.principal,
            r.role,
            r.action,
            r.query_type,
            r.case_id,
            r.purpose,
            dict(r.filters or {}),
            r.image_sha256,
            r.hit_count,
            r.target,
        )
        for r in reversed(newest_first)
    ]
