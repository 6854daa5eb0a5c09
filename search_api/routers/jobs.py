"""Search job endpoints: start a wide search, poll its progress, page its results, cancel it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from index.catalog import create_job, get_job, get_track, update_job
from index.catalog_values import JobRecord, Principal
from search_api.auth import PrincipalDep, SessionDep, may_see_camera
from search_api.context import ApiContext, api_context
from search_api.routers.search import text_filters
from search_api.schemas import JobOut, SearchJobRequest
from search_api.search_jobs import SearchJobRunner, SearchJobSpec
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
FINISHED_STATES = frozenset({"succeeded", "failed", "cancelled"})


def job_runner(request: Request) -> SearchJobRunner:
    """The application's job runner, created on first use (one per application)."""
    with _RUNNER_LOCK:
        runner: SearchJobRunner | None = getattr(request.app.state, "search_jobs", None)
        if runner is None:
            runner = SearchJobRunner(api_context(request))
            request.app.state.search_jobs = runner
        return runner


RunnerDep = Annotated[SearchJobRunner, Depends(job_runner)]


def owned_job(session: SessionDep, principal: Principal, job_id: str) -> JobRecord:
    """The job if the caller started it (admins see all); 404 otherwise."""
    job = get_job(session, job_id)
    if job is None or (principal.role != "admin" and job.params.get("owner") != principal.name):
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
    """Returns at once with the job id; poll GET /jobs/{id} for progress and results."""
    query = None
    exclude: frozenset[int] = frozenset()
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
        query, exclude = track_embedding(context, seed), frozenset({seed.id})
    authorize_search(session, principal, classes, body.case_id, body.purpose)
    params = {
        "owner": principal.name,
        "filters": filters.as_audit(),
        "track_id": body.track_id,
        "text": body.text,
        "top_k": body.top_k,
        "case_id": body.case_id,
    }
    job_id = create_job(session, f"search:{body.kind}", params)
    audit_search(
        session, principal, f"job:{body.kind}", params, 0, body.case_id, body.purpose,
        target=f"job:{job_id}",
    )  # fmt: skip
    session.commit()
    runner.submit(
        SearchJobSpec(
            job_id, body.kind, principal.name, principal.role, filters, body.top_k, query, exclude
        )
    )
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
        hits=build_hits(context, session, ranked[offset : offset + limit], principal.name),
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


def cancel(
    job_id: str, principal: Principal, session: SessionDep, runner: SearchJobRunner
) -> JobOut:
    job = owned_job(session, principal, job_id)
    if job.state not in FINISHED_STATES:
        runner.cancel(job_id)
        if job.state == "queued":
            update_job(session, job_id, state="cancelled")
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
def delete_job(
    job_id: str, principal: PrincipalDep, session: SessionDep, runner: RunnerDep
) -> JobOut:
    """Cancelling a finished job changes nothing; a running one stops after its current slice."""
    return cancel(job_id, principal, session, runner)


@router.post("/{job_id}/cancel", response_model=JobOut, summary="Cancel a job")
def cancel_job(
    job_id: str, principal: PrincipalDep, session: SessionDep, runner: RunnerDep
) -> JobOut:
    return cancel(job_id, principal, session, runner)
