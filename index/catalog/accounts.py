"""Catalog repository for user accounts (issue #17): users with an argon2 password hash (the
caller hashes; index/passwords.py), the failed-login count behind the lock-out, and the session
tokens issued to them, by JWT id, so that logout, rotation and disabling revoke them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from index.catalog.account_rows import UserRow, UserSessionRow
from index.catalog.keys import KEY_ROLES
from index.catalog.rows import ensure_utc, utc_now

USER_ROLES = KEY_ROLES  # users and API keys take the same roles (search_api/access.py)
USER_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,200}")


class DuplicateUserError(ValueError):
    """A user with this name exists already."""


class UnknownUserError(LookupError):
    """No user has this name."""


@dataclass(frozen=True)
class UserInfo:
    """A user as callers see it (never the password hash)."""

    id: int
    name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    locked_until: datetime | None
    failed_logins: int

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class UserCredentials:
    """A user and the stored hash a login attempt is checked against."""

    user: UserInfo
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class LockoutPolicy:
    """`max_failures` wrong passwords within `window` lock the account for `lockout`."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class UserSession:
    """An issued session token (by its JWT id) and whose it is."""

    jti: str
    user: UserInfo
    started_at: datetime
    issued_at: datetime
    expires_at: datetime


def _user(row: UserRow) -> UserInfo:
    return UserInfo(
        row.id, row.name, row.role, row.created_at, row.disabled_at, row.locked_until,
        row.failed_logins,
    )  # fmt: skip


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not USER_NAME_PATTERN.fullmatch(name):
        raise ValueError(f"name: user name {name!r} is invalid: use 1-200 letters, digits, _.@-")
    return name


def check_role(role: str) -> str:
    if role not in USER_ROLES:
        raise ValueError(f"role: role {role!r} is invalid: use one of {', '.join(USER_ROLES)}")
    return role


def create_user(session: Session, name: str, role: str, password_hash: str) -> UserInfo:
    """Add a user; ValueError naming a bad name or role, DuplicateUserError for a taken name."""
    check_user_name(name)
    check_role(role)
    if session.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
        raise DuplicateUserError(f"name: a user named {name!r} exists already")
    row = UserRow(name=name, role=role, password_hash=password_hash, failed_logins=0)
    session.add(row)
    session.flush()
    return _user(row)


def _row_named(session: Session, name: str) -> UserRow:
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        raise UnknownUserError(f"no user named {name!r}")
    return row


def get_user(session: Session, name: str) -> UserInfo | None:
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    return None if row is None else _user(row)


def enabled_user(session: Session, user_id: int) -> UserInfo | None:
    """The user with this id unless unknown or disabled (signed links check this)."""
    row = session.get(UserRow, user_id)
    return None if row is None or row.disabled_at is not None else _user(row)


def user_credentials(session: Session, name: str) -> UserCredentials | None:
    """The user called `name` and its password hash, for a login attempt; None if unknown."""
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    return None if row is None else UserCredentials(_user(row), row.password_hash)


def list_users(session: Session) -> list[UserInfo]:
    return [_user(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))]


def set_user_role(session: Session, name: str, role: str) -> UserInfo:
    row = _row_named(session, name)
    row.role = check_role(role)
    session.flush()
    return _user(row)


def set_password_hash(session: Session, name: str, password_hash: str) -> UserInfo:
    """Replace the user's password hash, clear a lock-out, and end every session of theirs."""
    row = _row_named(session, name)
    row.password_hash = password_hash
    row.password_changed_at = utc_now()
    row.failed_logins, row.first_failed_at, row.locked_until = 0, None, None
    revoke_user_sessions(session, row.id, "password")
    session.flush()
    return _user(row)


def disable_user(session: Session, name: str) -> UserInfo:
    """Disable the account and end its sessions (an already disabled one stays as it was)."""
    row = _row_named(session, name)
    if row.disabled_at is None:
        row.disabled_at = utc_now()
        revoke_user_sessions(session, row.id, "disabled")
    session.flush()
    return _user(row)


def enable_user(session: Session, name: str) -> UserInfo:
    row = _row_named(session, name)
    row.disabled_at = None
    session.flush()
    return _user(row)


def record_login_failure(
    session: Session, user_id: int, now: datetime, policy: LockoutPolicy
) -> UserInfo:
    """Count a wrong password; the `max_failures`-th within the window locks the account."""
    row = session.get(UserRow, user_id)
    if row is None:
        raise UnknownUserError(f"no user {user_id}")
    now = ensure_utc(now, "now")
    if row.first_failed_at is None or now - row.first_failed_at > policy.window:
        row.failed_logins, row.first_failed_at = 0, now
    row.failed_logins += 1
    if row.failed_logins >= policy.max_failures:
        row.locked_until = now + policy.lockout
        row.failed_logins, row.first_failed_at = 0, None
    session.flush()
    return _user(row)


def record_login_success(session: Session, user_id: int) -> None:
    row = session.get(UserRow, user_id)
    if row is not None:
        row.failed_logins, row.first_failed_at, row.locked_until = 0, None, None
        session.flush()


def open_user_session(
    session: Session,
    user_id: int,
    jti: str,
    started_at: datetime,
    issued_at: datetime,
    expires_at: datetime,
) -> None:
    """Record an issued token (its JWT id) so it can be revoked."""
    session.add(
        UserSessionRow(
            jti=jti, user_id=user_id, started_at=started_at, issued_at=issued_at,
            expires_at=expires_at,
        )
    )  # fmt: skip
    session.flush()


def active_user_session(session: Session, jti: str, now: datetime) -> UserSession | None:
    """The session of token `jti` if it is neither revoked nor expired and its user is enabled."""
    found = session.execute(
        select(UserSessionRow, UserRow)
        .join(UserRow, UserRow.id == UserSessionRow.user_id)
        .where(
            UserSessionRow.jti == jti,
            UserSessionRow.revoked_at.is_(None),
            UserSessionRow.expires_at > ensure_utc(now, "now"),
            UserRow.disabled_at.is_(None),
        )
    ).first()
    if found is None:
        return None
    token, user = found
    return UserSession(token.jti, _user(user), token.started_at, token.issued_at, token.expires_at)


def revoke_user_session(session: Session, jti: str, reason: str) -> bool:
    """Revoke one token; False when unknown or already revoked."""
    row = session.get(UserSessionRow, jti)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at, row.revoked_reason = utc_now(), reason
    session.flush()
    return True


def revoke_user_sessions(session: Session, user_id: int, reason: str) -> None:
    """Revoke every live token of the user."""
    session.execute(
        update(UserSessionRow)
        .where(UserSessionRow.user_id == user_id, UserSessionRow.revoked_at.is_(None))
        .values(revoked_at=utc_now(), revoked_reason=reason)
    )
    session.flush()
