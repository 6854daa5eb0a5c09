"""Camera endpoints (read side; runtime camera management arrives with live ingest)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from index.catalog_models import CameraRow
from search_api.auth import VIEW_ROLES, PrincipalDep, SessionDep, may_see_camera, require_role
from search_api.schemas import CameraOut

router = APIRouter(prefix="/cameras", tags=["cameras"])


@router.get("", response_model=list[CameraOut], summary="Cameras the caller may see")
def list_cameras(principal: PrincipalDep, session: SessionDep) -> list[CameraOut]:
    require_role(principal, VIEW_ROLES)
    rows = session.scalars(select(CameraRow).order_by(CameraRow.id))
    return [
        CameraOut(
            id=row.id,
            name=row.name,
            detect_fps=row.detect_fps,
            lat=row.lat,
            lon=row.lon,
            heading_deg=row.heading_deg,
            enabled=row.enabled,
        )
        for row in rows
        if may_see_camera(principal, row.id)
    ]
