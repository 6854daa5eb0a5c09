"""Search job endpoints: start a wide search, poll its progress, page its results, cancel it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status

from index.catalog import cancel_live_job, get_job, get_track, job_owner
from index.catalog.values import JobRecord, Principal
from search_api.auth import PrincipalDep, SessionDep, may_see_camera
from search_api.context import ApiContext, api_context
from search_api.routers.search import text_filters
from search_api.schemas import JobOut, SearchJobRequest
from search_api.search_jobs import SearchJobRunner, job_request, job_zone_ids
from search_api.search_service import (
    ScoredTrack,
    audit_search,
    authorize_search,
    build_hits,
    filters_from,
    track_embedding,
)

router = APIRouter(prefix="/jobs", tags=["jobs"])
ContextDep = Annotated[ApiContext, Depends(api_context)]
_RUNNER_LOCK = threading.Lock()


def start_job_runner(app: FastAPI) -> SearchJobRunner:
    """The application's job runner (one per application), started on first use: it takes
    over the jobs a stopped process left unfinished."""
    with _RUNNER_LOCK:
        runner: SearchJobRunner | None = getattr(app.state, "search_jobs", None)
        if runner is None:
            runner = SearchJobRunner(app.state.context)
            app.state.search_jobs = runner
            runner.start()
        return runner


def job_runner(request: Request) -> SearchJobRunner:
    return start_job_runner(request.app)


RunnerDep = Annotated[SearchJobRunner, Depends(job_runner)]


def owned_job(session: SessionDep, principal: Principal, job_id: str) -> JobRecord:
    """The job if the caller started it (admins see all); 404 otherwise."""
    job = get_job(session, job_id)
    if job is None or (principal.role != "admin" and job_owner(session, job_id) != principal.name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} not found")
    return job


@router.post("/search", response_model=JobOut, status_code=202, summary="Start a wide search")
def start_search_job(
    body: SearchJobRequest,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    runner: RunnerDep,
) -> JobOut:
    """Returns at once with the job id; poll GET /jobs/{id} for progress and results. The job
    is stored with its request and survives an API restart."""
    if body.kind == "text":
        filters, _ = text_filters(
            session, principal, str(body.text), datetime.now(UTC), body.timezone
        )
        classes = filters.class_names
    else:
        filters = filters_from(session, principal, body)
        classes = None if body.classes is None else tuple(body.classes)
    if body.kind == "track":
        seed = get_track(session, int(body.track_id or 0))
        if seed is None or not may_see_camera(principal, seed.camera_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"track {body.track_id} not found")
        classes = (seed.class_name,)
        track_embedding(context, seed)  # 422 now, not a failed job later
    authorize_search(session, principal, classes, body.case_id, body.purpose)
    request = job_request(
        body.kind, principal.role, filters, body.top_k, body.track_id, body.text, body.case_id
    )
    job_id = runner.create(session, principal.name, request)
    audit_search(
        session, principal, f"job:{body.kind}", request, 0, body.case_id, body.purpose,
        target=f"job:{job_id}",
    )  # fmt: skip
    session.commit()
    runner.submit(job_id)
    return job_out(context, session, principal, owned_job(session, principal, job_id), 0, 0)


def job_out(
    context: ApiContext,
    session: SessionDep,
    principal: Principal,
    job: JobRecord,
    offset: int,
    limit: int,
) -> JobOut:
    result = job.result or {}
    ranked = [ScoredTrack.from_json(doc) for doc in result.get("hits", [])]
    page = ranked[offset : offset + limit]
    return JobOut(
        id=job.id,
        kind=job.kind,
        state=job.state,
        progress=job.progress,
        error=job.error,
        created_at=job.created_at,
        updated_at=job.updated_at,
        total_hits=result.get("total"),
        offset=offset,
        hits=build_hits(context, session, page, principal.name, job_zone_ids(job.params)),
    )


@router.get("/{job_id}", response_model=JobOut, summary="Progress and one page of results")
def read_job(
    job_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JobOut:
    return job_out(
        context, session, principal, owned_job(session, principal, job_id), offset, limit
    )


def cancel(job_id: str, principal: Principal, session: SessionDep) -> JobOut:
    owned_job(session, principal, job_id)
    if cancel_live_job(session, job_id):
        session.commit()
    job = owned_job(session, principal, job_id)
    return JobOut(
        id=job.id,
        kind=job.kind,
        state=job.state,
        progress=job.progress,
        error=job.error,
        created_at=job.created_at,
        updated_at=job.updated_at,
        total_hits=None,
        offset=0,
        hits=[],
    )


@router.delete("/{job_id}", response_model=JobOut, summary="Cancel a job")
def delete_job(job_id: str, principal: PrincipalDep, session: SessionDep) -> JobOut:
    """Cancelling a finished job changes nothing; a running one stops after its current slice
    (whichever API process runs it)."""
    return cancel(job_id, principal, session)


@router.post("/{job_id}/cancel", response_model=JobOut, summary="Cancel a job")
def cancel_job(job_id: str, principal: PrincipalDep, session: SessionDep) -> JobOut:
    return cancel(job_id, principal, session)
