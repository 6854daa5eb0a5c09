"""Catalog repository for cases: the investigations that person searches and watchlists are
tied to; closing a case ends its watchlists in the same transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog.rows import CaseRow, ensure_utc, utc_now
from index.catalog.values import CaseRecord
from index.catalog.watchlists import end_case_watchlists


def _case_record(row: CaseRow) -> CaseRecord:
    return CaseRecord(row.id, row.title, row.created_by, row.created_at, row.closed_at)


def create_case(session: Session, title: str, created_by: str) -> str:
    if not title.strip():
        raise ValueError("case title must not be empty")
    row = CaseRow(id=uuid.uuid4().hex, title=title, created_by=created_by)
    session.add(row)
    session.flush()
    return row.id


def get_case(session: Session, case_id: str) -> CaseRecord | None:
    row = session.get(CaseRow, case_id)
    return None if row is None else _case_record(row)


def list_cases(session: Session, open_only: bool = False) -> list[CaseRecord]:
    """Cases, newest first (only those not closed with `open_only`)."""
    statement = select(CaseRow).order_by(CaseRow.created_at.desc(), CaseRow.id)
    if open_only:
        statement = statement.where(CaseRow.closed_at.is_(None))
    return [_case_record(row) for row in session.scalars(statement)]


def close_case(session: Session, case_id: str, closed_at: datetime | None = None) -> CaseRecord:
    row = session.get(CaseRow, case_id)
    if row is None:
        raise LookupError(f"case {case_id!r} does not exist")
    row.closed_at = utc_now() if closed_at is None else ensure_utc(closed_at, "closed_at")
    end_case_watchlists(session, case_id, row.closed_at)  # a closed case watches nothing
    session.flush()
    return _case_record(row)
