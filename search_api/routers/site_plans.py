"""Site plan endpoints (issue #18): plan images the camera map draws cameras on, kept by the
server (object storage + catalog row) so every browser sees the same plans.

Who: anyone who can see the camera map reads them (`cameras_view`); those who manage cameras
upload, edit and delete them (`camera_admin`), audited. Plans are not per camera: a plan shows
only the markers of the cameras the caller may see (the camera list does the filtering).

Writes never leave half a plan: an upload stores the image, then the row (a failed row write
removes the image again; object storage down → 503 and nothing stored); a delete removes the
image, then the row (storage down → 503 and the plan stays whole, so the same DELETE can be
sent again later; deleting an image that is already gone is not an error).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Response, UploadFile, status
from pydantic import BaseModel, Field

from index.catalog import Session, append_audit
from index.catalog.site_plans import (
    DuplicateSitePlanError,
    NewSitePlan,
    PlanBounds,
    SitePlan,
    SitePlanError,
    UnknownSitePlanError,
    add_site_plan,
    check_new_name,
    delete_site_plan,
    get_site_plan,
    list_site_plans,
    update_site_plan,
)
from search_api.access import CAMERA_ADMIN, CAMERAS_VIEW
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, Unavailable
from search_api.openapi import AUTH_RESPONSES, MAX_CATALOG_ID
from search_api.site_plan_images import (
    MAX_PLAN_BYTES,
    PlanImageError,
    PlanImageTooLarge,
    check_plan_image,
)
from storage.objectstore import ObjectNotFoundError, StorageUnavailableError

router = APIRouter(prefix="/site-plans", tags=["site plans"], responses=AUTH_RESPONSES)
PlanId = Annotated[int, Path(ge=1, le=MAX_CATALOG_ID)]
KEY_PREFIX = "site-plans"


# The edges are checked once, by PlanBounds (degrees in range, north above south, east of
# west): 422 naming the edge, for the form and the JSON body alike.
Edge = Annotated[float, Form(description="degrees: latitude -90..90, longitude -180..180")]


class SitePlanIn(BaseModel):
    """A plan's name and edges (PUT replaces both; the image stays)."""

    name: str = Field(min_length=1, max_length=200)
    north: float = Field(description="latitude, -90..90, above south", examples=[31.2310])
    south: float = Field(description="latitude, -90..90", examples=[31.2290])
    west: float = Field(description="longitude, -180..180", examples=[121.4690])
    east: float = Field(description="longitude, -180..180, east of west", examples=[121.4715])


class SitePlanOut(BaseModel):
    id: int
    name: str
    content_type: str
    size_bytes: int
    sha256: str
    width_px: int
    height_px: int
    north: float
    south: float
    west: float
    east: float
    image_url: str = Field(description="the image (same credentials as this request)")
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, plan: SitePlan) -> SitePlanOut:
        b = plan.bounds
        return cls(
            id=plan.id, name=plan.name, content_type=plan.content_type,
            size_bytes=plan.size_bytes, sha256=plan.sha256, width_px=plan.width_px,
            height_px=plan.height_px, north=b.north, south=b.south, west=b.west, east=b.east,
            image_url=f"/api/v1/site-plans/{plan.id}/image", created_by=plan.created_by,
            created_at=plan.created_at, updated_at=plan.updated_at,
        )  # fmt: skip


def _bounds(north: float, south: float, west: float, east: float) -> PlanBounds:
    """The plan's edges; InvalidInput (422) naming the edge that is out of range or order."""
    try:
        return PlanBounds(north, south, west, east)
    except SitePlanError as error:
        raise InvalidInput(str(error)) from error


def _plan(session: Session, plan_id: int) -> SitePlan:
    try:
        return get_site_plan(session, plan_id)
    except UnknownSitePlanError as error:
        raise NotFound(str(error)) from error


def _storage_down(error: StorageUnavailableError, what: str) -> Unavailable:
    return Unavailable(f"object storage is unavailable ({error}): {what}; try again later")


def _refused(error: SitePlanError) -> InvalidInput | Conflict:
    if isinstance(error, DuplicateSitePlanError):
        return Conflict(str(error))
    return InvalidInput(str(error))


@router.post(
    "",
    response_model=SitePlanOut,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a site plan",
    dependencies=[requires(CAMERA_ADMIN)],
)
def upload_plan(
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    image: Annotated[UploadFile, File(description="PNG or JPEG, ≤ 10 MB, ≤ 8000 px a side")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    north: Edge,
    south: Edge,
    west: Edge,
    east: Edge,
) -> SitePlanOut:
    """The image is checked (PNG/JPEG by content, size, decodable), the edges too (north above
    south, east of west), before anything is stored."""
    bounds = _bounds(north, south, west, east)
    try:
        plan_image = check_plan_image(image.file.read(MAX_PLAN_BYTES + 1))
    except PlanImageTooLarge as error:
        raise PayloadTooLarge(f"image: {error}") from error
    except PlanImageError as error:
        raise InvalidInput(f"image: {error}") from error
    try:
        name = check_new_name(session, name)
    except SitePlanError as error:
        raise _refused(error) from error
    key = f"{KEY_PREFIX}/{uuid.uuid4().hex}.{plan_image.extension}"
    try:
        context.store.put_bytes(key, plan_image.data, plan_image.content_type)
    except StorageUnavailableError as error:
        raise _storage_down(error, "the plan was not stored") from error
    try:
        plan = add_site_plan(
            session,
            NewSitePlan(
                name, key, plan_image.content_type, len(plan_image.data), plan_image.sha256,
                plan_image.width_px, plan_image.height_px, bounds, principal.name,
            ),
        )  # fmt: skip
        append_audit(
            session, principal=principal.name, role=principal.role, action="site_plan_create",
            filters={"name": name, **asdict(bounds)}, image_sha256=plan_image.sha256,
            target=f"site_plan:{plan.id}",
        )  # fmt: skip
        session.commit()
    except Exception as failure:
        session.rollback()
        with contextlib.suppress(StorageUnavailableError):  # an orphan image at worst
            context.store.delete(key)  # no row refers to it
        if isinstance(failure, SitePlanError):
            raise _refused(failure) from failure
        raise
    return SitePlanOut.of(plan)


@router.get(
    "",
    response_model=list[SitePlanOut],
    summary="Site plans, newest first",
    dependencies=[requires(CAMERAS_VIEW)],
)
def read_plans(session: SessionDep) -> list[SitePlanOut]:
    return [SitePlanOut.of(plan) for plan in list_site_plans(session)]


@router.get(
    "/{plan_id}/image",
    summary="A site plan's image",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}},
    dependencies=[requires(CAMERAS_VIEW)],
)
def read_plan_image(plan_id: PlanId, session: SessionDep, context: ContextDep) -> Response:
    plan = _plan(session, plan_id)
    try:
        data = context.store.get(plan.object_key)
    except ObjectNotFoundError as error:
        raise NotFound(f"site plan {plan_id}'s image is missing from object storage") from error
    except StorageUnavailableError as error:
        raise _storage_down(error, "the image cannot be read now") from error
    headers = {
        "Cache-Control": "private, max-age=300",
        "ETag": f'"{plan.sha256}"',
        "X-Content-Type-Options": "nosniff",
    }
    return Response(data, media_type=plan.content_type, headers=headers)


@router.put(
    "/{plan_id}",
    response_model=SitePlanOut,
    summary="Rename a site plan or move its edges",
    dependencies=[requires(CAMERA_ADMIN)],
)
def change_plan(
    plan_id: PlanId, body: SitePlanIn, principal: PrincipalDep, session: SessionDep
) -> SitePlanOut:
    _plan(session, plan_id)
    bounds = _bounds(body.north, body.south, body.west, body.east)
    try:
        plan = update_site_plan(session, plan_id, body.name, bounds)
    except SitePlanError as error:
        raise _refused(error) from error
    append_audit(
        session, principal=principal.name, role=principal.role, action="site_plan_update",
        filters={"name": plan.name, **asdict(bounds)}, target=f"site_plan:{plan_id}",
    )  # fmt: skip
    session.commit()
    return SitePlanOut.of(plan)


@router.delete(
    "/{plan_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a site plan and its image",
    dependencies=[requires(CAMERA_ADMIN)],
)
def remove_plan(
    plan_id: PlanId, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> Response:
    plan = _plan(session, plan_id)
    try:
        context.store.delete(plan.object_key)
    except StorageUnavailableError as error:
        raise _storage_down(error, "the plan was kept whole; send the same DELETE again") from error
    delete_site_plan(session, plan_id)
    append_audit(
        session, principal=principal.name, role=principal.role, action="site_plan_delete",
        filters={"name": plan.name}, image_sha256=plan.sha256, target=f"site_plan:{plan_id}",
    )  # fmt: skip
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
