"""Signed links: thumbnails (object store) and clips (resolved and audited when fetched).

A clip link names a camera and a time span and is signed for the principal it was handed to;
no segment lookup happens while a search builds its hits.
"""

from __future__ import annotations

import time
from datetime import datetime
from urllib.parse import urlencode

from search_api.context import ApiContext
from storage.signing import sign, signature_valid

CLIP_PATH = "/api/v1/clips"


def object_url(context: ApiContext, key: str | None) -> str | None:
    return None if key is None else context.store.presigned_url(key, context.url_expiry_s)


def clip_span(camera_id: str, start_at: datetime, end_at: datetime) -> str:
    return f"{camera_id}/{int(start_at.timestamp() * 1000)}-{int(end_at.timestamp() * 1000)}"


def clip_url(
    context: ApiContext, viewer: str, camera_id: str, start_at: datetime, end_at: datetime
) -> str:
    """Expiring link for `viewer` to the recording of [start_at, end_at] on `camera_id`."""
    span = clip_span(camera_id, start_at, end_at)
    expires = int(time.time()) + context.url_expiry_s
    query = urlencode(
        {
            "viewer": viewer,
            "expires": expires,
            "sig": sign(context.signing_key, "clip", span, viewer, expires),
        }
    )
    return f"{context.public_base_url}{CLIP_PATH}/{span}?{query}"


def clip_link_valid(context: ApiContext, span: str, viewer: str, expires: int, sig: str) -> bool:
    return signature_valid(context.signing_key, sig, "clip", span, viewer, expires=expires)
