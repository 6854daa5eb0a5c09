"""A case's hop decisions (issue #18): confirm or reject that two sightings on different cameras
are the same person or vehicle, withdraw a decision, read the case's trail. Kept in the catalog,
so every session of the case (and its export and legal hold) sees the same trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from index.catalog import append_audit
from index.catalog.hops import (
    HopDecisionError,
    HopPair,
    NewHopDecision,
    UnknownHopTrackError,
    decide_hop,
    withdraw_hop,
)
from index.catalog.retention import file_case_material
from search_api.access import CASE_REVIEW, CASES, readable_case, visible_track, writable_case
from search_api.case_hops import case_trail, hop_out
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import InvalidInput, NotFound
from search_api.hop_schemas import CaseHopOut, CaseHopsOut, HopDecisionIn
from search_api.openapi import AUTH_RESPONSES, MAX_CATALOG_ID

router = APIRouter(prefix="/cases", tags=["cases"], responses=AUTH_RESPONSES)
TrackIdQuery = Annotated[int, Query(ge=1, le=MAX_CATALOG_ID)]


def _pair(case_id: str, from_track_id: int, to_track_id: int) -> HopPair:
    try:
        return HopPair(case_id, from_track_id, to_track_id)
    except HopDecisionError as error:
        raise InvalidInput(str(error)) from error


@router.put(
    "/{case_id}/hops",
    response_model=CaseHopOut,
    summary="Confirm or reject a hop under a case",
    dependencies=[requires(CASES)],
)
def decide(
    case_id: str,
    body: HopDecisionIn,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> CaseHopOut:
    """The case's creator (or an admin), while the case is open, on tracks of cameras they may
    see (404 otherwise, as for filing tracks). Sending it again, or in the other order, changes
    the one decision on the pair. Confirming files both tracks under the case, so its export
    offers them and a legal hold keeps them."""
    writable_case(session, principal, case_id)
    for track_id in (body.from_track_id, body.to_track_id):
        visible_track(session, principal, track_id)  # 404 for unknown or unseen cameras
    pair = _pair(case_id, body.from_track_id, body.to_track_id)
    try:
        change = decide_hop(session, NewHopDecision(pair, body.decision, principal.name, body.note))
    except UnknownHopTrackError as error:
        raise NotFound(str(error)) from error
    except HopDecisionError as error:
        raise InvalidInput(str(error)) from error
    stored = change.decision
    filed = 0
    if stored.decision == "confirmed":
        ends = [stored.from_track_id, stored.to_track_id]
        filed = file_case_material(session, case_id, principal.name, ends)
    previous = None if change.previous is None else change.previous.decision
    append_audit(
        session, principal=principal.name, role=principal.role, action="decide_hop",
        case_id=case_id, target=f"case:{case_id}",
        filters={
            "from_track_id": stored.from_track_id, "to_track_id": stored.to_track_id,
            "decision": stored.decision, "previous": previous, "note": stored.note,
            "filed": filed,
        },
    )  # fmt: skip
    session.commit()
    return hop_out(context, session, principal, stored, change.previous)


@router.delete(
    "/{case_id}/hops",
    status_code=204,
    summary="Withdraw a hop decision",
    dependencies=[requires(CASES)],
)
def withdraw(
    case_id: str,
    from_track_id: TrackIdQuery,
    to_track_id: TrackIdQuery,
    principal: PrincipalDep,
    session: SessionDep,
) -> Response:
    """The pair goes back to undecided (either order); 404 when it was not decided. Tracks a
    confirmation filed under the case stay filed (evidence is not taken back)."""
    writable_case(session, principal, case_id)
    for track_id in (from_track_id, to_track_id):
        visible_track(session, principal, track_id)
    removed = withdraw_hop(session, _pair(case_id, from_track_id, to_track_id))
    if removed is None:
        raise NotFound(
            f"no decision on the hop {from_track_id} - {to_track_id} under case {case_id!r}"
        )
    append_audit(
        session, principal=principal.name, role=principal.role, action="withdraw_hop",
        case_id=case_id, target=f"case:{case_id}",
        filters={
            "from_track_id": removed.from_track_id, "to_track_id": removed.to_track_id,
            "decision": removed.decision,
        },
    )  # fmt: skip
    session.commit()
    return Response(status_code=204)


@router.get(
    "/{case_id}/hops",
    response_model=CaseHopsOut,
    summary="The case's trail: confirmed hops in time order, and the rejected ones",
    dependencies=[requires(CASES, CASE_REVIEW)],
)
def read_case_hops(
    case_id: str, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> CaseHopsOut:
    """The creator, admins and auditors read it; hops with a track on a camera the reader may
    not see are left out. The read is audited (it hands out links to the sightings)."""
    case = readable_case(session, principal, case_id)
    trail = case_trail(context, session, principal, case)
    append_audit(
        session, principal=principal.name, role=principal.role, action="read_case_hops",
        case_id=case_id, target=f"case:{case_id}",
        hit_count=len(trail.confirmed) + len(trail.rejected),
    )  # fmt: skip
    session.commit()
    return trail
