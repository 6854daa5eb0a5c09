"""Search logic shared by the routers and the job worker: filters, ranking, hits, access, audit."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from fastapi import HTTPException, status
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from detect.detections import DEFAULT_CLASSES
from index.catalog import append_audit, get_case, tracks_by_ids
from index.catalog.rows import CameraRow, TrackRow, TrackZoneRow
from index.catalog.values import MAX_TRACK_SPAN, Principal, StoredTrack, embedding_from_bytes
from search_api.attribute_filter import PERSON_CLASSES, AttributeFilter
from search_api.auth import SEARCH_ROLES, require_role, visible_cameras
from search_api.context import ApiContext
from search_api.links import clip_url, object_url
from search_api.schemas import MatchReason, SearchFiltersIn, SearchHit, ZoneRef
from search_api.search_zones import entered_zones, zone_cameras

SCAN_CHUNK_ROWS = 5000
MAX_SYNC_SCAN_ROWS = 200_000


@dataclass(frozen=True)
class SearchFilters:
    """Validated filters: None leaves a dimension unrestricted."""

    camera_ids: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    class_names: tuple[str, ...] | None = None
    attributes: AttributeFilter = field(default_factory=AttributeFilter)
    zone_ids: tuple[int, ...] | None = None

    def restricts_rows(self) -> bool:
        dimensions = (self.camera_ids, self.start, self.end, self.class_names, self.zone_ids)
        return any(v is not None for v in dimensions) or not self.attributes.is_empty()

    def as_json(self) -> dict[str, Any]:
        """The whole filter as JSON (audit entries, stored job requests); see `from_json`."""
        attributes: dict[str, Any] = self.attributes.as_json()
        if self.attributes.min_confidence:
            attributes["min_confidence"] = self.attributes.min_confidence
        return {
            "camera_ids": self.camera_ids,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "classes": None if self.class_names is None else list(self.class_names),
            "attributes": attributes,
            "zone_ids": None if self.zone_ids is None else list(self.zone_ids),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SearchFilters:
        def moment(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value)

        classes, zone_ids = doc.get("classes"), doc.get("zone_ids")
        return cls(
            camera_ids=doc.get("camera_ids"),
            start=moment(doc.get("start")),
            end=moment(doc.get("end")),
            class_names=None if classes is None else tuple(classes),
            attributes=AttributeFilter(**doc.get("attributes", {})),
            zone_ids=None if zone_ids is None else tuple(int(i) for i in zone_ids),
        )


@dataclass(frozen=True)
class ScoredTrack:
    """A ranked result before links are attached."""

    track_id: int
    score: float
    similarity: float | None = None
    matched: Mapping[str, float] = field(default_factory=dict)
    plausibility: float | None = None

    def as_json(self) -> dict[str, Any]:
        """Compact: fields without a value are left out."""
        doc: dict[str, Any] = {"track_id": self.track_id, "score": self.score}
        if self.similarity is not None:
            doc["similarity"] = self.similarity
        if self.matched:
            doc["matched"] = dict(self.matched)
        if self.plausibility is not None:
            doc["plausibility"] = self.plausibility
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ScoredTrack:
        return cls(
            int(doc["track_id"]),
            float(doc["score"]),
            doc.get("similarity"),
            dict(doc.get("matched") or {}),
            doc.get("plausibility"),
        )


# ---- filters, cameras and access -------------------------------------------------------------


def unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def require_cameras_exist(session: Session, camera_ids: Collection[str]) -> None:
    """404 naming the first camera id the catalog does not know."""
    known = set(session.scalars(select(CameraRow.id).where(CameraRow.id.in_(sorted(camera_ids)))))
    missing = sorted(set(camera_ids) - known)
    if missing:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"camera(s) {missing} not found")


def resolve_camera_ref(session: Session, ref: str) -> str:
    """A camera id for a reference from free text: the id itself, or "3" for cam3 / "3号" names."""
    rows = session.execute(select(CameraRow.id, CameraRow.name)).all()
    for camera_id, _name in rows:
        if camera_id == ref:
            return str(camera_id)
    if ref.isdigit():
        number = int(ref)
        for camera_id, name in rows:
            trailing = re.search(r"(\d+)$", camera_id)
            if trailing and int(trailing.group(1)) == number:
                return str(camera_id)
            if re.search(rf"(?<!\d){number}\s*号|(?:camera|cam)\s*#?\s*0*{number}\b", name, re.I):
                return str(camera_id)
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"camera {ref!r} not found")


def filters_from(session: Session, principal: Principal, request: SearchFiltersIn) -> SearchFilters:
    """Check a request's filters against the catalog and the caller's camera scope; a zone
    filter narrows the cameras to the zones' cameras."""
    camera_ids = request.camera_ids
    if camera_ids is not None:
        if not camera_ids:
            raise unprocessable("camera_ids: empty list")
        require_cameras_exist(session, camera_ids)
    zone_ids = None if request.zone_ids is None else tuple(sorted(set(request.zone_ids)))
    if zone_ids is not None:
        if not zone_ids:
            raise unprocessable("zone_ids: empty list")
        cameras = zone_cameras(session, principal, zone_ids)
        camera_ids = sorted(cameras if camera_ids is None else cameras & set(camera_ids))
    return SearchFilters(
        camera_ids=visible_cameras(principal, camera_ids),
        start=request.start,
        end=request.end,
        class_names=None if request.classes is None else tuple(request.classes),
        attributes=request.attribute_filter(),
        zone_ids=zone_ids,
    )


def authorize_search(
    session: Session,
    principal: Principal,
    class_names: Iterable[str] | None,
    case_id: str | None,
    purpose: str | None,
) -> None:
    """Role check, then: a search that may return persons needs an open case and a purpose."""
    require_role(principal, SEARCH_ROLES)
    classes = set(DEFAULT_CLASSES if class_names is None else class_names)
    if classes & PERSON_CLASSES:
        require_case(session, case_id, purpose, "searches for persons")


def require_case(session: Session, case_id: str | None, purpose: str | None, what: str) -> None:
    """403 naming what is missing unless `case_id` is an open case and `purpose` is given."""
    missing = [name for name, value in (("case_id", case_id), ("purpose", purpose)) if not value]
    if missing:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{what} need {' and '.join(missing)}: missing {missing}"
        )
    case = get_case(session, str(case_id))
    if case is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"case_id: case {case_id!r} does not exist")
    if case.closed_at is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"case_id: case {case_id!r} is closed")


def audit_search(
    session: Session,
    principal: Principal,
    query_type: str,
    filters: Mapping[str, Any],
    hit_count: int,
    case_id: str | None = None,
    purpose: str | None = None,
    image_sha256: str | None = None,
    target: str | None = None,
) -> None:
    append_audit(
        session,
        principal=principal.name,
        role=principal.role,
        action="search",
        query_type=query_type,
        case_id=case_id or None,
        purpose=purpose,
        filters=filters,
        image_sha256=image_sha256,
        hit_count=hit_count,
        target=target,
    )


# ---- candidate rows --------------------------------------------------------------------------


def _row_filter(statement: Select[Any], filters: SearchFilters) -> Select[Any]:
    if filters.camera_ids is not None:
        statement = statement.where(TrackRow.camera_id.in_(sorted(filters.camera_ids)))
    if filters.class_names is not None:
        statement = statement.where(TrackRow.class_name.in_(sorted(filters.class_names)))
    if filters.zone_ids is not None:
        in_zones = select(TrackZoneRow.track_id).where(TrackZoneRow.zone_id.in_(filters.zone_ids))
        statement = statement.where(TrackRow.id.in_(in_zones))
    if filters.end is not None:
        statement = statement.where(TrackRow.start_at < filters.end)
    if filters.start is not None:
        statement = statement.where(
            TrackRow.end_at > filters.start,
            TrackRow.start_at > filters.start - MAX_TRACK_SPAN,  # bounds the index range scan
        )
    return statement


def count_candidate_rows(session: Session, filters: SearchFilters) -> int:
    """How many rows `candidate_rows` yields (every filter but the attributes)."""
    if filters.camera_ids is not None and not filters.camera_ids:
        return 0
    return int(session.scalar(_row_filter(select(func.count(TrackRow.id)), filters)) or 0)


def candidate_rows(
    session: Session, filters: SearchFilters, max_rows: int | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(track id, attributes) of tracks passing the SQL filters (cameras, zones, time, class),
    newest first; the attribute filter is left to the caller."""
    if filters.camera_ids is not None and not filters.camera_ids:
        return
    statement = _row_filter(
        select(TrackRow.id, TrackRow.attributes).order_by(TrackRow.start_at.desc()), filters
    )
    if max_rows is not None:
        statement = statement.limit(max_rows)
    for track_id, attributes in session.execute(statement.execution_options(yield_per=5000)):
        yield int(track_id), attributes or {}


def matching_rows(
    session: Session, filters: SearchFilters, max_rows: int | None = None
) -> Iterator[tuple[int, dict[str, float]]]:
    """(track id, matched attribute confidences) of tracks passing every filter, newest first.

    Cameras, time and class are filtered in SQL; attributes in Python over the JSON document,
    so the same code runs on SQLite and PostgreSQL whatever shape the attributes take.
    """
    for track_id, attributes in candidate_rows(session, filters, max_rows):
        matched = filters.attributes.match(attributes)
        if matched is not None:
            yield track_id, matched


def allowed_track_ids(
    session: Session, filters: SearchFilters
) -> dict[int, dict[str, float]] | None:
    """Candidates for a vector pre-filter with their matched attributes; None: no restriction."""
    if not filters.restricts_rows():
        return None
    if filters.attributes.is_empty():  # ids straight from the (camera, time) index, no JSON
        if filters.camera_ids is not None and not filters.camera_ids:
            return {}
        statement = _row_filter(select(TrackRow.id), filters)
        return {int(track_id): {} for track_id in session.scalars(statement)}
    return dict(matching_rows(session, filters))


# ---- ranking ---------------------------------------------------------------------------------


def similar_tracks(
    context: ApiContext,
    session: Session,
    query: np.ndarray,
    filters: SearchFilters,
    top_k: int,
    exclude_ids: Collection[int] = (),
) -> list[ScoredTrack]:
    """Tracks most like `query` among those passing `filters` (FAISS, pre-filtered by ids)."""
    candidates = allowed_track_ids(session, filters)
    allowed = None if candidates is None else set(candidates) - set(exclude_ids)
    vector_hits = context.vectors.search(query, top_k + len(exclude_ids), allowed_ids=allowed)
    results = [
        ScoredTrack(
            hit.track_id,
            round(hit.score, 4),
            similarity=round(hit.score, 4),
            matched={} if candidates is None else candidates.get(hit.track_id, {}),
        )
        for hit in vector_hits
        if hit.track_id not in exclude_ids
    ]
    return results[:top_k]


def attribute_ranked(
    session: Session, filters: SearchFilters, max_rows: int = MAX_SYNC_SCAN_ROWS
) -> list[ScoredTrack]:
    """Tracks passing the filters, best attribute confidence first, then newest first."""
    scored = [
        ScoredTrack(
            track_id, round(float(np.prod(list(matched.values()) or [1.0])), 4), None, matched
        )
        for track_id, matched in matching_rows(session, filters, max_rows)
    ]
    return sorted(scored, key=lambda s: -s.score)  # stable: newest first among equal scores


def track_embedding(context: ApiContext, track: StoredTrack) -> np.ndarray:
    """The stored embedding of `track` in the index's version; 422 when it has none."""
    if track.embedding is None or track.embedding_version != context.vectors.embedding_version:
        raise unprocessable(
            f"track_id: track {track.id} has no embedding of version "
            f"{context.vectors.embedding_version!r}; re-index it first"
        )
    return embedding_from_bytes(track.embedding)


# ---- hits ------------------------------------------------------------------------------------


def hit_for(
    context: ApiContext,
    viewer: str,
    track: StoredTrack,
    result: ScoredTrack,
    zones: Iterable[ZoneRef] = (),
) -> SearchHit:
    return SearchHit(
        track_id=track.id,
        camera_id=track.camera_id,
        class_name=track.class_name,
        start_at=track.start_at,
        end_at=track.end_at,
        score=result.score,
        thumbnail_url=object_url(context, track.thumbnail_key),
        clip_url=clip_url(context, viewer, track.camera_id, track.start_at, track.end_at),
        best_shot_at=track.best_shot_at,
        attributes=dict(track.attributes),
        why=MatchReason(
            similarity=result.similarity,
            matched_attributes=dict(result.matched),
            plausibility=result.plausibility,
            zones=list(zones),
        ),
    )


def build_hits(
    context: ApiContext,
    session: Session,
    results: list[ScoredTrack],
    viewer: str,
    zone_ids: Collection[int] | None = None,
) -> list[SearchHit]:
    """Hits in ranking order with thumbnail and clip links signed for `viewer` (deleted
    tracks dropped); with the query's `zone_ids`, each hit names the zones it entered."""
    track_ids = [r.track_id for r in results]
    tracks = {t.id: t for t in tracks_by_ids(session, track_ids)}
    zones = entered_zones(session, track_ids, zone_ids or ())
    return [
        hit_for(context, viewer, track, result, zones.get(track.id, ()))
        for result in results
        if (track := tracks.get(result.track_id)) is not None
    ]
