"""Catalog repository for API keys: issued once in plaintext, stored as SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog.rows import ApiKeyRow, utc_now
from index.catalog.values import ApiKeyInfo, Principal, check_camera_id, check_role

API_KEY_PREFIX = "skn_"


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
