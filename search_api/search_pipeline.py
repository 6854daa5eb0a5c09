"""The search pipeline: authorize → filters → rank → hits → audit, one function for every
search endpoint (picture, track, attributes, text).

A `SearchSpec` says what to search: where the filters come from (a structured request or parsed
free text), how to rank (`ByPicture`, `ByTrack`, `ByAttributes`), the page and what the
audit entry adds. Search jobs run the first stages when they are started (`authorized_query`,
then the audit) and the ranking later on the job runner (`rank_in_slices`). Hop search ranks by
travel time as well and builds its own reply (search_api/hop.py); it shares the stages' functions.
The caller commits the session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from detect.plate_match import PlatePattern
from detect.query import (
    MAX_IMAGE_BYTES,
    QueryImageError,
    QueryObject,
    decode_image,
    detect_query_object,
    whole_image_query,
)
from index.catalog import (
    Principal,
    Session,
    StoredTrack,
    TrackQuery,
    count_candidate_tracks,
    search_plates,
)
from search_api.access import authorize_plate_search, authorize_search
from search_api.context import ApiContext
from search_api.errors import InvalidInput, PayloadTooLarge
from search_api.query_text import TextQuery
from search_api.schemas import ParsedText, SearchFiltersIn, SearchHit
from search_api.search_filters import ResolvedQuery, filters_from, text_filters
from search_api.search_service import (
    ScoredTrack,
    attribute_ranked,
    audit_denials,
    audit_search,
    build_hits,
    similar_tracks,
    similar_tracks_in_slices,
    track_embedding,
)

# ---- what to search --------------------------------------------------------------------------


@dataclass(frozen=True)
class ByTrack:
    """Tracks that look most like a stored track ("more like this"; the track left out)."""

    seed: StoredTrack


@dataclass(frozen=True)
class ByPicture:
    """Tracks that look like the largest object of `class_names` in an uploaded picture (or
    like the whole picture, when it already shows just the object)."""

    image: bytes = field(repr=False)
    class_names: tuple[str, ...]
    whole_image: bool = False


@dataclass(frozen=True)
class ByAttributes:
    """Every track passing the query, best attribute confidence first, then newest first."""


@dataclass(frozen=True)
class ByPlate:
    """Vehicle tracks whose plate matches `pattern` (exact, prefix, contains, wildcard: newest
    first; fuzzy: nearest first). Needs a case and a purpose whatever the classes."""

    pattern: PlatePattern


Ranking = ByTrack | ByPicture | ByAttributes | ByPlate

# Appearance searches return the query object's kind unless the request names classes: the
# detector confuses classes within a kind (a pickup is a car or a truck), not across kinds.
OBJECT_KINDS: tuple[frozenset[str], ...] = (
    frozenset({"person"}),
    frozenset({"car", "truck", "bus"}),
    frozenset({"bicycle", "motorcycle"}),
)


def same_kind(class_name: str) -> tuple[str, ...]:
    """The classes an appearance search for a `class_name` object returns by default."""
    kind = next((k for k in OBJECT_KINDS if class_name in k), frozenset({class_name}))
    return tuple(sorted(kind))
FilterSource = SearchFiltersIn | TextQuery


@dataclass(frozen=True)
class SearchSpec:
    """One search as an endpoint received it: `query_type` names it in the audit log,
    `classes` are the classes it can return (its class filter; None: any class, persons
    included) and decide whether it needs a case, whatever its seed."""

    query_type: str
    filters: FilterSource
    ranking: Ranking
    top_k: int
    classes: Sequence[str] | None = None
    offset: int = 0
    case_id: str | None = None
    purpose: str | None = None
    audit_fields: Mapping[str, Any] = field(default_factory=dict)
    target: str | None = None


@dataclass(frozen=True)
class Ranked:
    """One page of ranked tracks; `total` counts every match when the ranking knows it."""

    results: list[ScoredTrack]
    total: int | None = None
    picture_object: QueryObject | None = None


@dataclass(frozen=True)
class SearchOutcome:
    query: TrackQuery
    hits: list[SearchHit]
    total: int | None
    parsed: ParsedText | None = None
    picture_object: QueryObject | None = None


# ---- stages ----------------------------------------------------------------------------------


def authorized_query(session: Session, principal: Principal, spec: SearchSpec) -> ResolvedQuery:
    """authorize → filters: Forbidden unless the caller may run this search (role; a case and
    a purpose when persons may be returned), then the filters resolved against the catalog.
    A refusal (role, case, cameras) is audited as `search_denied` before it is raised."""
    with audit_denials(
        session, principal, "search_denied", spec.query_type, spec.case_id, spec.purpose,
        spec.target,
    ):  # fmt: skip
        if isinstance(spec.ranking, ByPlate):
            authorize_plate_search(session, principal, spec.case_id, spec.purpose)
        else:
            authorize_search(session, principal, spec.classes, spec.case_id, spec.purpose)
        if isinstance(spec.filters, TextQuery):
            return text_filters(session, principal, spec.filters)
        return ResolvedQuery(filters_from(session, principal, spec.filters))


def picture_object(context: ApiContext, ranking: ByPicture) -> QueryObject:
    """The picture's object, embedded; InvalidInput (PayloadTooLarge) when it cannot be used."""
    try:
        picture = decode_image(ranking.image)
        if ranking.whole_image:
            return whole_image_query(picture, context.embedder, ranking.class_names[0])
        return detect_query_object(
            picture, context.detector, context.embedder, list(ranking.class_names)
        )
    except QueryImageError as error:  # the message names the field, as the router's do
        if len(ranking.image) > MAX_IMAGE_BYTES:
            raise PayloadTooLarge(f"image: {error}") from error
        raise InvalidInput(f"image: {error}") from error


def rank(
    context: ApiContext,
    session: Session,
    ranking: Ranking,
    query: TrackQuery,
    top_k: int,
    offset: int = 0,
) -> Ranked:
    """One page of the tracks passing `query`, best first."""
    match ranking:
        case ByTrack(seed):
            embedding = track_embedding(context, seed)
            return Ranked(similar_tracks(context, session, embedding, query, top_k, {seed.id}))
        case ByPicture():
            found = picture_object(context, ranking)
            if query.class_names is None:
                query = replace(query, class_names=same_kind(found.class_name))
            results = similar_tracks(context, session, found.embedding, query, top_k)
            return Ranked(results, picture_object=found)
        case ByAttributes():
            ranked = attribute_ranked(session, query)
            return Ranked(ranked[offset : offset + top_k], total=len(ranked))
        case ByPlate(pattern):
            plates = search_plates(session, pattern, query, top_k, offset)
            results = [
                ScoredTrack(hit.plate.track_id, plate_score(pattern, hit.distance))
                for hit in plates.hits
            ]
            return Ranked(results, total=plates.total)


def rank_in_slices(
    context: ApiContext,
    session: Session,
    ranking: ByTrack | ByAttributes,
    query: TrackQuery,
    top_k: int,
    progress: Callable[[float], None],
    slice_tracks: int,
    progress_every_rows: int,
) -> list[ScoredTrack]:
    """The best `top_k` of a wide search, `progress` called with the fraction done as it goes
    (it may raise to stop the search): appearance in vector searches of `slice_tracks`
    candidates, attributes after every `progress_every_rows` rows scanned out of those passing
    the SQL filters. No row limit."""
    match ranking:
        case ByTrack(seed):
            embedding = track_embedding(context, seed)
            return similar_tracks_in_slices(
                context, session, embedding, query, top_k, {seed.id}, progress, slice_tracks
            )
        case ByAttributes():
            total = max(count_candidate_tracks(session, query), 1)
            ranked = attribute_ranked(
                session, query, None, lambda rows: progress(rows / total), progress_every_rows
            )
            return ranked[:top_k]


def run_search(
    context: ApiContext, session: Session, principal: Principal, spec: SearchSpec
) -> SearchOutcome:
    """authorize → filters → rank → hits → audit (the caller commits)."""
    resolved = authorized_query(session, principal, spec)
    query = resolved.query
    ranked = rank(context, session, spec.ranking, query, spec.top_k, spec.offset)
    hits = build_hits(context, session, ranked.results, principal, query.zone_ids)
    audit_search(
        session,
        principal,
        spec.query_type,
        {**query.as_json(), **spec.audit_fields},
        len(hits) if ranked.total is None else ranked.total,
        spec.case_id,
        spec.purpose,
        image_sha256=image_sha256(spec.ranking),
        target=spec.target,
    )
    return SearchOutcome(query, hits, ranked.total, resolved.parsed, ranked.picture_object)


def image_sha256(ranking: Ranking) -> str | None:
    """The SHA-256 of a searched picture (audited instead of the picture)."""
    if not isinstance(ranking, ByPicture):
        return None
    return hashlib.sha256(ranking.image).hexdigest()


def plate_score(pattern: PlatePattern, distance: float) -> float:
    """A plate hit's score in [0, 1]: 1 for a pattern match, else 1 − distance per query
    character (a fuzzy hit one look-alike away from an 8-character plate scores 0.96)."""
    return round(max(0.0, 1.0 - distance / max(len(pattern.text), 1)), 4)
