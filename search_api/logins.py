"""Signing users in and out (issue #17): password check with lock-out, session tokens issued,
rotated and revoked, each step audited (failures too: they are committed before the refusal)."""

from __future__ import annotations

from datetime import UTC, datetime

from index.catalog import Principal, Session, append_audit
from index.catalog.accounts import (
    active_user_session,
    record_login_failure,
    record_login_success,
    revoke_user_session,
    user_credentials,
)
from index.passwords import dummy_hash, password_matches
from search_api.errors import Forbidden, InvalidInput, TooManyRequests
from search_api.tokens import AccountPolicy, IssuedToken, Unauthenticated, issue_session_token

WRONG_CREDENTIALS = "wrong user name or password"


def _audit(session: Session, name: str, role: str, action: str, reason: str | None = None) -> None:
    append_audit(
        session, principal=name, role=role, action=action, target=f"user:{name}",
        filters={} if reason is None else {"reason": reason},
    )  # fmt: skip
    session.commit()


def _throttle(session: Session, policy: AccountPolicy, name: str, client: str) -> None:
    """TooManyRequests (429, Retry-After) when `client` or `name` is over its login rate;
    before anything is read or hashed. The first refusal of a spell is audited."""
    refusal = policy.throttle.admit(client, name)
    if refusal is None:
        return
    if refusal.first:
        _audit(session, name, "none", "login_throttled", f"{refusal.limit} rate, {client}")
    window_s = policy.throttle.policy.window_s
    raise TooManyRequests(
        f"too many login attempts from this {refusal.limit} within {window_s:g} s: retry in"
        f" {refusal.retry_after_s} s",
        refusal.retry_after_s,
    )


def log_in(
    session: Session,
    policy: AccountPolicy,
    name: str,
    password: str,
    client: str,
    now: datetime | None = None,
) -> IssuedToken:
    """A session token for `name` if `password` is theirs. TooManyRequests (429) first when
    `client` (the caller's address) or `name` made too many attempts lately (login_throttle:
    no password is hashed then). Unauthenticated (401) for a wrong name or password, the same
    either way, also for a locked or disabled account, so a guess learns nothing about which
    names exist; Forbidden (403) naming the lock or the disabling only to whoever gave the
    right password. The `lockout.max_failures`-th wrong password within the window locks it."""
    _throttle(session, policy, name, client)
    now = now or datetime.now(UTC)
    found = user_credentials(session, name)
    if found is None:
        password_matches(dummy_hash(), password)  # as slow as a known name
        _audit(session, name, "none", "login_failed", "unknown user")
        raise Unauthenticated(WRONG_CREDENTIALS)
    user = found.user
    if user.disabled_at is not None or user.locked(now):
        state = "disabled" if user.disabled_at is not None else "locked"
        right = password_matches(found.password_hash, password)
        _audit(session, name, user.role, "login_failed", state if right else f"{state}, wrong")
        if not right:
            raise Unauthenticated(WRONG_CREDENTIALS)
        if user.disabled_at is not None:
            raise Forbidden(f"account {name!r} is disabled")
        raise Forbidden(
            f"account {name!r} is locked until {user.locked_until:%Y-%m-%dT%H:%M:%SZ} after"
            " repeated failed logins"
        )
    if not password_matches(found.password_hash, password):
        after = record_login_failure(session, user.id, now, policy.lockout)
        _audit(session, name, user.role, "login_failed", "locked" if after.locked(now) else None)
        raise Unauthenticated(WRONG_CREDENTIALS)
    record_login_success(session, user.id)
    issued = issue_session_token(session, policy, user, now)
    append_audit(
        session, principal=name, role=user.role, action="login", target=f"session:{issued.jti}"
    )
    session.commit()
    return issued


def _session_of(session: Session, principal: Principal) -> str:
    if principal.kind != "user" or principal.session_id is None:
        raise InvalidInput(f"only a user's session token can do this, not a {principal.kind}")
    return principal.session_id


def rotate(
    session: Session, policy: AccountPolicy, principal: Principal, now: datetime | None = None
) -> IssuedToken:
    """A fresh token for the caller's session, the presented one revoked; the session's start
    carries over, so rotation never stretches it past `session_max`."""
    jti = _session_of(session, principal)
    now = now or datetime.now(UTC)
    current = active_user_session(session, jti, now)
    if current is None:
        raise Unauthenticated("session token revoked")
    if current.started_at + policy.session_max <= now:
        raise Unauthenticated("session is over: log in again")
    revoke_user_session(session, jti, "rotated")
    issued = issue_session_token(session, policy, current.user, now, current.started_at)
    append_audit(
        session, principal=principal.name, role=principal.role, action="token_refresh",
        target=f"session:{issued.jti}", filters={"replaces": jti},
    )  # fmt: skip
    session.commit()
    return issued


def log_out(session: Session, principal: Principal) -> None:
    """Revoke the token the caller presented."""
    jti = _session_of(session, principal)
    revoke_user_session(session, jti, "logout")
    append_audit(
        session, principal=principal.name, role=principal.role, action="logout",
        target=f"session:{jti}",
    )  # fmt: skip
    session.commit()
