"""Track endpoints: one record per tracked person or vehicle."""

from __future__ import annotations

from fastapi import APIRouter

from index.catalog import append_audit
from index.track_indexer import context_key
from search_api.access import VIEW_ROLES, require_role, visible_track
from search_api.deps import ContextDep, PrincipalDep, SessionDep
from search_api.links import clip_url, object_url
from search_api.openapi import AUTH_RESPONSES
from search_api.schemas import TrackOut

router = APIRouter(prefix="/tracks", tags=["tracks"], responses=AUTH_RESPONSES)


@router.get("/{track_id}", response_model=TrackOut, summary="One track with its links")
def read_track(
    track_id: int,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> TrackOut:
    require_role(principal, VIEW_ROLES)
    row = visible_track(session, principal, track_id)
    append_audit(
        session,
        principal=principal.name,
        role=principal.role,
        action="view_track",
        target=f"track:{track_id}",
    )
    session.commit()
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
        embedding_version=row.embedding_version,
        thumbnail_url=object_url(context, row.thumbnail_key),
        context_url=object_url(
            context, None if row.thumbnail_key is None else context_key(row.thumbnail_key)
        ),
        clip_url=clip_url(context, principal.name, row.camera_id, row.start_at, row.end_at),
    )
