"""Catalog repository for API keys: issued once in plaintext, stored as SHA-256 only.

A key's id is its identity (jobs and signed links name it); its name is a label that at most one
active key carries at a time, so revoking by name hits exactly one key.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from index.catalog.cameras import get_camera
from index.catalog.grants import granted_cameras
from index.catalog.rows import ApiKeyRow, ensure_utc, utc_now
from index.catalog.values import ApiKeyInfo, Principal, check_camera_id

API_KEY_PREFIX = "skn_"
KEY_ROLES = ("admin", "investigator", "operator", "viewer", "city_manager", "auditor")


class DuplicateKeyNameError(ValueError):
    """An active key already carries this name."""


def _key_sha256(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _active(now: datetime) -> ColumnElement[bool]:
    """Rows neither revoked nor expired at `now` (an SQL condition)."""
    return ApiKeyRow.revoked_at.is_(None) & or_(
        ApiKeyRow.expires_at.is_(None), ApiKeyRow.expires_at > now
    )


def _info(row: ApiKeyRow) -> ApiKeyInfo:
    cameras = None if row.camera_ids is None else frozenset(row.camera_ids)
    return ApiKeyInfo(
        row.id, row.name, row.role, cameras, row.created_at, row.revoked_at, row.expires_at
    )


def create_api_key(
    session: Session,
    name: str,
    role: str,
    camera_ids: Collection[str] | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Issue a key and return its plaintext (shown once; only its SHA-256 is stored).

    ValueError names what is wrong: a blank name, a name an active key carries
    (DuplicateKeyNameError), a role outside KEY_ROLES, a camera not in the catalog, an expiry
    in the past.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name: API key name must not be empty")
    if role not in KEY_ROLES:
        raise ValueError(f"role: role {role!r} is invalid: use one of {', '.join(KEY_ROLES)}")
    cameras = None
    if camera_ids is not None:
        cameras = sorted({check_camera_id(c) for c in camera_ids})
        unknown = [c for c in cameras if get_camera(session, c) is None]
        if unknown:
            raise ValueError(f"camera_ids: no camera {unknown} in the catalog")
    now = utc_now()
    if expires_at is not None and ensure_utc(expires_at, "expires_at") <= now:
        raise ValueError(f"expires_at: {expires_at.isoformat()} is not in the future")
    if api_key_named(session, name) is not None:
        raise DuplicateKeyNameError(
            f"name: an active API key is already named {name!r} (revoke it or pick another name)"
        )
    plaintext = API_KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiKeyRow(
            name=name, key_sha256=_key_sha256(plaintext), role=role, camera_ids=cameras,
            expires_at=expires_at,
        )
    )  # fmt: skip
    session.flush()
    return plaintext


def principal_for_key(session: Session, plaintext: str) -> Principal | None:
    """The principal of an active key, or None for unknown, revoked or expired keys."""
    if not isinstance(plaintext, str) or not plaintext:
        return None
    row = session.scalar(
        select(ApiKeyRow).where(ApiKeyRow.key_sha256 == _key_sha256(plaintext), _active(utc_now()))
    )
    if row is None:
        return None
    cameras = None
    if row.camera_ids is not None:  # its own cameras, and those its grants add (issue #17)
        granted = granted_cameras(session, key_id=row.id)
        cameras = None if granted is None else frozenset(row.camera_ids) | granted
    return Principal(name=row.name, role=row.role, camera_ids=cameras, key_id=row.id)


def active_api_key(session: Session, key_id: int) -> ApiKeyInfo | None:
    """The key with this id if it is neither revoked nor expired (links check this when opened)."""
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.id == key_id, _active(utc_now())))
    return None if row is None else _info(row)


def api_key_named(session: Session, name: str) -> ApiKeyInfo | None:
    """The one active key called `name`, if any."""
    row = session.scalar(
        select(ApiKeyRow)
        .where(ApiKeyRow.name == name, _active(utc_now()))
        .order_by(ApiKeyRow.id.desc())
        .limit(1)
    )
    return None if row is None else _info(row)


def revoke_api_key_id(session: Session, key_id: int) -> bool:
    """Revoke the key with this id; False when there is none or it was already revoked."""
    row = session.get(ApiKeyRow, key_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utc_now()
    session.flush()
    return True


def revoke_api_key(session: Session, name: str) -> int:
    """Revoke the active key called `name` (names are unique among active keys); 0 or 1."""
    info = api_key_named(session, name)
    return 0 if info is None else int(revoke_api_key_id(session, info.id))


def list_api_keys(session: Session) -> list[ApiKeyInfo]:
    return [_info(r) for r in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]
