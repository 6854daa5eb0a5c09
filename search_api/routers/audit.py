"""Audit endpoints for auditors (issue #17): read and filter the log, export it with its signed
checkpoints, verify the hash chain. Capability audit_read (admin, auditor); every read of the
audit log is itself an audit entry, appended before anything is returned."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from index.audit_export import MEDIA_TYPES, ExportFormat, export_lines
from index.catalog import (
    AuditEntry,
    AuditQuery,
    AuditVerification,
    Principal,
    Session,
    append_audit,
    audit_checkpoints,
    audit_page,
    iter_audit_entries,
    verify_audit_chain,
)
from search_api.access import AUDIT_READ
from search_api.context import ApiContext
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import InvalidInput, Unavailable
from search_api.openapi import AUTH_RESPONSES, MAX_CATALOG_ID, SearchTime
from storage.ed25519 import PublicKey

router = APIRouter(prefix="/audit", tags=["audit"], responses=AUTH_RESPONSES)
MAX_PAGE = 1000

PrincipalFilter = Annotated[str | None, Query(max_length=200, description="who acted")]
ActionFilter = Annotated[str | None, Query(max_length=64, description="e.g. search, clip_access")]
CaseFilter = Annotated[str | None, Query(max_length=64, description="case id")]
QueryTypeFilter = Annotated[str | None, Query(max_length=64, description="search type: image…")]
TimeFilter = Annotated[SearchTime | None, Query(description="entries within [start, end)")]


class AuditEntryOut(BaseModel):
    seq: int = Field(description="place in the hash chain")
    id: int
    at: datetime
    principal: str
    role: str
    action: str
    query_type: str | None
    case_id: str | None
    purpose: str | None
    filters: dict[str, Any]
    image_sha256: str | None
    hit_count: int | None
    target: str | None
    entry_hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            seq=entry.seq, id=entry.id, at=entry.at, principal=entry.principal, role=entry.role,
            action=entry.action, query_type=entry.query_type, case_id=entry.case_id,
            purpose=entry.purpose, filters=dict(entry.filters), image_sha256=entry.image_sha256,
            hit_count=entry.hit_count, target=entry.target, entry_hash=entry.entry_hash,
        )  # fmt: skip


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_after_seq: int | None = Field(description="pass as after_seq for the next page")


class AuditProblemOut(BaseModel):
    seq: int = Field(description="the entry at fault (0: not one entry, e.g. the triggers)")
    kind: str = Field(description="removed, inserted, altered, backdated, truncated, head, "
                      "checkpoint or triggers")  # fmt: skip
    detail: str


class AuditVerificationOut(BaseModel):
    ok: bool
    entries_checked: int
    first_seq: int
    last_seq: int
    checkpoints: int
    last_good_checkpoint: int = Field(description="newest checkpoint that verified (0: none)")
    problems: list[AuditProblemOut]

    @classmethod
    def of(cls, report: AuditVerification) -> AuditVerificationOut:
        return cls(
            ok=report.ok, entries_checked=report.entries_checked, first_seq=report.first_seq,
            last_seq=report.last_seq, checkpoints=report.checkpoints_checked,
            last_good_checkpoint=report.last_good_checkpoint,
            problems=[AuditProblemOut(seq=p.seq, kind=p.kind, detail=p.detail)
                      for p in report.problems],
        )  # fmt: skip


def _record_read(
    session: Session, principal: Principal, action: str, filters: dict[str, object], hits: int
) -> None:
    """Audit the auditor: what they read, with which filters, how many entries."""
    append_audit(
        session, principal=principal.name, role=principal.role, action=action,
        filters={k: v for k, v in filters.items() if v is not None}, hit_count=hits,
    )  # fmt: skip
    session.commit()


def _query(
    principal: str | None, action: str | None, case_id: str | None, query_type: str | None,
    start: datetime | None, end: datetime | None, after_seq: int = 0, limit: int = MAX_PAGE,
) -> AuditQuery:  # fmt: skip
    return AuditQuery(principal, action, case_id, query_type, start, end, after_seq, limit)


def _filters(query: AuditQuery) -> dict[str, object]:
    return {
        "principal": query.principal, "action": query.action, "case_id": query.case_id,
        "query_type": query.query_type,
        "start": None if query.since is None else query.since.isoformat(),
        "end": None if query.until is None else query.until.isoformat(),
    }  # fmt: skip


@router.get(
    "",
    response_model=AuditPage,
    summary="Audit entries in chain order, filtered and paged (audit_read)",
    dependencies=[requires(AUDIT_READ)],
)
def read_audit(
    principal: PrincipalDep,
    session: SessionDep,
    who: Annotated[str | None, Query(alias="principal", max_length=200)] = None,
    action: ActionFilter = None,
    case_id: CaseFilter = None,
    query_type: QueryTypeFilter = None,
    start: TimeFilter = None,
    end: TimeFilter = None,
    after_seq: Annotated[
        int, Query(ge=0, le=MAX_CATALOG_ID, description="entries after this one")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> AuditPage:
    query = _query(who, action, case_id, query_type, start, end, after_seq, limit)
    entries = audit_page(session, query)
    _record_read(session, principal, "audit_read",
                 {**_filters(query), "after_seq": after_seq or None}, len(entries))  # fmt: skip
    following = entries[-1].seq if len(entries) == limit else None
    return AuditPage(items=[AuditEntryOut.of(e) for e in entries], next_after_seq=following)


@router.get(
    "/export",
    summary="The audit log as JSON Lines or CSV, with its signed checkpoints (audit_read)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
    dependencies=[requires(AUDIT_READ)],
)
def export_audit(
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    output: Annotated[Literal["jsonl", "csv"], Query(alias="format")] = "jsonl",
    who: Annotated[str | None, Query(alias="principal", max_length=200)] = None,
    action: ActionFilter = None,
    case_id: CaseFilter = None,
    query_type: QueryTypeFilter = None,
    start: TimeFilter = None,
    end: TimeFilter = None,
) -> StreamingResponse:
    key = _audit_key(context).b64
    query = _query(who, action, case_id, query_type, start, end)
    _record_read(session, principal, "audit_export", {**_filters(query), "format": output}, 0)
    return StreamingResponse(
        _stream(context, query, key, output),
        media_type=MEDIA_TYPES[output],
        headers={"Content-Disposition": f'attachment; filename="audit.{output}"'},
    )


def _stream(context: ApiContext, query: AuditQuery, key: str, fmt: ExportFormat) -> Iterator[str]:
    """The export read in a session of its own (the request's closes before the body streams)."""
    with context.sessions() as session:
        entries = iter_audit_entries(session, query)
        yield from export_lines(entries, audit_checkpoints(session), key, fmt)


def _audit_key(context: ApiContext) -> PublicKey:
    if context.audit_public_key is None:
        raise Unavailable("no audit signing key configured")
    return context.audit_public_key


@router.get(
    "/verify",
    response_model=AuditVerificationOut,
    summary="Verify the hash chain, its signed checkpoints and triggers (audit_read)",
    dependencies=[requires(AUDIT_READ)],
)
def verify_audit(
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    from_seq: Annotated[
        int, Query(ge=1, le=MAX_CATALOG_ID, description="start at this entry")
    ] = 1,
) -> AuditVerificationOut:
    try:
        report = verify_audit_chain(session, _audit_key(context), from_seq)
    except ValueError as error:
        raise InvalidInput(f"from_seq: {error}") from error
    _record_read(session, principal, "audit_verify",
                 {"from_seq": from_seq, "ok": report.ok}, len(report.problems))  # fmt: skip
    return AuditVerificationOut.of(report)
