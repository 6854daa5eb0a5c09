"""Track endpoints: one record per tracked person or vehicle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from index.catalog import append_audit, get_track
from index.track_indexer import context_key
from search_api.auth import VIEW_ROLES, PrincipalDep, SessionDep, may_see_camera, require_role
from search_api.context import ApiContext, api_context
from search_api.links import clip_url, object_url
from search_api.schemas import TrackOut

router = APIRouter(prefix="/tracks", tags=["tracks"])


@router.get("/{track_id}", response_model=TrackOut, summary="One track with its links")
def read_track(
    track_id: int,
    principal: PrincipalDep,
    session: SessionDep,
    context: Annotated[ApiContext, Depends(api_context)],
) -> TrackOut:
    require_role(principal, VIEW_ROLES)
    row = get_track(session, track_id)
    if row is None or not may_see_camera(principal, row.camera_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"track {track_id} not found")
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
