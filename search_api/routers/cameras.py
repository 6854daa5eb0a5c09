"""Camera endpoints: list, add, update, pause, resume, remove, live status.

The API only writes the catalog; the ingest process picks changes up within seconds.
"""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Response, status

from index.catalog import (
    CameraSpec,
    CameraUrlRefusedError,
    Principal,
    Session,
    append_audit,
    check_camera_urls,
    get_camera,
    list_cameras,
    redact_url,
    remove_camera,
    upsert_camera,
)
from search_api.access import CAMERA_ADMIN, CAMERAS_VIEW, may_see_camera, visible_camera
from search_api.context import ApiContext
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import Conflict, Forbidden, InvalidInput
from search_api.openapi import AUTH_RESPONSES
from search_api.schemas import CameraIn, CameraOut, CameraPatch, CameraStatusOut

router = APIRouter(prefix="/cameras", tags=["cameras"], responses=AUTH_RESPONSES)


def camera_out(spec: CameraSpec) -> CameraOut:
    return CameraOut(
        id=spec.id,
        name=spec.name,
        main_url=redact_url(spec.main_url),
        sub_url=None if spec.sub_url is None else redact_url(spec.sub_url),
        detect_fps=spec.detect_fps,
        lat=spec.lat,
        lon=spec.lon,
        heading_deg=spec.heading_deg,
        enabled=spec.enabled,
        tiles=spec.tiles,
        timezone=spec.timezone,
        kind=spec.kind,
    )


def openable(context: ApiContext, spec: CameraSpec) -> CameraSpec:
    """`spec` if ingest may open its URLs (rtsp(s):// or the admin's allow-list); else 422
    naming the field, so no request makes the server fetch internal URLs or read files."""
    try:
        return check_camera_urls(spec, context.camera_url_allow)
    except CameraUrlRefusedError as error:
        raise InvalidInput(str(error)) from error


def save(session: Session, principal: Principal, spec: CameraSpec, action: str) -> None:
    upsert_camera(session, spec)
    append_audit(
        session, principal=principal.name, role=principal.role, action=action,
        target=f"camera:{spec.id}",
    )  # fmt: skip
    session.commit()


@router.get(
    "",
    response_model=list[CameraOut],
    summary="Cameras the caller may see",
    dependencies=[requires(CAMERAS_VIEW)],
)
def read_cameras(principal: PrincipalDep, session: SessionDep) -> list[CameraOut]:
    return [camera_out(s) for s in list_cameras(session) if may_see_camera(principal, s.id)]


@router.get(
    "/status",
    response_model=list[CameraStatusOut],
    summary="Live status of cameras",
    dependencies=[requires(CAMERAS_VIEW)],
)
def read_statuses(principal: PrincipalDep, context: ContextDep) -> list[CameraStatusOut]:
    statuses = context.camera_status() if context.camera_status is not None else {}
    return [
        CameraStatusOut.of(s) for c, s in sorted(statuses.items()) if may_see_camera(principal, c)
    ]


@router.get(
    "/{camera_id}",
    response_model=CameraOut,
    summary="One camera",
    dependencies=[requires(CAMERAS_VIEW, scope="camera")],
)
def read_camera(camera_id: str, principal: PrincipalDep, session: SessionDep) -> CameraOut:
    return camera_out(visible_camera(session, principal, camera_id))


@router.get(
    "/{camera_id}/status",
    response_model=CameraStatusOut,
    summary="One camera's status",
    dependencies=[requires(CAMERAS_VIEW, scope="camera")],
)
def read_status(
    camera_id: str, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> CameraStatusOut:
    spec = visible_camera(session, principal, camera_id)
    statuses = context.camera_status() if context.camera_status is not None else {}
    status_now = statuses.get(camera_id)
    if status_now is None:
        state = "connecting" if spec.enabled else "paused"
        if spec.kind == "offline":
            state = "footage"  # uploaded footage (issue #15): nothing to connect to
        return CameraStatusOut(camera_id=camera_id, state=state)
    return CameraStatusOut.of(status_now)


@router.post(
    "",
    response_model=CameraOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a camera",
    dependencies=[requires(CAMERA_ADMIN)],
)
def add_camera(
    body: CameraIn, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> CameraOut:
    """A camera-limited key may add only cameras in its scope (checked before the duplicate
    check, so a 409 never tells it which other camera ids exist)."""
    if not may_see_camera(principal, body.id):
        raise Forbidden(f"id: camera {body.id!r} is outside this key's cameras")
    if get_camera(session, body.id) is not None:
        raise Conflict(f"camera {body.id!r} already exists")
    spec = CameraSpec(
        id=body.id, name=body.name, main_url=body.main_url, sub_url=body.sub_url,
        detect_fps=body.detect_fps, lat=body.lat, lon=body.lon, heading_deg=body.heading_deg,
        enabled=body.enabled, tiles=body.tiles, timezone=body.timezone,
    )  # fmt: skip
    save(session, principal, openable(context, spec), "camera_add")
    return camera_out(spec)


@router.patch(
    "/{camera_id}",
    response_model=CameraOut,
    summary="Change a camera",
    dependencies=[requires(CAMERA_ADMIN, scope="camera")],
)
def update_camera(
    camera_id: str,
    body: CameraPatch,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> CameraOut:
    current = visible_camera(session, principal, camera_id)
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "main_url", "detect_fps", "enabled", "tiles"):
        if required in changes and changes[required] is None:
            raise InvalidInput(f"{required}: may not be null")
    try:
        spec = dataclasses.replace(current, **changes)
    except ValueError as error:
        raise InvalidInput(str(error)) from error
    save(session, principal, openable(context, spec), "camera_update")
    return camera_out(spec)


def set_enabled(
    context: ApiContext, session: Session, principal: Principal, camera_id: str, enabled: bool
) -> CameraOut:
    spec = dataclasses.replace(visible_camera(session, principal, camera_id), enabled=enabled)
    if enabled:
        openable(context, spec)  # pausing a camera with a refused URL stays possible
    save(session, principal, spec, "camera_resume" if enabled else "camera_pause")
    return camera_out(spec)


@router.post(
    "/{camera_id}/pause",
    response_model=CameraOut,
    summary="Stop ingest, keep config",
    dependencies=[requires(CAMERA_ADMIN, scope="camera")],
)
def pause_camera(
    camera_id: str, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> CameraOut:
    return set_enabled(context, session, principal, camera_id, enabled=False)


@router.post(
    "/{camera_id}/resume",
    response_model=CameraOut,
    summary="Start ingest again",
    dependencies=[requires(CAMERA_ADMIN, scope="camera")],
)
def resume_camera(
    camera_id: str, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> CameraOut:
    return set_enabled(context, session, principal, camera_id, enabled=True)


@router.delete(
    "/{camera_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a camera (its recordings and tracks stay searchable)",
    dependencies=[requires(CAMERA_ADMIN, scope="camera")],
)
def delete_camera(camera_id: str, principal: PrincipalDep, session: SessionDep) -> Response:
    visible_camera(session, principal, camera_id)
    remove_camera(session, camera_id)
    append_audit(
        session, principal=principal.name, role=principal.role, action="camera_remove",
        target=f"camera:{camera_id}",
    )  # fmt: skip
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
