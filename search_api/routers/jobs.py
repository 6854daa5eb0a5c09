"""Search job endpoints: start a wide search, poll its progress, page its results, cancel it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from index.catalog import (
    JobRecord,
    Principal,
    Session,
    append_audit,
    cancel_live_job,
    get_job,
    job_owner,
    tracks_by_ids,
)
from search_api.access import OBJECT_SEARCH, visible_track
from search_api.context import ApiContext
from search_api.deps import ContextDep, PrincipalDep, RunnerDep, SessionDep, requires
from search_api.errors import NotFound
from search_api.openapi import AUTH_RESPONSES, MAX_CATALOG_ID
from search_api.schemas import JobOut, SearchJobRequest
from search_api.search_filters import parse_text
from search_api.search_jobs import job_request, job_zone_ids
from search_api.search_pipeline import (
    ByAttributes,
    ByTrack,
    FilterSource,
    SearchSpec,
    authorized_query,
    same_kind,
)
from search_api.search_service import ScoredTrack, audit_search, build_hits, track_embedding

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=AUTH_RESPONSES)


def owned_job(session: Session, principal: Principal, job_id: str) -> JobRecord:
    """The job if the caller's key started it (admins see all); NotFound otherwise. Owners are
    key ids: two keys that share a name never share jobs."""
    job = get_job(session, job_id)
    owner = job_owner(session, job_id)
    if job is None or (principal.role != "admin" and owner != principal.principal_id):
        raise NotFound(f"job {job_id!r} not found")
    return job


def visible_results(
    session: Session, principal: Principal, ranked: list[ScoredTrack]
) -> list[ScoredTrack]:
    """The results on cameras the reader may see, in ranking order."""
    if principal.camera_ids is None:
        return ranked
    tracks = tracks_by_ids(session, [r.track_id for r in ranked])
    visible = {t.id for t in tracks if principal.can_see(t.camera_id)}
    return [r for r in ranked if r.track_id in visible]


def job_out(
    context: ApiContext,
    session: Session,
    principal: Principal,
    job: JobRecord,
    offset: int,
    limit: int,
) -> JobOut:
    """The job's state and one page of its results, links signed for the caller; results on
    cameras outside the reader's scope are left out (an admin limited to cam1 reading a job
    that ranked every camera sees only cam1)."""
    result = job.result or {}
    ranked = visible_results(
        session, principal, [ScoredTrack.from_json(doc) for doc in result.get("hits", [])]
    )
    page = ranked[offset : offset + limit]
    return JobOut(
        id=job.id,
        kind=job.kind,
        state=job.state,
        progress=job.progress,
        error=job.error,
        created_at=job.created_at,
        updated_at=job.updated_at,
        total_hits=result.get("total") if principal.camera_ids is None else len(ranked),
        offset=offset,
        hits=build_hits(context, session, page, principal, job_zone_ids(job.params)),
    )


@router.post(
    "/search",
    response_model=JobOut,
    status_code=202,
    summary="Start a wide search",
    dependencies=[requires(OBJECT_SEARCH)],
)
def start_search_job(
    body: SearchJobRequest,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    runner: RunnerDep,
) -> JobOut:
    """Returns at once with the job id; poll GET /jobs/{id} for progress and results. The job
    is stored with its request and survives an API restart."""
    filters: FilterSource = body
    ranking: ByTrack | ByAttributes = ByAttributes()
    classes: Sequence[str] | None = body.classes
    if body.kind == "track":
        seed = visible_track(session, principal, int(body.track_id or 0))
        track_embedding(context, seed)  # 422 now, not a failed job later
        ranking = ByTrack(seed)
        classes = body.classes or list(same_kind(seed.class_name))  # as /search/track
        filters = body.model_copy(update={"classes": classes})
    elif body.kind == "text":
        zone = body.timezone or context.default_timezone  # as /search/text
        filters = parse_text(session, principal, str(body.text), datetime.now(UTC), zone)
        classes = filters.class_names or None
    spec = SearchSpec(
        query_type=f"job:{body.kind}",
        filters=filters,
        ranking=ranking,
        top_k=body.top_k,
        classes=classes,
        case_id=body.case_id,
        purpose=body.purpose,
    )
    query = authorized_query(session, principal, spec).query  # the ranking runs on the runner
    request = job_request(
        body.kind, principal.role, query, body.top_k, body.track_id, body.text, body.case_id,
        principal_name=principal.name,
    )  # fmt: skip
    job_id = runner.create(session, principal.principal_id, request)
    audit_search(
        session, principal, spec.query_type, request, 0, body.case_id, body.purpose,
        target=f"job:{job_id}",
    )  # fmt: skip
    session.commit()
    runner.submit(job_id)
    return job_out(context, session, principal, owned_job(session, principal, job_id), 0, 0)


@router.get(
    "/{job_id}",
    response_model=JobOut,
    summary="Progress and one page of results",
    dependencies=[requires(OBJECT_SEARCH)],
)
def read_job(
    job_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    offset: Annotated[int, Query(ge=0, le=MAX_CATALOG_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JobOut:
    """Every read that hands out results is audited (under the job's case), like a search."""
    job = owned_job(session, principal, job_id)
    out = job_out(context, session, principal, job, offset, limit)
    if out.hits:
        append_audit(
            session, principal=principal.name, role=principal.role, action="read_job_results",
            query_type=job.kind, case_id=job.params.get("case_id") or None,
            filters={"offset": offset, "limit": limit}, hit_count=len(out.hits),
            target=f"job:{job_id}",
        )  # fmt: skip
        session.commit()
    return out


def cancel(context: ApiContext, session: Session, principal: Principal, job_id: str) -> JobOut:
    owned_job(session, principal, job_id)
    if cancel_live_job(session, job_id):
        session.commit()
    return job_out(context, session, principal, owned_job(session, principal, job_id), 0, 0)


@router.delete(
    "/{job_id}",
    response_model=JobOut,
    summary="Cancel a job",
    dependencies=[requires(OBJECT_SEARCH)],
)
def delete_job(
    job_id: str, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> JobOut:
    """Cancelling a finished job changes nothing; a running one stops after its current slice
    (whichever API process runs it)."""
    return cancel(context, session, principal, job_id)


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    summary="Cancel a job",
    dependencies=[requires(OBJECT_SEARCH)],
)
def cancel_job(
    job_id: str, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> JobOut:
    return cancel(context, session, principal, job_id)
