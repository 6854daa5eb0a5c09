"""Clip links: resolve a signed camera + time span to its recording, audit, redirect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, status
from fastapi.responses import RedirectResponse

from index.catalog import append_audit, segments_between
from search_api.deps import ContextDep, ExpiresParam, HolderParam, SessionDep, SigParam
from search_api.errors import NotFound
from search_api.links import link_holder, store_url
from search_api.openapi import LINK_RESPONSES

router = APIRouter(prefix="/clips", tags=["clips"], responses=LINK_RESPONSES)


@router.get("/{camera_id}/{start_ms}-{end_ms}", summary="Recording of a sighting (signed link)")
def read_clip(
    camera_id: str,
    start_ms: int,
    end_ms: int,
    session: SessionDep,
    context: ContextDep,
    holder: HolderParam,
    expires: ExpiresParam,
    sig: SigParam,
) -> RedirectResponse:
    """Redirects to the segment holding the start (seeking to it with `#t=`) while the key the
    link was handed to is active; every fetch is audited under that key's name."""
    span = f"{camera_id}/{start_ms}-{end_ms}"
    key = link_holder(context, session, "clip", span, holder, expires, sig)
    start_at = datetime.fromtimestamp(start_ms / 1000, UTC)
    end_at = max(datetime.fromtimestamp(end_ms / 1000, UTC), start_at) + timedelta(milliseconds=1)
    segments = segments_between(session, camera_id, start_at, end_at)
    if not segments:
        raise NotFound("no recording covers this sighting")
    segment = segments[0]  # recording may begin after the sighting did: then from its start
    offset_s = max(0.0, (start_at - segment.start_at).total_seconds() - 2.0)
    append_audit(
        session, principal=key.name, role=key.role, action="clip_access",
        target=f"clip:{span}", filters={"segment": segment.object_key},
    )  # fmt: skip
    session.commit()
    return RedirectResponse(
        f"{store_url(context, segment.object_key)}#t={offset_s:.1f}",
        status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    )
