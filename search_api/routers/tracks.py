"""Track endpoints: one record per tracked person or vehicle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from index.catalog import append_audit
from index.catalog.retention_plan import clips_unavailable
from index.track_indexer import context_key
from search_api.access import TRACKS_VIEW, authorize_track_view, visible_track
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.links import clip_url, picture_url
from search_api.openapi import AUTH_RESPONSES, CatalogId
from search_api.schemas import TrackOut
from search_api.search_service import audit_denials

router = APIRouter(prefix="/tracks", tags=["tracks"], responses=AUTH_RESPONSES)


@router.get(
    "/{track_id}",
    response_model=TrackOut,
    summary="One track with its links",
    dependencies=[requires(TRACKS_VIEW, scope="track")],
)
def read_track(
    track_id: CatalogId,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    case_id: Annotated[
        str | None, Query(max_length=64, description="open case: required for person tracks")
    ] = None,
    purpose: Annotated[
        str | None, Query(max_length=2000, description="why: required for person tracks")
    ] = None,
) -> TrackOut:
    """A person's track (record, thumbnail, clip) needs `case_id` (an open case of the
    caller's) and `purpose`, like a person search; every view and refusal is audited."""
    row = visible_track(session, principal, track_id)
    target = f"track:{track_id}"
    with audit_denials(
        session, principal, "view_track_denied", None, case_id, purpose, target
    ):  # fmt: skip
        authorize_track_view(session, principal, row, case_id, purpose)
    append_audit(
        session,
        principal=principal.name,
        role=principal.role,
        action="view_track",
        case_id=case_id or None,
        purpose=purpose,
        target=target,
    )
    session.commit()
    clip_gone = bool(clips_unavailable(session, [row.id]))  # deleted, or never recorded
    return TrackOut(
        id=row.id,
        camera_id=row.camera_id,
        class_name=row.class_name,
        confidence=row.confidence,
        start_at=row.start_at,
        end_at=row.end_at,
        best_shot_at=row.best_shot_at,
        best_box=row.best_bbox_xyxy_px,
        attributes=dict(row.attributes),
        trajectory=[list(point) for point in row.trajectory],
        frame_size_px=row.frame_size_px,
        embedding_version=row.embedding_version,
        thumbnail_url=picture_url(context, principal, row.thumbnail_key),
        context_url=picture_url(
            context,
            principal,
            None if row.thumbnail_key is None else context_key(row.thumbnail_key),
        ),
        clip_url=None
        if clip_gone
        else clip_url(context, principal, row.camera_id, row.start_at, row.end_at),
        clip_available=not clip_gone,
    )
