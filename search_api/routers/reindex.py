"""Re-index endpoints (issue #15): start a re-index job, list and read jobs with progress,
pause / resume / cancel them, list the index versions.

Jobs run on the serving process's re-index runner (skynet/reindex_service.py), not in the
request. Re-index jobs are apart from search jobs (routers/jobs.py): they need the `reindex`
capability (operators, admins), hand out no person data, and any caller with the capability
and sight of the job's cameras may control them. Every change is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, status

from detect.registry import DETECTOR_BACKENDS
from index.catalog import Principal, Session, append_audit
from index.catalog.jobs import job_state_phrase
from index.catalog.reindex import (
    REINDEX_JOB_KIND,
    cancel_job,
    index_versions,
    list_jobs,
    pause_job,
    resume_job,
)
from index.reindex_jobs import (
    EMBEDDER_MODELS,
    MAX_PRIORITY,
    ReindexProgress,
    ReindexRequest,
    reindex_progress,
    start_reindex,
)
from search_api.access import REINDEX
from search_api.deps import PrincipalDep, SessionDep, requires
from search_api.errors import Conflict, InvalidInput, NotFound
from search_api.openapi import AUTH_RESPONSES
from search_api.reindex_schemas import (
    IndexVersionOut,
    ModelChoiceOut,
    ReindexChoicesOut,
    ReindexIn,
    ReindexJobOut,
)

router = APIRouter(
    prefix="/reindex",
    tags=["reindex"],
    responses=AUTH_RESPONSES,
    dependencies=[requires(REINDEX)],
)


def visible_job(session: Session, principal: Principal, job_id: str) -> ReindexProgress:
    """The re-index job if the caller sees all its cameras; NotFound otherwise."""
    progress = reindex_progress(session, job_id)
    if progress is None or progress.job.kind != REINDEX_JOB_KIND:
        raise NotFound(f"re-index job {job_id!r} not found")
    cameras = progress.job.params.get("camera_ids", [])
    if not all(principal.can_see(camera_id) for camera_id in cameras):
        raise NotFound(f"re-index job {job_id!r} not found")
    return progress


@router.post(
    "",
    response_model=ReindexJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a re-index job",
)
def start(body: ReindexIn, principal: PrincipalDep, session: SessionDep) -> ReindexJobOut:
    """A new embedder builds a shadow index beside the live one (searches keep the live one)
    and, with `switch`, becomes live when every segment is done."""
    for camera_id in body.camera_ids:
        if not principal.can_see(camera_id):
            raise NotFound(f"camera {camera_id!r} not found")
    try:
        request = ReindexRequest(
            tuple(body.camera_ids), body.start, body.end, body.detector, body.embedder,
            body.priority, body.switch,
        )  # fmt: skip
        job_id = start_reindex(session, request, principal.principal_id or principal.name)
    except LookupError as error:
        raise NotFound(str(error).strip("'\"")) from error
    except ValueError as error:
        raise InvalidInput(str(error)) from error
    append_audit(
        session, principal=principal.name, role=principal.role, action="reindex",
        filters=request.params(), target=f"job:{job_id}",
    )  # fmt: skip
    session.commit()
    return ReindexJobOut.of(visible_job(session, principal, job_id))


@router.get("", response_model=list[ReindexJobOut], summary="Re-index jobs, newest first")
def read_jobs(
    principal: PrincipalDep,
    session: SessionDep,
    state: Annotated[str | None, Query(max_length=32, description="only this state")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ReindexJobOut]:
    found = []
    for job in list_jobs(session, REINDEX_JOB_KIND, limit):
        if state is not None and job.state != state:
            continue
        cameras = job.params.get("camera_ids", [])
        if all(principal.can_see(camera_id) for camera_id in cameras):
            progress = reindex_progress(session, job.id)
            if progress is not None:
                found.append(ReindexJobOut.of(progress))
    return found


@router.get(
    "/versions", response_model=list[IndexVersionOut], summary="Index versions and their state"
)
def read_versions(session: SessionDep) -> list[IndexVersionOut]:
    """`live`: what searches use; `building`: a re-index fills it; `kept`: the previous live
    one (until retired with `skynet index retire`); `retired`: its index removed."""
    return [IndexVersionOut.of(version) for version in index_versions(session)]


@router.get(
    "/models", response_model=ReindexChoicesOut, summary="Detectors and embedders a job may name"
)
def read_choices(session: SessionDep) -> ReindexChoicesOut:
    """The registry's detectors and the embedder models, then the detector and embedder of
    every index version not retired (e.g. `mobilenetv2-embedder+reid:<id>` after a learned
    metric was indexed); `live` marks the live version's, which the form starts with."""
    versions = [v for v in index_versions(session) if v.state != "retired"]
    live = next((v for v in versions if v.state == "live"), None)
    live_detector = None if live is None else live.detector.partition("@")[0]
    detectors = {
        b.name: ModelChoiceOut(name=b.name, summary=b.summary, argument=b.argument)
        for b in DETECTOR_BACKENDS.values()
    }
    embedders = {name: ModelChoiceOut(name=name) for name in EMBEDDER_MODELS}
    for version in versions:
        detector = version.detector.partition("@")[0]  # "<registry name>@<input WxH>"
        detectors.setdefault(detector, ModelChoiceOut(name=detector, summary="index version"))
        embedders.setdefault(
            version.embedder, ModelChoiceOut(name=version.embedder, summary="index version")
        )
    if live_detector in detectors:
        detectors[live_detector] = detectors[live_detector].model_copy(update={"live": True})
    if live is not None and live.embedder in embedders:
        embedders[live.embedder] = embedders[live.embedder].model_copy(update={"live": True})
    return ReindexChoicesOut(
        detectors=list(detectors.values()),
        embedders=list(embedders.values()),
        max_priority=MAX_PRIORITY,
    )


@router.get("/{job_id}", response_model=ReindexJobOut, summary="One job's progress")
def read_job(job_id: str, principal: PrincipalDep, session: SessionDep) -> ReindexJobOut:
    return ReindexJobOut.of(visible_job(session, principal, job_id))


def _change(
    session: Session,
    principal: Principal,
    job_id: str,
    verb: str,
    change: Callable[[Session, str], bool],
) -> ReindexJobOut:
    progress = visible_job(session, principal, job_id)
    if not change(session, job_id):
        state = job_state_phrase(progress.job.state)
        raise Conflict(f"re-index job {job_id!r} {state}: cannot {verb} it")
    append_audit(
        session, principal=principal.name, role=principal.role, action=f"job_{verb}",
        target=f"job:{job_id}",
    )  # fmt: skip
    session.commit()
    return ReindexJobOut.of(visible_job(session, principal, job_id))


@router.post("/{job_id}/pause", response_model=ReindexJobOut, summary="Pause between segments")
def pause(job_id: str, principal: PrincipalDep, session: SessionDep) -> ReindexJobOut:
    return _change(session, principal, job_id, "pause", pause_job)


@router.post("/{job_id}/resume", response_model=ReindexJobOut, summary="Resume a paused job")
def resume(job_id: str, principal: PrincipalDep, session: SessionDep) -> ReindexJobOut:
    return _change(session, principal, job_id, "resume", resume_job)


@router.post("/{job_id}/cancel", response_model=ReindexJobOut, summary="Cancel a job")
def cancel(job_id: str, principal: PrincipalDep, session: SessionDep) -> ReindexJobOut:
    """What it stored stays; its version is not switched live."""
    return _change(session, principal, job_id, "cancel", cancel_job)
