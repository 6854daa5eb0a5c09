"""Search endpoints: by picture, by track ("more like this"), by attributes, by text, by hops."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import ValidationError

from detect.detections import DEFAULT_CLASSES
from detect.query import MAX_IMAGE_BYTES, ImageTooLarge, QueryImageError, check_image_size
from index.catalog import tracks_by_ids
from search_api.access import OBJECT_SEARCH, PLATE_SEARCH, authorize_search, visible_track
from search_api.case_hops import search_feedback
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import InvalidInput, PayloadTooLarge
from search_api.hop import hop_search
from search_api.openapi import (
    AUTH_RESPONSES,
    CarriedName,
    CatalogId,
    ColourName,
    DirectionName,
    SectorName,
    VehicleTypeName,
)
from search_api.plate_schemas import PlateSearchRequest, PlateSearchResponse
from search_api.plate_search import run_plate_search
from search_api.schemas import (
    AttributeSearchRequest,
    HitsPage,
    HopRequest,
    HopResponse,
    QueryInfo,
    SearchFiltersIn,
    SearchResponse,
    TextSearchRequest,
    TextSearchResponse,
    TrackSearchRequest,
)
from search_api.search_filters import names_nothing, parse_text
from search_api.search_pipeline import (
    ByAttributes,
    ByPicture,
    ByTrack,
    SearchSpec,
    run_search,
    same_kind,
)
from search_api.search_service import audit_denials, audit_search, no_good_match

router = APIRouter(prefix="/search", tags=["search"], responses=AUTH_RESPONSES)


def split_list(value: str | None, field: str) -> list[str] | None:
    if value is None or not value.strip():
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise InvalidInput(f"{field}: empty list")
    return items


def validation_message(error: ValidationError) -> str:
    """`field: problem` for each error, the way the JSON endpoints report them."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    return "; ".join(parts)


@router.post(
    "/image",
    response_model=SearchResponse,
    summary="Find tracks like this picture",
    dependencies=[requires(OBJECT_SEARCH)],
)
def search_by_image(
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
    colour: Annotated[ColourName | None, Form(description="vehicle colour filter")] = None,
    vehicle_type: Annotated[VehicleTypeName | None, Form(description="vehicle type filter")] = None,
    upper_colour: Annotated[ColourName | None, Form()] = None,
    lower_colour: Annotated[ColourName | None, Form()] = None,
    direction: Annotated[DirectionName | None, Form()] = None,
    compass: Annotated[SectorName | None, Form()] = None,
    carrying: Annotated[CarriedName | None, Form(description="carried object filter")] = None,
    zone_ids: Annotated[str | None, Form(description="comma-separated zone ids")] = None,
    case_id: Annotated[str | None, Form()] = None,
    purpose: Annotated[str | None, Form()] = None,
) -> SearchResponse:
    """Picks the largest person or vehicle of `classes` in the picture (or takes it whole);
    without `classes`, the hits are of that object's kind (persons; cars, trucks and buses;
    bicycles and motorcycles).

    A plain `def`: FastAPI runs it on its thread pool, so decoding and the models never block
    the event loop (other requests, /healthz). The header's pixel count is checked first."""
    data = image.file.read(MAX_IMAGE_BYTES + 1)
    try:
        check_image_size(data, context.limits.max_image_pixels)
    except ImageTooLarge as error:
        raise PayloadTooLarge(f"image: {error}") from error
    except QueryImageError as error:
        raise InvalidInput(f"image: {error}") from error
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
                "carrying": carrying or None,
                "zone_ids": split_list(zone_ids, "zone_ids"),
            }
        )
    except ValidationError as error:
        raise InvalidInput(validation_message(error)) from error
    class_names = request.classes or list(DEFAULT_CLASSES)
    outcome = run_search(
        context,
        session,
        principal,
        SearchSpec(
            query_type="image",
            filters=request,
            ranking=ByPicture(data, tuple(class_names), whole_image),
            top_k=top_k,
            classes=class_names,
            case_id=case_id,
            purpose=purpose,
            audit_fields={"classes": class_names, "top_k": top_k},
        ),
    )
    session.commit()
    found = outcome.picture_object
    assert found is not None  # a picture search always has its object
    query = QueryInfo(class_name=found.class_name, box=found.box)
    return SearchResponse(
        query=query, hits=outcome.hits, no_good_match=no_good_match(context, outcome.hits)
    )


@router.post(
    "/track/{track_id}",
    response_model=HitsPage,
    summary="More like this track",
    dependencies=[requires(OBJECT_SEARCH, scope="track")],
)
def search_by_track(
    track_id: CatalogId,
    body: TrackSearchRequest,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> HitsPage:
    """Tracks that look like an indexed track (the track itself is left out), of the seed's
    kind (persons; cars, trucks and buses; bicycles and motorcycles) unless `classes` is given."""
    seed = visible_track(session, principal, track_id)
    classes = body.classes or list(same_kind(seed.class_name))
    spec = SearchSpec(
        query_type="track",
        filters=body.model_copy(update={"classes": classes}),
        ranking=ByTrack(seed),
        top_k=body.top_k,
        classes=classes,  # what it can return decides the case
        case_id=body.case_id,
        purpose=body.purpose,
        audit_fields={"top_k": body.top_k},
        target=f"track:{track_id}",
    )
    outcome = run_search(context, session, principal, spec)
    session.commit()
    return HitsPage(hits=outcome.hits, no_good_match=no_good_match(context, outcome.hits))


@router.post(
    "/attributes",
    response_model=HitsPage,
    summary="Find tracks by attributes",
    dependencies=[requires(OBJECT_SEARCH)],
)
def search_by_attributes(
    body: AttributeSearchRequest,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> HitsPage:
    """Class, colours, type, direction, cameras and time; best attribute confidence first."""
    spec = SearchSpec(
        query_type="attributes",
        filters=body,
        ranking=ByAttributes(),
        top_k=body.top_k,
        offset=body.offset,
        classes=body.classes,
        case_id=body.case_id,
        purpose=body.purpose,
        audit_fields={"top_k": body.top_k, "offset": body.offset},
    )
    outcome = run_search(context, session, principal, spec)
    session.commit()
    return HitsPage(hits=outcome.hits, offset=body.offset, total=outcome.total)


@router.post(
    "/plate",
    response_model=PlateSearchResponse,
    summary="Find vehicles by their plate",
    dependencies=[requires(PLATE_SEARCH)],
)
def search_by_plate(
    body: PlateSearchRequest,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> PlateSearchResponse:
    """Exact, prefix / contains ("A12"), wildcard ("吉A*23?5") or fuzzy (OCR look-alikes such
    as 0/O/D, 8/B, 2/Z cost little) with camera, time and zone filters. Needs an open case of
    the caller's and a purpose, and is audited. Each hit is the vehicle track with its plate,
    plate crop, thumbnail and clip; `more_like_this` continues by appearance."""
    response = run_plate_search(context, session, principal, body)
    session.commit()
    return response


@router.post(
    "/text",
    response_model=TextSearchResponse,
    summary="Find tracks by a description",
    dependencies=[requires(OBJECT_SEARCH)],
)
def search_by_text(
    body: TextSearchRequest,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> TextSearchResponse:
    """Chinese or English, e.g. "红色轿车", "white shirt black trousers", "昨天下午 2号摄像头"
    ("N号摄像头" / "camera N": the camera whose id, else whose name, ends in N)."""
    zone = body.timezone or context.default_timezone  # the site's zone unless the body names one
    parsed = parse_text(session, principal, body.text, body.now or datetime.now(UTC), zone)
    if names_nothing(parsed):
        raise InvalidInput(
            f"text: nothing in {body.text!r} names a class, colour, camera, zone or time"
        )
    spec = SearchSpec(
        query_type="text",
        filters=parsed,
        ranking=ByAttributes(),
        top_k=body.top_k,
        classes=parsed.class_names or None,
        case_id=body.case_id,
        purpose=body.purpose,
        audit_fields={"text": body.text},
    )
    outcome = run_search(context, session, principal, spec)
    session.commit()
    assert outcome.parsed is not None  # text searches say how the text was read
    return TextSearchResponse(parsed=outcome.parsed, hits=outcome.hits)


@router.post(
    "/hop",
    response_model=HopResponse,
    summary="Follow a track across cameras",
    dependencies=[requires(OBJECT_SEARCH)],
)
def search_hop(
    body: HopRequest,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> HopResponse:
    """Candidates in neighbouring cameras before and after the trail, ranked by appearance ×
    travel-time plausibility; send confirmed / rejected ids back to refine the query. With
    `case_id` (the caller's case), the case's hop decisions refine it too (`decision`)."""
    seed = visible_track(session, principal, body.track_id)
    with audit_denials(
        session, principal, "search_denied", "hop", body.case_id, body.purpose,
        f"track:{body.track_id}",
    ):  # fmt: skip
        case = search_feedback(session, principal, body.case_id, seed.id)
        # Candidates share the class of the track they hop from (the seed or a confirmed
        # sighting), and the trail returns the confirmed sightings themselves.
        confirmed = tracks_by_ids(session, [*body.confirmed, *case.confirmed])
        classes = {seed.class_name, *(t.class_name for t in confirmed)}
        authorize_search(session, principal, sorted(classes), body.case_id, body.purpose)
    response = hop_search(context, session, principal, seed, body, case)
    audit_search(
        session, principal, "hop",
        {"confirmed": body.confirmed, "rejected": body.rejected, "top_k": body.top_k,
         "case_confirmed": sorted(case.confirmed), "case_rejected": sorted(case.rejected)},
        len(response.candidates), body.case_id, body.purpose, target=f"track:{body.track_id}",
    )  # fmt: skip
    session.commit()
    return response
