"""Case endpoints: investigators open cases that person and plate searches are filed under."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from index.catalog import (
    CaseRecord,
    append_audit,
    close_case,
    create_case,
    get_case,
    list_cases,
    tracks_by_ids,
)
from index.catalog.audit import audit_page
from index.catalog.audit_values import AuditQuery
from index.catalog.retention import case_tracks, file_case_material
from index.catalog.watchlists import list_watchlists
from search_api.access import (
    CASE_REVIEW,
    CASES,
    existing_case,
    has_capability,
    readable_case,
    require_case_owner,
    visible_track,
    writable_case,
)
from search_api.account_schemas import (
    CaseActivityEntry,
    CaseActivityOut,
    CaseTracksIn,
    CaseTracksOut,
    CaseWatchlistOut,
)
from search_api.deps import PrincipalDep, SessionDep, requires
from search_api.errors import InvalidInput
from search_api.openapi import AUTH_RESPONSES
from search_api.schemas import CaseCreate, CaseOut

router = APIRouter(prefix="/cases", tags=["cases"], responses=AUTH_RESPONSES)


def case_out(case: CaseRecord) -> CaseOut:
    return CaseOut(
        id=case.id,
        title=case.title,
        created_by=case.created_by,
        created_at=case.created_at,
        closed_at=case.closed_at,
        is_open=case.closed_at is None,
    )


@router.post(
    "",
    response_model=CaseOut,
    status_code=201,
    summary="Open a case",
    dependencies=[requires(CASES)],
)
def open_case(body: CaseCreate, principal: PrincipalDep, session: SessionDep) -> CaseOut:
    try:
        case_id = create_case(session, body.title, principal.name)
    except ValueError as error:
        raise InvalidInput(f"title: {error}") from error
    append_audit(
        session,
        principal=principal.name,
        role=principal.role,
        action="open_case",
        case_id=case_id,
        target=f"case:{case_id}",
    )
    session.commit()
    case = get_case(session, case_id)
    assert case is not None
    return case_out(case)


@router.get(
    "",
    response_model=list[CaseOut],
    summary="Cases, newest first",
    dependencies=[requires(CASES, CASE_REVIEW)],
)
def read_cases(
    principal: PrincipalDep, session: SessionDep, open_only: bool = False
) -> list[CaseOut]:
    """The caller's own cases; admins and auditors (case_review) see every case. A case's
    title names an investigation: other investigators neither see nor may use it."""
    every_case = has_capability(principal, CASE_REVIEW)
    return [
        case_out(case)
        for case in list_cases(session, open_only)
        if every_case or case.created_by == principal.name
    ]


@router.get(
    "/{case_id}",
    response_model=CaseOut,
    summary="One case",
    dependencies=[requires(CASES, CASE_REVIEW)],
)
def read_case(case_id: str, principal: PrincipalDep, session: SessionDep) -> CaseOut:
    """Its creator, admins and auditors read a case (403 for other investigators)."""
    case = readable_case(session, principal, case_id)
    return case_out(case)


@router.post(
    "/{case_id}/close",
    response_model=CaseOut,
    summary="Close a case",
    dependencies=[requires(CASES)],
)
def close(case_id: str, principal: PrincipalDep, session: SessionDep) -> CaseOut:
    """Closed cases can no longer authorise searches; closing twice keeps the first time.
    Only the case's creator or an admin may close it (403 otherwise)."""
    case = existing_case(session, case_id)
    require_case_owner(principal, case)
    if case.closed_at is None:
        case = close_case(session, case_id)
        append_audit(
            session,
            principal=principal.name,
            role=principal.role,
            action="close_case",
            case_id=case_id,
            target=f"case:{case_id}",
        )
        session.commit()
    return case_out(case)


@router.get(
    "/{case_id}/activity",
    response_model=CaseActivityOut,
    summary="Everything done under a case: searches, views, watchlists, exports",
    dependencies=[requires(CASES, CASE_REVIEW)],
)
def read_case_activity(
    case_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    after_seq: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> CaseActivityOut:
    """The case's audit trail (every entry filed under it, oldest first, paged by `after_seq`)
    and its watchlists. The case's creator and admins see it, and auditors see any case; the
    read is audited too."""
    case = readable_case(session, principal, case_id)
    entries = audit_page(session, AuditQuery(case_id=case_id, after_seq=after_seq, limit=limit))
    watchlists = [w for w in list_watchlists(session) if w.case_id == case_id]
    append_audit(
        session, principal=principal.name, role=principal.role, action="read_case_activity",
        case_id=case_id, target=f"case:{case_id}", hit_count=len(entries),
    )  # fmt: skip
    session.commit()
    return CaseActivityOut(
        case_id=case.id, title=case.title, created_by=case.created_by,
        is_open=case.closed_at is None,
        watchlists=[
            CaseWatchlistOut(
                id=w.id, name=w.name, purpose=w.purpose, created_by=w.created_by,
                created_at=w.created_at, expires_at=w.expires_at, ended_at=w.ended_at,
                ended_reason=w.ended_reason,
            )
            for w in watchlists
        ],
        activity=[
            CaseActivityEntry(
                seq=e.seq, at=e.at, principal=e.principal, role=e.role, action=e.action,
                query_type=e.query_type, purpose=e.purpose, hit_count=e.hit_count,
                target=e.target, filters=dict(e.filters),
            )
            for e in entries
        ],
        next_after_seq=entries[-1].seq if len(entries) == limit else None,
    )  # fmt: skip


@router.post(
    "/{case_id}/tracks",
    response_model=CaseTracksOut,
    summary="File tracks under a case",
    dependencies=[requires(CASES)],
)
def file_tracks(
    case_id: str, body: CaseTracksIn, principal: PrincipalDep, session: SessionDep
) -> CaseTracksOut:
    """The case's creator (or an admin) files tracks of cameras they may see under the open
    case: its export offers them and a legal hold keeps them. Filing twice keeps one entry."""
    writable_case(session, principal, case_id)
    for track_id in body.track_ids:
        visible_track(session, principal, track_id)  # 404 for unknown or unseen cameras
    added = file_case_material(session, case_id, principal.name, body.track_ids)
    append_audit(
        session, principal=principal.name, role=principal.role, action="file_case_tracks",
        case_id=case_id, target=f"case:{case_id}",
        filters={"track_ids": body.track_ids, "added": added},
    )  # fmt: skip
    session.commit()
    return CaseTracksOut(case_id=case_id, track_ids=case_tracks(session, case_id))


@router.get(
    "/{case_id}/tracks",
    response_model=CaseTracksOut,
    summary="The tracks filed under a case",
    dependencies=[requires(CASES, CASE_REVIEW)],
)
def read_case_tracks(case_id: str, principal: PrincipalDep, session: SessionDep) -> CaseTracksOut:
    """The creator, admins and auditors read it; tracks on cameras the caller may not see are
    left out."""
    readable_case(session, principal, case_id)
    filed = case_tracks(session, case_id)
    seen = {
        track.id for track in tracks_by_ids(session, filed) if principal.can_see(track.camera_id)
    }
    return CaseTracksOut(case_id=case_id, track_ids=[t for t in filed if t in seen])
