"""Expiring HMAC-SHA256 signatures for links that open without an API key.

One scheme for every signed link (the local store's object links, the API's clip links): the
signed message is the link's fields joined by newlines, the expiry (unix seconds) last.
"""

from __future__ import annotations

import hashlib
import hmac
import time


def sign(signing_key: bytes, *fields: str | int) -> str:
    """Hex HMAC-SHA256 of `fields` joined by newlines."""
    message = "\n".join(str(field) for field in fields).encode()
    return hmac.new(signing_key, message, hashlib.sha256).hexdigest()


def signature_valid(
    signing_key: bytes, sig: str, *fields: str | int, expires: int, now: float | None = None
) -> bool:
    """True if `sig` signs (*fields, expires) and `expires` (unix s) is not past.

    Constant-time; any string is a safe `sig` (non-ASCII is compared as bytes, never raises).
    """
    now_unix_s = time.time() if now is None else now
    if isinstance(expires, bool) or not isinstance(expires, int) or now_unix_s > expires:
        return False
    expected = sign(signing_key, *fields, expires).encode()
    return hmac.compare_digest(expected, sig.encode("utf-8", errors="replace"))
