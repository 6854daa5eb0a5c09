"""Signed links handed to a caller: pictures (thumbnails, context frames) and clips.

A link names whom it was handed to (`holder`: an API key's id; `u<id>` for a user; for an OIDC
caller, `oidc:<role>:<name>`, issue #17) and is signed with it. Opening it needs no
credentials, but the API resolves it only while that key is active or that user enabled (a
revoked key's or disabled user's links stop working at once; an OIDC caller's live until they
expire), audits the fetch under the holder's name, and then redirects to an object-store link
that lives `STORE_LINK_EXPIRY_S` only. No segment lookup happens while a search builds its hits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from index.catalog import Principal, Session, active_api_key
from index.catalog.accounts import enabled_user
from search_api.context import ApiContext
from search_api.errors import Forbidden
from search_api.openapi import MAX_CATALOG_ID
from storage.signing import sign, signature_valid

PICTURE_PATH = "/api/v1/pictures"
CLIP_PATH = "/api/v1/clips"
STORE_LINK_EXPIRY_S = 60  # the redirect target: long enough to start a download or a video


OIDC_HOLDER = "oidc:"


@dataclass(frozen=True)
class LinkHolder:
    """Whom a link was handed to, as its fetches are audited."""

    name: str
    role: str


def _holder(principal: Principal) -> str:
    if principal.key_id is not None:
        return str(principal.key_id)
    if principal.user_id is not None:
        return f"u{principal.user_id}"
    return f"{OIDC_HOLDER}{principal.role}:{principal.name}"


def _signed(context: ApiContext, path: str, kind: str, target: str, holder: str) -> str:
    expires = int(time.time()) + context.url_expiry_s
    sig = sign(context.signing_key, kind, target, holder, expires)
    query = urlencode({"holder": holder, "expires": expires, "sig": sig})
    return f"{context.public_base_url}{path}/{quote(target)}?{query}"


def picture_url(context: ApiContext, holder: Principal, key: str | None) -> str | None:
    """Expiring link for `holder` to a stored picture (None for a track without one)."""
    if key is None:
        return None
    return _signed(context, PICTURE_PATH, "picture", key, _holder(holder))


def clip_span(camera_id: str, start_at: datetime, end_at: datetime) -> str:
    return f"{camera_id}/{int(start_at.timestamp() * 1000)}-{int(end_at.timestamp() * 1000)}"


def clip_url(
    context: ApiContext, holder: Principal, camera_id: str, start_at: datetime, end_at: datetime
) -> str:
    """Expiring link for `holder` to the recording of [start_at, end_at] on `camera_id`."""
    span = clip_span(camera_id, start_at, end_at)
    return _signed(context, CLIP_PATH, "clip", span, _holder(holder))


def link_holder(
    context: ApiContext,
    session: Session,
    kind: str,
    target: str,
    holder: str,
    expires: int,
    sig: str,
) -> LinkHolder:
    """Whom a valid, unexpired link was handed to, while that key is active or that user
    enabled; Forbidden otherwise."""
    if not signature_valid(context.signing_key, sig, kind, target, holder, expires=expires):
        raise Forbidden("link is invalid or has expired")
    if holder.isdigit() and int(holder) <= MAX_CATALOG_ID:
        key = active_api_key(session, int(holder))
        if key is None:
            raise Forbidden("the key this link was handed to is revoked or expired")
        return LinkHolder(key.name, key.role)
    if holder.startswith("u") and holder[1:].isdigit() and int(holder[1:]) <= MAX_CATALOG_ID:
        user = enabled_user(session, int(holder[1:]))
        if user is None:
            raise Forbidden("the user this link was handed to is disabled")
        return LinkHolder(user.name, user.role)
    if holder.startswith(OIDC_HOLDER):
        role, _, name = holder.removeprefix(OIDC_HOLDER).partition(":")
        return LinkHolder(name, role)
    raise Forbidden("link is invalid or has expired")


def store_url(context: ApiContext, key: str) -> str:
    """A short-lived object-store link: the target of a resolved picture or clip link."""
    return context.store.presigned_url(key, STORE_LINK_EXPIRY_S)
