"""Who is calling (issue #17): API keys, the server's own short-lived session tokens, and an
external OIDC issuer's tokens, turned into one `Principal` or refused with a reason.

Session tokens are JWTs signed HS256 with a server key of their own (Settings.session_key, not
the URL-signing key), carrying `sub` (user id), `jti`, `iat` and `exp` (15 minutes by default).
Each `jti` is a catalog row, so logout, rotation, a password change or disabling the user
revoke it at once; the user's role and cameras are read from the catalog on every request, so a
changed grant applies at once too. OIDC tokens are accepted only from the configured issuer,
for the configured audience, signed RS256 or ES256 by one of its public keys (a PEM or JWKS
file); their role and camera groups come from configurable claims.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import status

from index.catalog import Principal, Session, principal_for_key
from index.catalog.accounts import (
    LockoutPolicy,
    UserInfo,
    active_user_session,
    open_user_session,
)
from index.catalog.camera_groups import cameras_in_group
from index.catalog.grants import granted_cameras
from search_api.access import ROLES
from search_api.errors import DomainError
from search_api.login_throttle import LoginThrottle

SESSION_ALGORITHM = "HS256"
OIDC_ALGORITHMS = ("RS256", "ES256")
ALL_CAMERAS_GROUP = "*"  # in an OIDC groups claim: every camera


class Unauthenticated(DomainError):
    """The credential is missing, malformed, forged, expired, revoked or from an untrusted
    issuer; the message says which."""

    status_code = status.HTTP_401_UNAUTHORIZED


@dataclass(frozen=True)
class OidcIssuer:
    """An external identity provider whose tokens the API accepts (Settings.oidc_*)."""

    issuer: str
    audience: str
    keys: tuple[jwt.PyJWK, ...] = field(repr=False)
    role_claim: str = "skynet_role"
    groups_claim: str = "skynet_camera_groups"
    name_claim: str = "preferred_username"

    @staticmethod
    def read_keys(path: Path) -> tuple[jwt.PyJWK, ...]:
        """The issuer's public keys from a JWKS document or from PEM public keys (one or more,
        concatenated); ValueError naming the file when it holds none."""
        text = path.read_text()
        keys: list[jwt.PyJWK] = []
        if text.lstrip().startswith("{"):
            keys = [k for k in jwt.PyJWKSet.from_dict(json.loads(text)).keys]
        else:
            for block in text.split("-----END PUBLIC KEY-----")[:-1]:
                pem = (block.strip() + "\n-----END PUBLIC KEY-----\n").encode()
                keys.append(_pem_key(pem))
        if not keys:
            raise ValueError(f"oidc_keys_path: no public key in {path}")
        return tuple(keys)


def _pem_key(pem: bytes) -> jwt.PyJWK:
    """A PEM public key (RSA, or EC P-256) as a JWK for PyJWT; ValueError for other kinds."""
    public = load_pem_public_key(pem)
    if isinstance(public, rsa.RSAPublicKey):
        algorithm = "RS256"
    elif isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1":
        algorithm = "ES256"
    else:
        raise ValueError(f"oidc_keys_path: a {type(public).__name__} is not an RS256/ES256 key")
    jwk = json.loads(jwt.get_algorithm_by_name(algorithm).to_jwk(public))
    return jwt.PyJWK(jwk, algorithm)


@dataclass(frozen=True)
class AccountPolicy:
    """How users sign in (Settings.session_*, login_*, oidc_*)."""

    session_key: bytes = field(repr=False)
    issuer: str = "skynet"
    token_ttl: timedelta = timedelta(minutes=15)
    session_max: timedelta = timedelta(hours=12)
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    oidc: OidcIssuer | None = None
    # login attempts per client and per name (Settings.login_rate_*): this process's windows
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @classmethod
    def ephemeral(cls) -> AccountPolicy:
        """A policy with a random session key (tests and throw-away apps: tokens die with it)."""
        return cls(secrets.token_bytes(32))


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)
    jti: str
    expires_at: datetime


def issue_session_token(
    session: Session,
    policy: AccountPolicy,
    user: UserInfo,
    now: datetime | None = None,
    started_at: datetime | None = None,
) -> IssuedToken:
    """Sign a session token for `user` and record its jti (`started_at`: when the session
    began, carried on by rotation; the token never outlives `session_max` from it)."""
    now = now or datetime.now(UTC)
    started_at = started_at or now
    expires_at = min(now + policy.token_ttl, started_at + policy.session_max)
    jti = secrets.token_urlsafe(24)
    claims = {
        "iss": policy.issuer, "sub": str(user.id), "name": user.name, "jti": jti,
        "iat": int(now.timestamp()), "exp": int(expires_at.timestamp()),
    }  # fmt: skip
    token = jwt.encode(claims, policy.session_key, algorithm=SESSION_ALGORITHM)
    open_user_session(session, user.id, jti, started_at, now, expires_at)
    return IssuedToken(token, jti, expires_at)


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2 and not credential.startswith("skn_")


def authenticate(session: Session, policy: AccountPolicy, credential: str) -> Principal:
    """The principal behind an API key, a session token or an OIDC token; Unauthenticated
    saying what is wrong with it otherwise."""
    if not credential:
        raise Unauthenticated("missing credentials: send X-API-Key or Authorization: Bearer")
    if not looks_like_jwt(credential):
        principal = principal_for_key(session, credential)
        if principal is None:
            raise Unauthenticated("unknown, revoked or expired API key")
        return principal
    try:
        issuer = jwt.decode(credential, options={"verify_signature": False}).get("iss")
    except jwt.InvalidTokenError as error:
        raise Unauthenticated(f"malformed token: {error}") from error
    if issuer == policy.issuer:
        return _session_principal(session, policy, credential)
    if policy.oidc is not None and issuer == policy.oidc.issuer:
        return _oidc_principal(session, policy.oidc, credential)
    raise Unauthenticated(f"token issuer {issuer!r} is not trusted")


def verify_session_token(policy: AccountPolicy, token: str) -> dict[str, Any]:
    """The claims of a session token this server signed; Unauthenticated when forged,
    expired or incomplete."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            policy.session_key,
            algorithms=[SESSION_ALGORITHM],
            issuer=policy.issuer,
            options={"require": ["iss", "sub", "jti", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthenticated("session token expired: log in again") from error
    except jwt.InvalidSignatureError as error:
        raise Unauthenticated("session token signature is invalid") from error
    except jwt.InvalidTokenError as error:
        raise Unauthenticated(f"invalid session token: {error}") from error
    return claims


def _session_principal(session: Session, policy: AccountPolicy, token: str) -> Principal:
    claims = verify_session_token(policy, token)
    found = active_user_session(session, str(claims["jti"]), datetime.now(UTC))
    if found is None or str(found.user.id) != str(claims["sub"]):
        raise Unauthenticated("session token revoked: logged out, rotated, or the user changed")
    user = found.user
    return Principal(
        name=user.name, role=user.role, camera_ids=granted_cameras(session, user_id=user.id),
        kind="user", user_id=user.id, session_id=found.jti,
    )  # fmt: skip


def _oidc_keys(oidc: OidcIssuer, token: str) -> Sequence[jwt.PyJWK]:
    """The issuer keys that may have signed `token`: the one its `kid` names, else all."""
    kid = jwt.get_unverified_header(token).get("kid")
    named = [k for k in oidc.keys if kid is not None and k.key_id == kid]
    return named or oidc.keys


def _oidc_principal(session: Session, oidc: OidcIssuer, token: str) -> Principal:
    claims: dict[str, Any] | None = None
    failure: Exception | None = None
    for key in _oidc_keys(oidc, token):
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(OIDC_ALGORITHMS),
                issuer=oidc.issuer,
                audience=oidc.audience,
                options={"require": ["iss", "sub", "aud", "exp"]},
            )
            break
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("OIDC token expired") from error
        except jwt.InvalidAudienceError as error:
            raise Unauthenticated(f"OIDC token is not for audience {oidc.audience!r}") from error
        except jwt.InvalidTokenError as error:
            failure = error
    if claims is None:
        raise Unauthenticated(f"OIDC token refused: {failure}")
    role = claims.get(oidc.role_claim)
    if role not in ROLES:
        raise Unauthenticated(
            f"OIDC token's {oidc.role_claim!r} claim {role!r} is not a role here"
            f" ({', '.join(ROLES)})"
        )
    groups = claims.get(oidc.groups_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    cameras: frozenset[str] | None = frozenset()
    if ALL_CAMERAS_GROUP in groups:
        cameras = None
    else:
        cameras = frozenset(
            c for g in groups if isinstance(g, str) for c in cameras_in_group(session, g)
        )
    subject = str(claims["sub"])
    name = str(claims.get(oidc.name_claim) or subject)
    return Principal(
        name=f"oidc:{name}", role=str(role), camera_ids=cameras, kind="oidc", subject=subject
    )
