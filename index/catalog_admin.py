"""Catalog repository for cases, the audit log, API keys and background jobs."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog_models import (
    ApiKeyRow,
    AuditRow,
    CaseRow,
    JobRow,
    ensure_utc,
    utc_now,
)
from index.catalog_values import (
    JOB_STATES,
    ApiKeyInfo,
    AuditEntry,
    CaseRecord,
    JobRecord,
    Principal,
    check_camera_id,
    check_role,
)

API_KEY_PREFIX = "skn_"


# ---- cases and audit -------------------------------------------------------------------------


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


def close_case(session: Session, case_id: str, closed_at: datetime | None = None) -> CaseRecord:
    row = session.get(CaseRow, case_id)
    if row is None:
        raise LookupError(f"case {case_id!r} does not exist")
    row.closed_at = utc_now() if closed_at is None else ensure_utc(closed_at, "closed_at")
    session.flush()
    return _case_record(row)


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
    """Audit rows, oldest first, optionally from `since` on and for one principal."""
    statement = select(AuditRow).order_by(AuditRow.at, AuditRow.id).limit(limit)
    if since is not None:
        statement = statement.where(AuditRow.at >= ensure_utc(since, "audit since"))
    if principal is not None:
        statement = statement.where(AuditRow.principal == principal)
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
        for r in session.scalars(statement)
    ]


# ---- API keys --------------------------------------------------------------------------------


def _key_sha256(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_api_key(
    session: Session, name: str, role: str, camera_ids: Collection[str] | None = None
) -> str:
    """Issue a key and return its plaintext (shown once; only its SHA-256 is stored)."""
    if not name.strip():
        raise ValueError("API key name must not be empty")
    check_role(role)
    cameras = None if camera_ids is None else sorted({check_camera_id(c) for c in camera_ids})
    plaintext = API_KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiKeyRow(name=name, key_sha256=_key_sha256(plaintext), role=role, camera_ids=cameras)
    )
    session.flush()
    return plaintext


def principal_for_key(session: Session, plaintext: str) -> Principal | None:
    """The principal of an active key, or None for unknown or revoked keys."""
    if not isinstance(plaintext, str) or not plaintext:
        return None
    row = session.scalar(
        select(ApiKeyRow).where(
            ApiKeyRow.key_sha256 == _key_sha256(plaintext), ApiKeyRow.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    cameras = None if row.camera_ids is None else frozenset(row.camera_ids)
    return Principal(name=row.name, role=row.role, camera_ids=cameras)


def revoke_api_key(session: Session, name: str) -> int:
    """Revoke every active key called `name`; return how many were revoked."""
    rows = session.scalars(
        select(ApiKeyRow).where(ApiKeyRow.name == name, ApiKeyRow.revoked_at.is_(None))
    ).all()
    now = utc_now()
    for row in rows:
        row.revoked_at = now
    session.flush()
    return len(rows)


def list_api_keys(session: Session) -> list[ApiKeyInfo]:
    rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))
    return [
        ApiKeyInfo(
            r.id,
            r.name,
            r.role,
            None if r.camera_ids is None else frozenset(r.camera_ids),
            r.created_at,
            r.revoked_at,
        )
        for r in rows
    ]


# ---- jobs ------------------------------------------------------------------------------------


def _job_record(row: JobRow) -> JobRecord:
    return JobRecord(
        row.id,
        row.kind,
        row.state,
        row.progress,
        dict(row.params or {}),
        None if row.result is None else dict(row.result),
        row.error,
        row.created_at,
        row.updated_at,
    )


def create_job(
    session: Session,
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    owner: str | None = None,
    runner_id: str | None = None,
) -> str:
    """Queue a job record (started by `owner`, held by `runner_id` if given); return its id."""
    if not kind:
        raise ValueError("job kind must not be empty")
    row = JobRow(
        id=uuid.uuid4().hex, kind=kind, state="queued", progress=0.0, params=dict(params or {}),
        owner=owner, runner_id=runner_id, heartbeat_at=utc_now() if runner_id else None,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def update_job(
    session: Session,
    job_id: str,
    *,
    state: str | None = None,
    progress: float | None = None,
    result: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> JobRecord:
    """Change a job's state, progress (0..1), result or error; unspecified fields stay."""
    row = session.get(JobRow, job_id)
    if row is None:
        raise LookupError(f"job {job_id!r} does not exist")
    if state is not None:
        if state not in JOB_STATES:
            raise ValueError(f"job state {state!r} is not one of {JOB_STATES}")
        row.state = state
    if progress is not None:
        if not 0.0 <= progress <= 1.0:
            raise ValueError(f"job progress {progress} not in [0, 1]")
        row.progress = float(progress)
    if result is not None:
        row.result = dict(result)
    if error is not None:
        row.error = error
    row.updated_at = utc_now()
    session.flush()
    return _job_record(row)


def get_job(session: Session, job_id: str) -> JobRecord | None:
    row = session.get(JobRow, job_id)
    return None if row is None else _job_record(row)


def jobs_in_state(session: Session, state: str) -> list[JobRecord]:
    """Jobs in `state`, oldest first (e.g. 'queued' for a worker to pick up)."""
    rows = session.scalars(
        select(JobRow).where(JobRow.state == state).order_by(JobRow.created_at, JobRow.id)
    )
    return [_job_record(row) for row in rows]
