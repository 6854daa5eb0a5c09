"""A case's hop decisions as the API serves them (issue #18): the trail a reader sees and what
a hop search under the case takes from them (who may read and write the case:
access.readable_case / writable_case).

The rules mirror the tracks filed under a case: the case's creator (or an admin) decides while
the case is open; the creator, admins and auditors read; every reader sees only hops whose two
tracks are on cameras they may see. Links to a track's picture and clip go only to readers who
may view that track (TRACKS_VIEW, and PERSON_SEARCH for a person), so an auditor reads where
and when without the pictures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from index.catalog import CaseRecord, Principal, Session, StoredTrack, get_case, tracks_by_ids
from index.catalog.hops import HopDecision, case_hop_decisions
from index.catalog.retention_plan import clips_unavailable
from search_api.access import may_view_track, require_case_owner
from search_api.context import ApiContext
from search_api.errors import Forbidden
from search_api.hop_schemas import CaseHopOut, CaseHopsOut, HopTrackOut
from search_api.links import clip_url, picture_url


@dataclass(frozen=True)
class CaseFeedback:
    """What a case says about a seed's trail: tracks its confirmed hops link to the seed, and
    tracks it rejected against one of those (or the seed)."""

    confirmed: frozenset[int] = frozenset()
    rejected: frozenset[int] = frozenset()


NO_FEEDBACK = CaseFeedback()


def _visible_tracks(
    session: Session, principal: Principal, decisions: Iterable[HopDecision]
) -> dict[int, StoredTrack]:
    ids = {i for d in decisions for i in (d.from_track_id, d.to_track_id)}
    return {t.id: t for t in tracks_by_ids(session, sorted(ids)) if principal.can_see(t.camera_id)}


def seed_feedback(
    decisions: Iterable[HopDecision], visible: Mapping[int, object], seed_id: int
) -> CaseFeedback:
    """The seed's trail under the case: every track its confirmed hops link to the seed (only
    through tracks in `visible`), and the tracks rejected against a track on that trail."""
    decided = [d for d in decisions if d.from_track_id in visible and d.to_track_id in visible]
    linked: dict[int, set[int]] = {}
    for d in decided:
        if d.decision == "confirmed":
            linked.setdefault(d.from_track_id, set()).add(d.to_track_id)
            linked.setdefault(d.to_track_id, set()).add(d.from_track_id)
    trail, frontier = {seed_id}, [seed_id]
    while frontier:
        for other in linked.get(frontier.pop(), ()):
            if other not in trail:
                trail.add(other)
                frontier.append(other)
    rejected = set()
    for d in decided:
        if d.decision == "rejected":
            if d.from_track_id in trail:
                rejected.add(d.to_track_id)
            if d.to_track_id in trail:
                rejected.add(d.from_track_id)
    return CaseFeedback(frozenset(trail - {seed_id}), frozenset(rejected - trail))


def search_feedback(
    session: Session, principal: Principal, case_id: str | None, seed_id: int
) -> CaseFeedback:
    """What the hop search's case says about the seed's trail. A case named in a search must
    be the caller's (or the caller an admin): its decisions are its creator's work."""
    if case_id is None or not case_id.strip():
        return NO_FEEDBACK  # no case: a person search is refused for it by authorize_search
    case = get_case(session, case_id)
    if case is None:
        raise Forbidden(f"case_id: case {case_id!r} does not exist")
    require_case_owner(principal, case)
    decisions = case_hop_decisions(session, case_id)
    if not decisions:
        return NO_FEEDBACK
    return seed_feedback(decisions, _visible_tracks(session, principal, decisions), seed_id)


def track_out(
    context: ApiContext, principal: Principal, track: StoredTrack, clip_missing: bool
) -> HopTrackOut:
    """One end of a hop with its links signed for `principal` (none if it may not view it)."""
    links = may_view_track(principal, track)
    return HopTrackOut(
        track_id=track.id, camera_id=track.camera_id, class_name=track.class_name,
        start_at=track.start_at, end_at=track.end_at,
        thumbnail_url=picture_url(context, principal, track.thumbnail_key) if links else None,
        clip_url=(
            clip_url(context, principal, track.camera_id, track.start_at, track.end_at)
            if links and not clip_missing
            else None
        ),
        clip_available=not clip_missing,
    )  # fmt: skip


def hop_out(
    context: ApiContext,
    session: Session,
    principal: Principal,
    decision: HopDecision,
    previous: HopDecision | None = None,
) -> CaseHopOut:
    """One decision with both tracks (the caller has checked it may see both)."""
    ends = (decision.from_track_id, decision.to_track_id)
    tracks = {t.id: t for t in tracks_by_ids(session, list(ends))}
    lost = clips_unavailable(session, list(ends))
    return _hop_out(context, principal, decision, tracks, lost, previous)


def _hop_out(
    context: ApiContext,
    principal: Principal,
    decision: HopDecision,
    tracks: Mapping[int, StoredTrack],
    lost: set[int],
    previous: HopDecision | None = None,
) -> CaseHopOut:
    first, second = tracks[decision.from_track_id], tracks[decision.to_track_id]
    return CaseHopOut(
        from_track_id=decision.from_track_id, to_track_id=decision.to_track_id,
        decision=decision.decision, note=decision.note, decided_by=decision.decided_by,
        decided_at=decision.decided_at,
        from_track=track_out(context, principal, first, first.id in lost),
        to_track=track_out(context, principal, second, second.id in lost),
        previous_decision=None if previous is None else previous.decision,
    )  # fmt: skip


def case_trail(
    context: ApiContext, session: Session, principal: Principal, case: CaseRecord
) -> CaseHopsOut:
    """The case's confirmed hops by time and its rejected ones, between visible tracks."""
    decisions = case_hop_decisions(session, case.id)
    tracks = _visible_tracks(session, principal, decisions)
    shown = [d for d in decisions if d.from_track_id in tracks and d.to_track_id in tracks]
    lost = clips_unavailable(session, list(tracks))
    confirmed = sorted(
        (d for d in shown if d.decision == "confirmed"),
        key=lambda d: (tracks[d.from_track_id].start_at, tracks[d.to_track_id].start_at, d.id),
    )
    return CaseHopsOut(
        case_id=case.id,
        is_open=case.closed_at is None,
        confirmed=[_hop_out(context, principal, d, tracks, lost) for d in confirmed],
        rejected=[
            _hop_out(context, principal, d, tracks, lost) for d in shown if d.decision == "rejected"
        ],
    )
