"""Signed links to thumbnails and to the recording at a moment."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from index.catalog import segments_between
from search_api.context import ApiContext


def object_url(context: ApiContext, key: str | None) -> str | None:
    return None if key is None else context.store.presigned_url(key, context.url_expiry_s)


def clip_url(context: ApiContext, session: Session, camera_id: str, at: datetime) -> str | None:
    """URL of the segment that holds `at`, with a media fragment that seeks to the moment.

    A moment a little before the first segment starts (recording and analysis connect a few
    hundred ms apart) still maps to the start of that segment.
    """
    segments = segments_between(session, camera_id, at - timedelta(seconds=2), at)
    if not segments:
        return None
    segment = segments[-1]
    offset_s = max(0.0, (at - segment.start_at).total_seconds())
    return f"{object_url(context, segment.object_key)}#t={offset_s:.1f}"
