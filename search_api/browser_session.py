"""The browser's session (issue #18): the session token in an HttpOnly, SameSite=Strict cookie,
and a CSRF token (double-submit: a readable cookie the page echoes in a header).

The request guard (search_api/limits.py) accepts the cookie as a credential for /api/v1 only
when the request also carries `X-CSRF-Token` equal to the CSRF cookie: another site can make
the browser send the cookie (SameSite already stops that in current browsers) but can neither
read the CSRF cookie nor set a custom header without a CORS grant, which the API never gives.
"""

from __future__ import annotations

import hmac
from http.cookies import CookieError, SimpleCookie

SESSION_COOKIE = "skynet_session"
CSRF_COOKIE = "skynet_csrf"
CSRF_HEADER = "x-csrf-token"


def parse_cookies(header: str) -> dict[str, str]:
    """Cookie name → value of a `Cookie:` header ({} when it cannot be read)."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def csrf_matches(cookies: dict[str, str], header_value: str | None) -> bool:
    """The CSRF header equals the CSRF cookie (both present and non-empty)."""
    expected = cookies.get(CSRF_COOKIE, "")
    return bool(expected and header_value) and hmac.compare_digest(expected, header_value or "")


def cookie_credential(headers: dict[bytes, bytes]) -> str | None:
    """The session token of a browser request that proves it comes from our own page (the CSRF
    header matches), else None."""
    cookies = parse_cookies(headers.get(b"cookie", b"").decode("latin-1"))
    token = cookies.get(SESSION_COOKIE)
    if not token:
        return None
    presented = headers.get(CSRF_HEADER.encode(), b"").decode("latin-1").strip()
    return token if csrf_matches(cookies, presented) else None
