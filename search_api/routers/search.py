"""Search endpoints: find tracks that look like an uploaded picture."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile, status

from detect.detections import COCO_CLASSES, DEFAULT_CLASSES
from detect.query import (
    MAX_IMAGE_BYTES,
    QueryImageError,
    decode_image,
    detect_query_object,
    whole_image_query,
)
from index.catalog import append_audit, track_ids_matching, tracks_by_ids
from search_api.auth import SEARCH_ROLES, PrincipalDep, SessionDep, require_role, visible_cameras
from search_api.context import ApiContext, api_context
from search_api.links import clip_url, object_url
from search_api.schemas import QueryInfo, SearchHit, SearchResponse

router = APIRouter(prefix="/search", tags=["search"])


def split_list(value: str | None, field: str) -> list[str] | None:
    if value is None or not value.strip():
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{field}: empty list")
    return items


@router.post("/image", response_model=SearchResponse, summary="Find tracks like this picture")
async def search_by_image(
    principal: PrincipalDep,
    session: SessionDep,
    context: Annotated[ApiContext, Depends(api_context)],
    image: Annotated[UploadFile, File(description="JPEG/PNG of a scene or of one object")],
    camera_ids: Annotated[str | None, Form(description="comma-separated camera ids")] = None,
    start: Annotated[datetime | None, Form(description="UTC, ISO 8601")] = None,
    end: Annotated[datetime | None, Form(description="UTC, ISO 8601")] = None,
    classes: Annotated[str | None, Form(description="comma-separated COCO class names")] = None,
    top_k: Annotated[int, Form(ge=1, le=500)] = 20,
    whole_image: Annotated[
        bool, Form(description="the picture already shows just the object")
    ] = False,
    case_id: Annotated[str | None, Form()] = None,
    purpose: Annotated[str | None, Form()] = None,
) -> SearchResponse:
    require_role(principal, SEARCH_ROLES)
    data = await image.read(MAX_IMAGE_BYTES + 1)
    class_names = split_list(classes, "classes") or list(DEFAULT_CLASSES)
    unknown = sorted(set(class_names) - set(COCO_CLASSES))
    if unknown:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"classes: unknown {unknown}")
    if start and end and end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end: must be after start")
    cameras = visible_cameras(principal, split_list(camera_ids, "camera_ids"))
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

    filtered = cameras is not None or start is not None or end is not None or classes is not None
    allowed = track_ids_matching(session, cameras, start, end, class_names) if filtered else None
    vector_hits = context.vectors.search(query.embedding, top_k, allowed_ids=allowed)
    rows = {row.id: row for row in tracks_by_ids(session, [h.track_id for h in vector_hits])}
    hits = [
        SearchHit(
            track_id=row.id,
            camera_id=row.camera_id,
            class_name=row.class_name,
            start_at=row.start_at,
            end_at=row.end_at,
            score=round(hit.score, 4),
            thumbnail_url=object_url(context, row.thumbnail_key),
            clip_url=clip_url(context, session, row.camera_id, row.start_at),
        )
        for hit in vector_hits
        if (row := rows.get(hit.track_id)) is not None
    ]
    append_audit(
        session,
        principal=principal.name,
        role=principal.role,
        action="search",
        query_type="image",
        case_id=case_id,
        purpose=purpose,
        filters={
            "camera_ids": cameras,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
            "classes": class_names,
            "top_k": top_k,
        },
        image_sha256=hashlib.sha256(data).hexdigest(),
        hit_count=len(hits),
    )
    session.commit()
    return SearchResponse(query=QueryInfo(class_name=query.class_name, box=query.box), hits=hits)
