"""Cross-camera "hop" search: follow one person or vehicle from camera to camera.

Cameras are placed by latitude / longitude. The time to walk or drive between two cameras is
modelled as log-normal around `distance / typical speed` (people dawdle more often than they
rush, and nobody beats `distance / max speed`). A candidate in a neighbouring camera scores
`max(similarity, 0) × plausibility`, where plausibility is that density scaled to peak 1.

The query is the seed's embedding, refined Rocchio-style by the investigator's feedback:
`normalise(mean(seed + confirmed) − rejected_weight · mean(rejected))`. Under a case, the case's
hop decisions are feedback too (search_api/case_hops.py): tracks its confirmed hops link to the
seed join the trail; sightings it rejected still show, marked, after every undecided one, so
the investigator can see and withdraw them (ids sent in `rejected` are left out, as before).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from index.catalog import (
    Principal,
    Session,
    StoredTrack,
    searchable_cameras,
    tracks_by_ids,
    tracks_ending_between,
    tracks_starting_between,
)
from index.catalog.attributes import PERSON_CLASSES
from index.catalog.retention_plan import clips_unavailable
from search_api.case_hops import NO_FEEDBACK, CaseFeedback
from search_api.context import ApiContext
from search_api.errors import InvalidInput, NotFound
from search_api.schemas import HopCandidate, HopRequest, HopResponse, HopTrailHit
from search_api.search_service import ScoredTrack, hit_for, track_embedding

EARTH_RADIUS_M = 6_371_000.0
REJECTED_WEIGHT = 0.3


@dataclass(frozen=True)
class TravelModel:
    """How fast a class moves between cameras (m/s) and how spread its transit times are."""

    typical_speed_mps: float
    max_speed_mps: float
    log_sigma: float = 0.6
    slack_s: float = 10.0

    def expected_s(self, distance_m: float) -> float:
        return distance_m / self.typical_speed_mps + self.slack_s

    def window_s(self, distance_m: float) -> tuple[float, float]:
        """Shortest and longest plausible transit (3 sigma on the slow side)."""
        fastest = max(0.0, distance_m / self.max_speed_mps - self.slack_s)
        return fastest, self.expected_s(distance_m) * math.exp(3 * self.log_sigma)

    def plausibility(self, distance_m: float, transit_s: float) -> float:
        fastest, slowest = self.window_s(distance_m)
        if not fastest <= transit_s <= slowest:
            return 0.0
        ratio = max(transit_s, 1.0) / self.expected_s(distance_m)
        return math.exp(-0.5 * (math.log(ratio) / self.log_sigma) ** 2)


PERSON_TRAVEL = TravelModel(typical_speed_mps=1.4, max_speed_mps=4.0)
BICYCLE_TRAVEL = TravelModel(typical_speed_mps=4.5, max_speed_mps=10.0)
VEHICLE_TRAVEL = TravelModel(typical_speed_mps=8.0, max_speed_mps=25.0)


def travel_model(class_name: str) -> TravelModel:
    if class_name in PERSON_CLASSES:
        return PERSON_TRAVEL
    return BICYCLE_TRAVEL if class_name == "bicycle" else VEHICLE_TRAVEL


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


@dataclass(frozen=True)
class Neighbour:
    camera_id: str
    distance_m: float


def neighbours(
    session: Session, principal: Principal, camera_id: str, max_distance_m: float
) -> list[Neighbour]:
    """Other visible cameras with a position within `max_distance_m`, nearest first."""
    cameras = {camera.id: camera for camera in searchable_cameras(session)}
    origin = cameras.get(camera_id)
    if origin is None or origin.lat is None or origin.lon is None:
        raise InvalidInput(f"camera {camera_id!r} has no position (lat/lon): hop search needs one")
    found = []
    for camera in cameras.values():
        if camera.id == camera_id or camera.lat is None or camera.lon is None:
            continue
        if not principal.can_see(camera.id):
            continue
        metres = distance_m(origin.lat, origin.lon, camera.lat, camera.lon)
        if metres <= max_distance_m:
            found.append(Neighbour(camera.id, metres))
    return sorted(found, key=lambda n: n.distance_m)


def rocchio_query(positives: list[np.ndarray], negatives: list[np.ndarray]) -> np.ndarray:
    """Unit query vector: mean of the positives pushed away from the mean of the negatives."""
    query = np.mean(np.stack(positives), axis=0)
    if negatives:
        query = query - REJECTED_WEIGHT * np.mean(np.stack(negatives), axis=0)
    norm = float(np.linalg.norm(query))
    if norm < 1e-9:
        raise InvalidInput(
            "rejected: the rejected sightings cancel the query out; confirm one or reject fewer"
        )
    return (query / norm).astype(np.float32)


def _known_tracks(
    session: Session, principal: Principal, ids: list[int], field: str
) -> list[StoredTrack]:
    tracks = tracks_by_ids(session, ids)
    found = {t.id for t in tracks if principal.can_see(t.camera_id)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"{field}: track(s) {missing} not found")
    return tracks


@dataclass(frozen=True)
class _Pending:
    track_id: int
    direction: str
    from_track: StoredTrack
    neighbour: Neighbour
    transit_s: float


def _window_candidates(
    session: Session,
    anchor: StoredTrack,
    neighbour: Neighbour,
    model: TravelModel,
    direction: str,
) -> list[_Pending]:
    fastest, slowest = model.window_s(neighbour.distance_m)
    camera_id, class_name = neighbour.camera_id, anchor.class_name
    if direction == "forward":
        lower, upper = anchor.end_at + _s(fastest), anchor.end_at + _s(slowest)
        spans = tracks_starting_between(session, camera_id, class_name, lower, upper)
    else:
        lower, upper = anchor.start_at - _s(slowest), anchor.start_at - _s(fastest)
        spans = tracks_ending_between(session, camera_id, class_name, lower, upper)
    pending = []
    for span in spans:
        gap = (
            span.start_at - anchor.end_at
            if direction == "forward"
            else anchor.start_at - span.end_at
        )
        pending.append(_Pending(span.track_id, direction, anchor, neighbour, gap.total_seconds()))
    return pending


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def hop_search(
    context: ApiContext,
    session: Session,
    principal: Principal,
    seed: StoredTrack,
    request: HopRequest,
    case: CaseFeedback = NO_FEEDBACK,
) -> HopResponse:
    """The trail so far (seed + confirmed, time order) and ranked next sightings at both ends;
    `case`: what the request's case decided about this seed's trail."""
    confirmed = _known_tracks(session, principal, list(request.confirmed), "confirmed")
    rejected = _known_tracks(session, principal, list(request.rejected), "rejected")
    sent = {t.id for t in [*confirmed, *rejected]}  # the request's own feedback comes first
    confirmed += tracks_by_ids(session, sorted(case.confirmed - sent))
    trail_ids = {seed.id, *(t.id for t in confirmed)}
    case_rejected = tracks_by_ids(
        session, sorted(case.rejected - trail_ids - {t.id for t in rejected})
    )
    trail = sorted([seed, *confirmed], key=lambda t: t.start_at)
    query = rocchio_query(
        [track_embedding(context, t) for t in trail],
        [track_embedding(context, t) for t in [*rejected, *case_rejected]],
    )
    model = travel_model(seed.class_name)
    excluded = {t.id for t in trail} | {t.id for t in rejected}
    marked = {t.id for t in case_rejected}
    pending: dict[int, _Pending] = {}
    for anchor, direction in ((trail[-1], "forward"), (trail[0], "backward")):
        for neighbour in neighbours(session, principal, anchor.camera_id, request.max_distance_m):
            for item in _window_candidates(session, anchor, neighbour, model, direction):
                if item.track_id not in excluded:
                    pending.setdefault(item.track_id, item)
    similarity = {
        hit.track_id: hit.score
        for hit in context.vectors.search(query, max(1, len(pending)), allowed_ids=set(pending))
    }
    scored = []
    for track_id, item in pending.items():
        if track_id not in similarity:
            continue  # not in the vector index (other embedding version, or deleted)
        prior = model.plausibility(item.neighbour.distance_m, item.transit_s)
        sim = similarity[track_id]
        scored.append((max(sim, 0.0) * prior, sim, prior, item))
    scored.sort(key=lambda entry: (entry[3].track_id in marked, -entry[0]))  # rejected last
    tracks = {t.id: t for t in tracks_by_ids(session, [e[3].track_id for e in scored])}
    lost = clips_unavailable(session, [*tracks, *(t.id for t in trail)])  # no recording
    candidates = []
    for score, sim, prior, item in scored[: request.top_k]:
        hit = hit_for(
            context,
            principal,
            tracks[item.track_id],
            ScoredTrack(item.track_id, round(score, 4), round(sim, 4), {}, round(prior, 4)),
            clip_missing=item.track_id in lost,
        )
        candidates.append(
            HopCandidate(
                **hit.model_dump(),
                direction=item.direction,
                from_track_id=item.from_track.id,
                expected_transit_s=round(model.expected_s(item.neighbour.distance_m), 1),
                transit_s=round(item.transit_s, 1),
                distance_m=round(item.neighbour.distance_m, 1),
                decision="rejected" if item.track_id in marked else None,
            )
        )
    trail_hits = [
        HopTrailHit(
            **hit_for(
                context,
                principal,
                t,
                ScoredTrack(t.id, 1.0, round(float(query @ track_embedding(context, t)), 4)),
                clip_missing=t.id in lost,
            ).model_dump(),
            decision=None if t.id == seed.id else "confirmed",
        )
        for t in trail
    ]
    return HopResponse(trail=trail_hits, candidates=candidates)
