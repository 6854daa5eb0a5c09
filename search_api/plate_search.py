"""Plate search (issue #14): the search pipeline's plate ranking, then each hit given its
plate (text, alternatives, signed crop link, why it matched) and the "more like this vehicle"
path that continues the trail by appearance where the plate is unreadable."""

from __future__ import annotations

from detect.plate_values import PLATE_VEHICLES
from index.catalog import Principal, Session, plate_hit, plates_by_track_ids
from search_api.context import ApiContext
from search_api.links import picture_url
from search_api.plate_schemas import (
    PlateAlternative,
    PlateOut,
    PlateSearchHit,
    PlateSearchRequest,
    PlateSearchResponse,
)
from search_api.search_pipeline import ByPlate, SearchSpec, run_search

MORE_LIKE_THIS_PATH = "/api/v1/search/track/{track_id}"


def run_plate_search(
    context: ApiContext, session: Session, principal: Principal, body: PlateSearchRequest
) -> PlateSearchResponse:
    """authorize (role, case, purpose) → filters → plates → hits → audit (the caller commits)."""
    pattern = body.plate_pattern()
    spec = SearchSpec(
        query_type="plate",
        filters=body,
        ranking=ByPlate(pattern),
        top_k=body.top_k,
        offset=body.offset,
        classes=sorted(set(body.classes or PLATE_VEHICLES) & PLATE_VEHICLES),
        case_id=body.case_id,
        purpose=body.purpose,
        audit_fields={
            "pattern": pattern.text,
            "mode": pattern.mode,
            "max_distance": pattern.max_distance,
            "top_k": body.top_k,
            "offset": body.offset,
        },
    )
    outcome = run_search(context, session, principal, spec)
    plates = plates_by_track_ids(session, [hit.track_id for hit in outcome.hits])
    hits = []
    for hit in outcome.hits:
        matched = plate_hit(pattern, plates[hit.track_id])
        plate = matched.plate
        plate_out = PlateOut(
            text=plate.text,
            confidence=plate.confidence,
            colour=plate.colour,
            plate_format=plate.plate_format,
            alternatives=[PlateAlternative(text=t, score=s) for t, s in plate.alternatives],
            crop_url=picture_url(context, principal, plate.crop_key),
            matched_text=matched.matched_text,
            distance=matched.distance,
            why=matched.why,
        )
        hits.append(
            PlateSearchHit(
                **hit.model_dump(),
                plate=plate_out,
                more_like_this=MORE_LIKE_THIS_PATH.format(track_id=hit.track_id),
            )
        )
    return PlateSearchResponse(
        pattern=pattern.text,
        mode=pattern.mode,
        hits=hits,
        offset=body.offset,
        total=outcome.total or 0,
    )
