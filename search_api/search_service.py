"""The stages every search shares: ranking (by appearance or by attributes), hits with signed
links, and the audit entry. search_api/search_pipeline.py runs them in order for the
endpoints; the job runner (search_api/search_jobs.py) ranks in slices with the same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detect.reid_calibration import Calibration
from index.catalog import (
    SCAN_BATCH_ROWS,
    Principal,
    Session,
    StoredTrack,
    TrackQuery,
    Zone,
    append_audit,
    embedding_from_bytes,
    entered_zones,
    get_case,
    matching_track_ids,
    matching_tracks,
    tracks_by_ids,
)
from index.catalog.retention_plan import clips_unavailable
from search_api.context import ApiContext
from search_api.errors import Forbidden, InvalidInput
from search_api.links import clip_url, picture_url
from search_api.schemas import MatchReason, SearchHit, ZoneRef

MAX_SYNC_SCAN_ROWS = 200_000


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


# ---- ranking ---------------------------------------------------------------------------------


def allowed_track_ids(session: Session, query: TrackQuery) -> dict[int, Mapping[str, float]] | None:
    """Candidates for a vector pre-filter with their matched attributes; None: no restriction."""
    return matching_track_ids(session, query) if query.restricts_rows() else None


def similar_tracks(
    context: ApiContext,
    session: Session,
    embedding: np.ndarray,
    query: TrackQuery,
    top_k: int,
    exclude_ids: Collection[int] = (),
) -> list[ScoredTrack]:
    """Tracks most like `embedding` among those passing `query` (FAISS, pre-filtered by ids)."""
    candidates = allowed_track_ids(session, query)
    allowed = None if candidates is None else set(candidates) - set(exclude_ids)
    vector_hits = context.vectors.search(embedding, top_k + len(exclude_ids), allowed_ids=allowed)
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


def similar_tracks_in_slices(
    context: ApiContext,
    session: Session,
    embedding: np.ndarray,
    query: TrackQuery,
    top_k: int,
    exclude_ids: Collection[int],
    progress: Callable[[float], None],
    slice_tracks: int,
) -> list[ScoredTrack]:
    """`similar_tracks` for wide searches: candidates in slices of `slice_tracks`, `progress`
    called with the fraction done after each (it may raise to stop the search)."""
    ids = [m.track_id for m in matching_tracks(session, query) if m.track_id not in exclude_ids]
    best: dict[int, float] = {}
    for offset in range(0, len(ids), slice_tracks):
        allowed = set(ids[offset : offset + slice_tracks])
        for hit in context.vectors.search(embedding, top_k, allowed):
            best[hit.track_id] = hit.score
        best = dict(sorted(best.items(), key=lambda item: (-item[1], -item[0]))[:top_k])
        progress((offset + slice_tracks) / len(ids))
    return [ScoredTrack(i, round(s, 4), similarity=round(s, 4)) for i, s in best.items()]


def attribute_ranked(
    session: Session,
    query: TrackQuery,
    max_rows: int | None = MAX_SYNC_SCAN_ROWS,
    scanned: Callable[[int], None] | None = None,
    scanned_every_rows: int = SCAN_BATCH_ROWS,
) -> list[ScoredTrack]:
    """Tracks passing `query` (at most `max_rows` candidates read), best attribute confidence
    (the product over the attributes asked for) first, then newest first; `scanned` and
    `scanned_every_rows` as in `matching_tracks`."""
    scored = [
        ScoredTrack(
            match.track_id,
            round(float(np.prod(list(match.matched.values()) or [1.0])), 4),
            None,
            match.matched,
        )
        for match in matching_tracks(session, query, max_rows, scanned, scanned_every_rows)
    ]
    return sorted(scored, key=lambda s: -s.score)  # stable: newest first among equal scores


def track_embedding(context: ApiContext, track: StoredTrack) -> np.ndarray:
    """The stored embedding of `track` in the index's version; InvalidInput when it has none."""
    if track.embedding is None or track.embedding_version != context.vectors.embedding_version:
        raise InvalidInput(
            f"track_id: track {track.id} has no embedding of version "
            f"{context.vectors.embedding_version!r}; re-index it first"
        )
    return embedding_from_bytes(track.embedding)


# ---- hits ------------------------------------------------------------------------------------


def zone_ref(zone: Zone) -> ZoneRef:
    return ZoneRef(id=zone.id, name=zone.name, camera_id=zone.camera_id)


def match_calibration(context: ApiContext, class_name: str = "person") -> Calibration | None:
    """The calibration of the embedder's vectors for hits of a class (issue #16), if any."""
    calibration_for = getattr(context.embedder, "calibration_for", None)
    calibration = calibration_for(class_name) if callable(calibration_for) else None
    return calibration if isinstance(calibration, Calibration) else None


def match_confidence(
    context: ApiContext, class_name: str, similarity: float | None
) -> float | None:
    """Calibrated P(same object) of an appearance similarity: persons and vehicles each by
    their own mapping (fitted on their own tune split); other classes are not calibrated."""
    calibration = match_calibration(context, class_name)
    if calibration is None or similarity is None:
        return None
    return round(float(calibration.confidence(np.array([similarity]))[0]), 4)


def no_good_match(context: ApiContext, hits: Sequence[SearchHit]) -> bool | None:
    """True when no calibrated hit reaches the threshold; None where nothing is calibrated."""
    calibration = match_calibration(context)
    rated = [hit.confidence for hit in hits if hit.confidence is not None]
    if calibration is None or (hits and not rated):
        return None
    return not any(confidence >= calibration.threshold for confidence in rated)


def hit_for(
    context: ApiContext,
    viewer: Principal,
    track: StoredTrack,
    result: ScoredTrack,
    zones: Iterable[Zone] = (),
    clip_missing: bool = False,
) -> SearchHit:
    return SearchHit(
        track_id=track.id,
        camera_id=track.camera_id,
        class_name=track.class_name,
        start_at=track.start_at,
        end_at=track.end_at,
        score=result.score,
        confidence=match_confidence(context, track.class_name, result.similarity),
        thumbnail_url=picture_url(context, viewer, track.thumbnail_key),
        clip_url=None
        if clip_missing
        else clip_url(context, viewer, track.camera_id, track.start_at, track.end_at),
        clip_available=not clip_missing,
        best_shot_at=track.best_shot_at,
        attributes=dict(track.attributes),
        why=MatchReason(
            similarity=result.similarity,
            matched_attributes=dict(result.matched),
            plausibility=result.plausibility,
            zones=[zone_ref(zone) for zone in zones],
        ),
    )


def build_hits(
    context: ApiContext,
    session: Session,
    results: list[ScoredTrack],
    viewer: Principal,
    zone_ids: Collection[int] | None = None,
) -> list[SearchHit]:
    """Hits in ranking order with thumbnail and clip links signed for `viewer` (deleted
    tracks dropped); with the query's `zone_ids`, each hit names the zones it entered."""
    track_ids = [r.track_id for r in results]
    tracks = {t.id: t for t in tracks_by_ids(session, track_ids)}
    zones = entered_zones(session, track_ids, zone_ids or ())
    lost = clips_unavailable(session, track_ids)  # deleted, or never recorded
    return [
        hit_for(context, viewer, track, result, zones.get(track.id, ()), track.id in lost)
        for result in results
        if (track := tracks.get(result.track_id)) is not None
    ]


# ---- audit -----------------------------------------------------------------------------------


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


@contextmanager
def audit_denials(
    session: Session,
    principal: Principal,
    action: str,
    query_type: str | None = None,
    case_id: str | None = None,
    purpose: str | None = None,
    target: str | None = None,
) -> Iterator[None]:
    """Audit a refusal (Forbidden) raised in the block as `action`, then re-raise it.

    A refused look-up matters as much as a granted one (probing for cases, roles or cameras).
    The block runs before the request writes anything, so the session is rolled back and the
    denial committed on its own: the refused request's 403 does not roll the row back."""
    try:
        yield
    except Forbidden as error:
        session.rollback()
        known_case = case_id if case_id and get_case(session, case_id) is not None else None
        append_audit(
            session,
            principal=principal.name,
            role=principal.role,
            action=action,
            query_type=query_type,
            case_id=known_case,  # the column names real cases; the request's id is in filters
            purpose=purpose,
            filters={"denied": error.detail, "case_id": case_id},
            target=target,
        )
        session.commit()
        raise
