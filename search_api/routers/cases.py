"""Case endpoints: investigators open cases that person and plate searches are filed under."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from index.catalog import append_audit, close_case, create_case, get_case
from index.catalog.rows import CaseRow
from index.catalog.values import CaseRecord
from search_api.auth import SEARCH_ROLES, PrincipalDep, SessionDep, require_role
from search_api.schemas import CaseCreate, CaseOut

router = APIRouter(prefix="/cases", tags=["cases"])


def case_out(case: CaseRecord) -> CaseOut:
    return CaseOut(
        id=case.id,
        title=case.title,
        created_by=case.created_by,
        created_at=case.created_at,
        closed_at=case.closed_at,
        is_open=case.closed_at is None,
    )


@router.post("", response_model=CaseOut, status_code=201, summary="Open a case")
def open_case(body: CaseCreate, principal: PrincipalDep, session: SessionDep) -> CaseOut:
    require_role(principal, SEARCH_ROLES)
    try:
        case_id = create_case(session, body.title, principal.name)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"title: {error}") from error
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


@router.get("", response_model=list[CaseOut], summary="Cases, newest first")
def list_cases(
    principal: PrincipalDep, session: SessionDep, open_only: bool = False
) -> list[CaseOut]:
    require_role(principal, SEARCH_ROLES)
    statement = select(CaseRow).order_by(CaseRow.created_at.desc(), CaseRow.id)
    if open_only:
        statement = statement.where(CaseRow.closed_at.is_(None))
    return [
        CaseOut(
            id=row.id,
            title=row.title,
            created_by=row.created_by,
            created_at=row.created_at,
            closed_at=row.closed_at,
            is_open=row.closed_at is None,
        )
        for row in session.scalars(statement)
    ]


@router.get("/{case_id}", response_model=CaseOut, summary="One case")
def read_case(case_id: str, principal: PrincipalDep, session: SessionDep) -> CaseOut:
    require_role(principal, SEARCH_ROLES)
    case = get_case(session, case_id)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id!r} not found")
    return case_out(case)


@router.post("/{case_id}/close", response_model=CaseOut, summary="Close a case")
def close(case_id: str, principal: PrincipalDep, session: SessionDep) -> CaseOut:
    """Closed cases can no longer authorise searches; closing twice keeps the first time."""
    require_role(principal, SEARCH_ROLES)
    case = get_case(session, case_id)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id!r} not found")
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
