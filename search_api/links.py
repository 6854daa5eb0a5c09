"""Signed links handed to an API key: pictures (thumbnails, context frames) and clips.

A link names the key it was handed to (`holder`, the key's id) and is signed with it. Opening
it needs no API key, but the API resolves it only while that key is active (a revoked or
expired key's links stop working at once), audits the fetch under the key's name, and then
redirects to an object-store link that lives `STORE_LINK_EXPIRY_S` only. No segment lookup
happens while a search builds its hits.
"""

from __future__ import annotations

import time
from datetime import datetime
from urllib.parse import quote, urlencode

from index.catalog import ApiKeyInfo, Principal, Session, active_api_key
from search_api.context import ApiContext
from search_api.errors import Forbidden
from storage.signing import sign, signature_valid

PICTURE_PATH = "/api/v1/pictures"
CLIP_PATH = "/api/v1/clips"
STORE_LINK_EXPIRY_S = 60  # the redirect target: long enough to start a download or a video


def _holder(principal: Principal) -> int:
    if principal.key_id is None:
        raise ValueError(f"links are handed to API keys; {principal.name!r} has no key id")
    return principal.key_id


def _signed(context: ApiContext, path: str, kind: str, target: str, holder: int) -> str:
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
    holder: int,
    expires: int,
    sig: str,
) -> ApiKeyInfo:
    """The active key a valid, unexpired link was handed to; Forbidden otherwise."""
    if not signature_valid(context.signing_key, sig, kind, target, holder, expires=expires):
        raise Forbidden("link is invalid or has expired")
    key = active_api_key(session, holder)
    if key is None:
        raise Forbidden("the key this link was handed to is revoked or expired")
    return key


def store_url(context: ApiContext, key: str) -> str:
    """A short-lived object-store link: the target of a resolved picture or clip link."""
    return context.store.presigned_url(key, STORE_LINK_EXPIRY_S)
