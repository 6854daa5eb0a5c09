"""Who is looking at a page: the browser's session cookie checked like any credential, the
pages' access dependency, and setting and clearing the cookies at sign-in and sign-out."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import jwt
from fastapi import Depends, Request, Response, params

from index.catalog import Principal
from search_api.access import CAPABILITIES, capabilities_of
from search_api.browser_session import CSRF_COOKIE, SESSION_COOKIE, parse_cookies
from search_api.deps import api_context, caller_principal
from search_api.tokens import IssuedToken, Unauthenticated


@dataclass(frozen=True)
class PageUser:
    """The signed-in user of a page, what their role may do, and when their token expires."""

    principal: Principal
    capabilities: frozenset[str]
    expires_at: datetime | None

    def can(self, *capabilities: str) -> bool:
        return bool(self.capabilities & set(capabilities))


class SignInRequired(Exception):
    """No valid session: the page answers with the sign-in page, coming back to `next_path`."""

    def __init__(self, next_path: str, reason: str) -> None:
        super().__init__(reason)
        self.next_path = next_path
        self.reason = reason


class PageForbidden(Exception):
    """The user's role lacks what the page needs: a page saying so (403)."""

    def __init__(self, user: PageUser, needed: frozenset[str]) -> None:
        super().__init__(f"needs {sorted(needed)}")
        self.user = user
        self.needed = needed


def token_expiry(token: str) -> datetime | None:
    """The `exp` of a token authenticate() has already verified (None without one)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None


def page_user(request: Request) -> PageUser:
    """The user behind the session cookie; SignInRequired when it is missing, expired, revoked
    or the account disabled."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    token = parse_cookies(request.headers.get("cookie", "")).get(SESSION_COOKIE, "")
    if not token:
        raise SignInRequired(here, "")
    try:
        principal = caller_principal(api_context(request), token)
    except Unauthenticated as error:
        raise SignInRequired(here, error.detail) from error
    return PageUser(principal, capabilities_of(principal.role), token_expiry(token))


@dataclass(frozen=True)
class PageAccess:
    """A page's access rule: signed in, and (if any are named) one of `capabilities`. Pages
    only render a frame: everything they show comes from /api/v1, which checks again."""

    capabilities: frozenset[str]

    def __call__(self, user: Annotated[PageUser, Depends(page_user)]) -> PageUser:
        if self.capabilities and not user.can(*self.capabilities):
            raise PageForbidden(user, self.capabilities)
        return user


def page_requires(*capabilities: str) -> params.Depends:
    """`user: PageUser = page_requires(OBJECT_SEARCH)`: signed in with one of `capabilities`
    (none named: any signed-in user)."""
    unknown = sorted(set(capabilities) - CAPABILITIES)
    if unknown:
        raise ValueError(f"unknown capabilities {unknown}")
    return Depends(PageAccess(frozenset(capabilities)))


def set_session_cookies(response: Response, issued: IssuedToken, secure: bool) -> str:
    """The session token (HttpOnly) and a fresh CSRF token (readable by our scripts) as
    SameSite=Strict cookies for the whole site; returns the CSRF token."""
    csrf = secrets.token_urlsafe(24)
    common = {"path": "/", "secure": secure, "samesite": "strict"}
    response.set_cookie(SESSION_COOKIE, issued.token, httponly=True, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, **common)  # type: ignore[arg-type]
    return csrf


def clear_session_cookies(response: Response) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict")
