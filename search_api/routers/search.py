"""Search endpoints: by picture, by track ("more like this"), by attributes, by text, by hops."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile, status
from pydantic import ValidationError
from sqlalchemy.orm import Session

from detect.detections import DEFAULT_CLASSES
from detect.query import (
    MAX_IMAGE_BYTES,
    QueryImageError,
    decode_image,
    detect_query_object,
    whole_image_query,
)
from index.catalog import get_track
from index.catalog.values import Principal
from search_api.auth import PrincipalDep, SessionDep, may_see_camera, visible_cameras
from search_api.context import ApiContext, api_context
from search_api.hop import hop_search
from search_api.query_text import TextQueryError, parse_text_query
from search_api.schemas import (
    AttributeSearchRequest,
    HitsPage,
    HopRequest,
    HopResponse,
    ParsedText,
    QueryInfo,
    SearchFiltersIn,
    SearchResponse,
    TextSearchRequest,
    TextSearchResponse,
    TrackSearchRequest,
    ZoneRef,
)
from search_api.search_service import (
    SearchFilters,
    attribute_ranked,
    audit_search,
    authorize_search,
    build_hits,
    filters_from,
    resolve_camera_ref,
    similar_tracks,
    track_embedding,
    unprocessable,
)
from search_api.search_zones import resolve_zone_names

router = APIRouter(prefix="/search", tags=["search"])
ContextDep = Annotated[ApiContext, Depends(api_context)]


def split_list(value: str | None, field: str) -> list[str] | None:
    if value is None or not value.strip():
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise unprocessable(f"{field}: empty list")
    return items


def validation_message(error: ValidationError) -> str:
    """`field: problem` for each error, the way the JSON endpoints report them."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    return "; ".join(parts)


@router.post("/image", response_model=SearchResponse, summary="Find tracks like this picture")
async def search_by_image(
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    image: Annotated[UploadFile, File(description="JPEG/PNG of a scene or of one object")],
    camera_ids: Annotated[str | None, Form(description="comma-separated camera ids")] = None,
    start: Annotated[str | None, Form(description="ISO 8601 with offset")] = None,
    end: Annotated[str | None, Form(description="ISO 8601 with offset")] = None,
    classes: Annotated[str | None, Form(description="comma-separated COCO class names")] = None,
    top_k: Annotated[int, Form(ge=1, le=500)] = 20,
    whole_image: Annotated[
        bool, Form(description="the picture already shows just the object")
    ] = False,
    colour: Annotated[str | None, Form(description="vehicle colour filter")] = None,
    vehicle_type: Annotated[str | None, Form(description="vehicle type filter")] = None,
    upper_colour: Annotated[str | None, Form()] = None,
    lower_colour: Annotated[str | None, Form()] = None,
    direction: Annotated[str | None, Form()] = None,
    compass: Annotated[str | None, Form()] = None,
    zone_ids: Annotated[str | None, Form(description="comma-separated zone ids")] = None,
    case_id: Annotated[str | None, Form()] = None,
    purpose: Annotated[str | None, Form()] = None,
) -> SearchResponse:
    """Picks the largest person or vehicle of `classes` in the picture (or takes it whole)."""
    data = await image.read(MAX_IMAGE_BYTES + 1)
    try:
        request = SearchFiltersIn.model_validate(
            {
                "camera_ids": split_list(camera_ids, "camera_ids"),
                "start": start or None,
                "end": end or None,
                "classes": split_list(classes, "classes"),
                "colour": colour or None,
                "vehicle_type": vehicle_type or None,
                "upper_colour": upper_colour or None,
                "lower_colour": lower_colour or None,
                "direction": direction or None,
                "compass": compass or None,
                "zone_ids": split_list(zone_ids, "zone_ids"),
            }
        )
    except ValidationError as error:
        raise unprocessable(validation_message(error)) from error
    class_names = request.classes or list(DEFAULT_CLASSES)
    authorize_search(session, principal, class_names, case_id, purpose)
    filters = filters_from(session, principal, request)
    try:
        picture = decode_image(data)
        query = (
            whole_image_query(picture, context.embedder, class_names[0])
            if whole_image
            else detect_query_object(picture, context.detector, context.embedder, class_names)
        )
    except QueryImageError as error:
        code = (
            status.HTTP_413_CONTENT_TOO_LARGE
            if len(data) > MAX_IMAGE_BYTES
            else status.HTTP_422_UNPROCESSABLE_CONTENT
        )
        raise HTTPException(code, str(error)) from error
    results = similar_tracks(context, session, query.embedding, filters, top_k)
    hits = build_hits(context, session, results, principal.name, filters.zone_ids)
    audit_search(
        session,
        principal,
        "image",
        {**filters.as_json(), "classes": class_names, "top_k": top_k},
        len(hits),
        case_id,
        purpose,
        image_sha256=hashlib.sha256(data).hexdigest(),
    )
    session.commit()
    return SearchResponse(query=QueryInfo(class_name=query.class_name, box=query.box), hits=hits)


@router.post("/track/{track_id}", response_model=HitsPage, summary="More like this track")
def search_by_track(
    track_id: int,
    body: TrackSearchRequest,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> HitsPage:
    """Tracks that look like an indexed track (the track itself is left out)."""
    seed = get_track(session, track_id)
    if seed is None or not may_see_camera(principal, seed.camera_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"track {track_id} not found")
    authorize_search(session, principal, [seed.class_name], body.case_id, body.purpose)
    filters = filters_from(session, principal, body)
    results = similar_tracks(
        context, session, track_embedding(context, seed), filters, body.top_k, {track_id}
    )
    hits = build_hits(context, session, results, principal.name, filters.zone_ids)
    audit_search(
        session, principal, "track", {**filters.as_json(), "top_k": body.top_k}, len(hits),
        body.case_id, body.purpose, target=f"track:{track_id}",
    )  # fmt: skip
    session.commit()
    return HitsPage(hits=hits)


@router.post("/attributes", response_model=HitsPage, summary="Find tracks by attributes")
def search_by_attributes(
    body: AttributeSearchRequest,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> HitsPage:
    """Class, colours, type, direction, cameras and time; best attribute confidence first."""
    authorize_search(session, principal, body.classes, body.case_id, body.purpose)
    filters = filters_from(session, principal, body)
    ranked = attribute_ranked(session, filters)
    page = ranked[body.offset : body.offset + body.top_k]
    hits = build_hits(context, session, page, principal.name, filters.zone_ids)
    audit_search(
        session, principal, "attributes",
        {**filters.as_json(), "top_k": body.top_k, "offset": body.offset}, len(ranked),
        body.case_id, body.purpose,
    )  # fmt: skip
    session.commit()
    return HitsPage(hits=hits, offset=body.offset, total=len(ranked))


def text_filters(
    session: Session, principal: Principal, text: str, now: datetime, timezone: str
) -> tuple[SearchFilters, ParsedText]:
    """Filters that free text asks for; 422 naming the problem when it cannot be read."""
    try:
        parsed = parse_text_query(text, now, timezone)
    except TextQueryError as error:
        raise unprocessable(str(error)) from error
    camera_ids = [resolve_camera_ref(session, ref) for ref in parsed.camera_refs] or None
    searched = visible_cameras(principal, camera_ids)
    zones: list[ZoneRef] = []
    if parsed.zone_names:  # the named zones on the named (or else all visible) cameras
        zones = resolve_zone_names(session, parsed.zone_names, searched)
        searched = sorted({zone.camera_id for zone in zones})
    filters = SearchFilters(
        camera_ids=searched,
        start=parsed.start,
        end=parsed.end,
        class_names=parsed.class_names or None,
        attributes=parsed.attributes,
        zone_ids=tuple(zone.id for zone in zones) or None,
    )
    summary = ParsedText(
        classes=list(parsed.class_names),
        attributes=parsed.attributes.as_json(),
        camera_ids=camera_ids or [],
        zones=zones,
        start=parsed.start,
        end=parsed.end,
        unparsed=list(parsed.unparsed),
    )
    return filters, summary


@router.post("/text", response_model=TextSearchResponse, summary="Find tracks by a description")
def search_by_text(
    body: TextSearchRequest,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> TextSearchResponse:
    """Chinese or English, e.g. "红色轿车", "white shirt black trousers", "昨天下午 3号摄像头"."""
    filters, summary = text_filters(
        session, principal, body.text, body.now or datetime.now(UTC), body.timezone
    )
    if not (summary.classes or summary.attributes or summary.camera_ids or summary.zones) and (
        filters.start is None
    ):
        raise unprocessable(
            f"text: nothing in {body.text!r} names a class, colour, camera, zone or time"
        )
    authorize_search(session, principal, filters.class_names, body.case_id, body.purpose)
    ranked = attribute_ranked(session, filters)
    hits = build_hits(context, session, ranked[: body.top_k], principal.name, filters.zone_ids)
    audit_search(
        session, principal, "text", {**filters.as_json(), "text": body.text}, len(ranked),
        body.case_id, body.purpose,
    )  # fmt: skip
    session.commit()
    return TextSearchResponse(parsed=summary, hits=hits)


@router.post("/hop", response_model=HopResponse, summary="Follow a track across cameras")
def search_hop(
    body: HopRequest,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> HopResponse:
    """Candidates in neighbouring cameras before and after the trail, ranked by appearance ×
    travel-time plausibility; send confirmed / rejected ids back to refine the query."""
    seed = get_track(session, body.track_id)
    if seed is None or not may_see_camera(principal, seed.camera_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"track {body.track_id} not found")
    authorize_search(session, principal, [seed.class_name], body.case_id, body.purpose)
    response = hop_search(context, session, principal, seed, body)
    audit_search(
        session, principal, "hop",
        {"confirmed": body.confirmed, "rejected": body.rejected, "top_k": body.top_k},
        len(response.candidates), body.case_id, body.purpose, target=f"track:{body.track_id}",
    )  # fmt: skip
    session.commit()
    return response
