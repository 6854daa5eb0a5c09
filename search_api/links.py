"""Signed links to thumbnails and to the recording at a moment."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from index.catalog import segments_between
from search_api.context import ApiContext

LEAD_IN_S = 2.0


def object_url(context: ApiContext, key: str | None) -> str | None:
    return None if key is None else context.store.presigned_url(key, context.url_expiry_s)


def clip_url(
    context: ApiContext,
    session: Session,
    camera_id: str,
    start_at: datetime,
    end_at: datetime | None = None,
) -> str | None:
    """URL of the recording from `start_at`, with a media fragment that seeks to the moment.

    The segment holding `start_at` is used; when recording began later than the sighting
    (the first keyframe arrives after the analysis stream's first frame), the first segment
    that overlaps the sighting `[start_at, end_at]` is used from its beginning.
    """
    window_end = max(end_at or start_at, start_at) + timedelta(seconds=0.001)
    segments = segments_between(session, camera_id, start_at, window_end)
    if not segments:
        return None
    segment = segments[0]
    offset_s = max(0.0, (start_at - segment.start_at).total_seconds() - LEAD_IN_S)
    return f"{object_url(context, segment.object_key)}#t={offset_s:.1f}"
