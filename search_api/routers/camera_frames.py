"""A camera's recorded frame as a JPEG (issue #18 part 4): what the web interface draws zones
on. Decoded from the stored recording (index/camera_frames.py); viewing it is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from index.camera_frames import NoRecordingError, camera_frame
from index.catalog import append_audit
from search_api.access import CAMERAS_VIEW, visible_camera
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import Conflict
from search_api.openapi import AUTH_RESPONSES, SearchTime

router = APIRouter(prefix="/cameras", tags=["cameras"], responses=AUTH_RESPONSES)


@router.get(
    "/{camera_id}/frame",
    summary="The camera's recorded frame at a time (default: its latest), as a JPEG",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    dependencies=[requires(CAMERAS_VIEW, scope="camera")],
)
def read_frame(
    camera_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    at: Annotated[SearchTime | None, Query(description="UTC or with offset")] = None,
) -> Response:
    """409 when the camera recorded nothing then (404 stays "not a camera of yours"); the
    frame's own time is in the `X-Frame-Time` header."""
    visible_camera(session, principal, camera_id)
    try:
        frame = camera_frame(session, context.store, camera_id, at)
    except NoRecordingError as error:
        raise Conflict(str(error)) from error
    append_audit(
        session, principal=principal.name, role=principal.role, action="frame_view",
        target=f"camera:{camera_id}", filters={"at": frame.at.isoformat()},
    )  # fmt: skip
    session.commit()
    return Response(
        frame.jpeg,
        media_type="image/jpeg",
        headers={"X-Frame-Time": frame.at.isoformat(), "Cache-Control": "private, max-age=60"},
    )
