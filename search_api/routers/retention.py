"""Retention and legal hold endpoints (issue #17): tiers per camera group, a run or dry run
now, holds on cases. Admin only; every change is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from index.catalog import Session, append_audit
from index.catalog.camera_groups import UnknownCameraGroupError
from index.catalog.retention import (
    DEFAULT_TIER,
    RetentionPolicyError,
    UnknownCaseError,
    check_days,
    check_tier,
    file_case_material,
    legal_holds,
    place_legal_hold,
    release_legal_hold,
    retention_policy,
    set_retention_tier,
)
from index.retention import run_retention_job
from search_api.access import RETENTION_ADMIN
from search_api.context import ApiContext
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import InvalidInput, NotFound
from search_api.openapi import AUTH_RESPONSES
from search_api.retention_schemas import (
    FloorsOut,
    HoldIn,
    HoldOut,
    RetentionOut,
    RetentionRunOut,
    RetentionUpdate,
    TierOut,
)

router = APIRouter(tags=["retention"], responses=AUTH_RESPONSES)
ADMIN_ONLY = [requires(RETENTION_ADMIN)]


def _retention_out(session: Session, context: ApiContext) -> RetentionOut:
    config = context.retention
    policy = retention_policy(session, config.defaults)
    return RetentionOut(
        tiers=[TierOut.of(tier) for tier in policy.tiers],
        audit_days=policy.audit_days,
        floors=FloorsOut.of(config.floors),
        holds=[HoldOut.of(hold) for hold in legal_holds(session)],
    )


@router.get(
    "/retention", response_model=RetentionOut, summary="Retention tiers, floors and holds",
    dependencies=ADMIN_ONLY,
)  # fmt: skip
def read_retention(session: SessionDep, context: ContextDep) -> RetentionOut:
    return _retention_out(session, context)


@router.put(
    "/retention", response_model=RetentionOut, summary="Set retention tiers",
    dependencies=ADMIN_ONLY,
)  # fmt: skip
def write_retention(
    body: RetentionUpdate, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> RetentionOut:
    """Every tier is checked against the legal floors before any is written: one below its
    floor (or audit days below the audit floor) is refused with 422 naming the field, and
    nothing changes. An unknown group is 404."""
    floors = context.retention.floors
    try:
        for tier_in in body.tiers:
            check_tier(tier_in.tier(), floors)
        if body.audit_days is not None:
            check_days(body.audit_days, "audit_days", floors.audit_days)
        default_given = any(t.group == DEFAULT_TIER for t in body.tiers)
        if body.audit_days is not None and not default_given:
            current = retention_policy(session, context.retention.defaults).tier_for(None)
            set_retention_tier(session, current, floors, principal.name, body.audit_days)
        for tier_in in body.tiers:
            audit_days = body.audit_days if tier_in.group == DEFAULT_TIER else None
            set_retention_tier(session, tier_in.tier(), floors, principal.name, audit_days)
    except RetentionPolicyError as error:
        session.rollback()
        raise InvalidInput(str(error)) from error
    except UnknownCameraGroupError as error:
        session.rollback()
        raise NotFound(str(error)) from error
    append_audit(
        session, principal=principal.name, role=principal.role, action="set_retention",
        filters=body.model_dump(), target="retention",
    )  # fmt: skip
    session.commit()
    return _retention_out(session, context)


@router.post(
    "/retention/run", response_model=RetentionRunOut, summary="Run retention now (or dry run)",
    dependencies=ADMIN_ONLY,
)  # fmt: skip
def run_now(
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    dry_run: Annotated[bool, Query(description="report what would go; change nothing")] = True,
) -> RetentionRunOut:
    """Runs in the request (the daily run is the server's scheduled job); the job row (kind
    "retention") records it. Dry run by default: `dry_run=false` deletes."""
    append_audit(
        session, principal=principal.name, role=principal.role,
        action="retention_dry_run" if dry_run else "retention_run", target="retention",
    )  # fmt: skip
    session.commit()
    job_id, report = run_retention_job(
        context.sessions, context.store, context.vectors, context.retention, principal.name,
        dry=dry_run,
    )  # fmt: skip
    return RetentionRunOut(job_id=job_id, report=report.as_json())


@router.post(
    "/cases/{case_id}/hold", response_model=HoldOut, summary="Put a case on legal hold",
    dependencies=ADMIN_ONLY,
)  # fmt: skip
def hold_case(case_id: str, body: HoldIn, principal: PrincipalDep, session: SessionDep) -> HoldOut:
    """Nothing filed under the case (the tracks and events named here or before, the tracks
    viewed under it or hit by its watchlists, and their recordings) is deleted while held.
    On a case already on hold this files the material named and makes `reason` the hold's
    (`replaced_reason`: the one it had); the hold keeps its `held_at` and `held_by`."""
    try:
        filed = file_case_material(session, case_id, principal.name, body.track_ids,
                                   body.event_ids)  # fmt: skip
        placed = place_legal_hold(session, case_id, body.reason, principal.name)
    except UnknownCaseError as error:
        session.rollback()
        raise NotFound(str(error)) from error
    except (LookupError, ValueError) as error:  # ValueError: a reason of blanks only
        session.rollback()
        raise InvalidInput(str(error)) from error
    append_audit(
        session, principal=principal.name, role=principal.role, action="legal_hold",
        case_id=case_id, purpose=body.reason, target=f"case:{case_id}",
        filters={"track_ids": body.track_ids, "event_ids": body.event_ids, "filed": filed,
                 "replaced_reason": placed.reason_replaced},
    )  # fmt: skip
    session.commit()
    return HoldOut.of(placed.hold, placed.reason_replaced)


@router.delete(
    "/cases/{case_id}/hold", response_model=HoldOut, summary="Release a case's legal hold",
    dependencies=ADMIN_ONLY,
)  # fmt: skip
def release_case(case_id: str, principal: PrincipalDep, session: SessionDep) -> HoldOut:
    try:
        hold = release_legal_hold(session, case_id, principal.name)
    except UnknownCaseError as error:
        raise NotFound(str(error)) from error
    if hold is None:
        raise NotFound(f"case {case_id!r} is not on hold")
    append_audit(
        session, principal=principal.name, role=principal.role, action="release_legal_hold",
        case_id=case_id, target=f"case:{case_id}",
    )  # fmt: skip
    session.commit()
    return HoldOut.of(hold)
