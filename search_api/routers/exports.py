"""Evidence export endpoints (issue #17): request a case bundle, follow its build, download it.

Requesting needs the EXPORTS capability, an open case of the caller's with a purpose, and every
track on a camera the caller may see (404 otherwise, before anything is written); unredacted
originals also need CASE_REVIEW (admins: authority over every case). Status and download are
the requester's (or a case reviewer's) only, and again only while every exported track
is on the caller's cameras. The bundle is streamed from object storage through the API with the
caller's key (never a bearer link: a bundle holds footage of a person), and each step is a
chain-of-custody entry in the audit log.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.responses import StreamingResponse

from evidence.request import EXPORT_JOB_KIND, ExportError, ExportRequest
from index.catalog import JobRecord, Principal, Session, append_audit, get_job, job_owner
from search_api.access import (
    CASE_REVIEW,
    EXPORTS,
    has_capability,
    require_case,
    visible_track,
)
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from search_api.export_jobs import ExportRunner, export_request
from search_api.export_schemas import ExportCreate, ExportOut, ExportVerificationOut
from search_api.export_verification import check_stored_bundle
from search_api.openapi import AUTH_RESPONSES, ErrorOut
from storage.objectstore import ObjectNotFoundError

router = APIRouter(prefix="/cases", tags=["exports"], responses=AUTH_RESPONSES)
_RUNNER_LOCK = threading.Lock()
DOWNLOAD_CHUNK_BYTES = 8 * 1024 * 1024  # a bundle is streamed, never held whole in memory
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "exports are not configured here"}
}


class ExportsUnavailable(DomainError):
    """This deployment was started without an export signing key."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


def start_export_runner(app: FastAPI) -> ExportRunner | None:
    """The application's export runner, started on first use (None: exports not configured)."""
    with _RUNNER_LOCK:
        runner: ExportRunner | None = getattr(app.state, "export_jobs", None)
        kit = app.state.context.evidence
        if runner is None and kit is not None:
            runner = ExportRunner(app.state.context, kit)
            app.state.export_jobs = runner
            runner.start()
        return runner


def stop_export_runner(app: FastAPI) -> None:
    runner: ExportRunner | None = getattr(app.state, "export_jobs", None)
    if runner is not None:
        runner.shutdown()


def visible_export(
    session: Session, principal: Principal, case_id: str, export_id: str
) -> tuple[JobRecord, ExportRequest]:
    """The export of `case_id` the caller requested (admins: any), with every track on the
    caller's cameras; NotFound otherwise."""
    job = get_job(session, export_id)
    if job is None or job.kind != EXPORT_JOB_KIND:
        raise NotFound(f"export {export_id!r} not found")
    request = export_request(job)
    owner = job_owner(session, export_id)
    if request.case_id != case_id or (
        not has_capability(principal, CASE_REVIEW) and owner != principal.principal_id
    ):
        raise NotFound(f"export {export_id!r} not found")
    for track_id in request.track_ids:
        visible_track(session, principal, track_id)
    return job, request


def export_out(job: JobRecord, request: ExportRequest) -> ExportOut:
    result = job.result or {}
    built = job.state == "succeeded"
    return ExportOut(
        id=job.id,
        case_id=request.case_id,
        state=job.state,
        progress=job.progress,
        track_ids=list(request.track_ids),
        purpose=request.purpose,
        requested_by=request.requested_by,
        created_at=job.created_at,
        updated_at=job.updated_at,
        error=job.error,
        sha256=result.get("sha256"),
        size_bytes=result.get("size_bytes"),
        key_fingerprint=result.get("key_fingerprint"),
        files=list(result.get("files", [])),
        download_path=(
            f"/api/v1/cases/{request.case_id}/exports/{job.id}/download" if built else None
        ),
    )


@router.post(
    "/{case_id}/exports",
    response_model=ExportOut,
    status_code=202,
    summary="Export evidence: a signed bundle of the tracks' redacted clips",
    responses=UNAVAILABLE,
    dependencies=[requires(EXPORTS)],
)
def create_export(
    case_id: str, body: ExportCreate, principal: PrincipalDep, session: SessionDep,
    request: Request,
) -> ExportOut:  # fmt: skip
    """Queues the build (202); poll the export for progress. 403: case closed, not the
    caller's, or originals asked for by a non-admin; 404: a track not on the caller's cameras."""
    require_case(session, principal, case_id, body.purpose, "exports")
    for track_id in body.track_ids:
        visible_track(session, principal, track_id)
    if body.include_originals and not has_capability(principal, CASE_REVIEW):
        raise Forbidden(  # unredacted footage of everyone: for whoever reviews every case
            f"include_originals: role {principal.role!r} may not export unredacted footage"
        )
    try:
        export = ExportRequest(
            case_id=case_id,
            track_ids=tuple(body.track_ids),
            purpose=body.purpose.strip(),
            requested_by=principal.name,
            role=principal.role,
            requested_at=datetime.now(UTC),
            include_originals=body.include_originals,
            pad_s=body.pad_s,
        )
    except ExportError as error:
        raise InvalidInput(str(error)) from error
    runner = start_export_runner(request.app)
    if runner is None:
        raise ExportsUnavailable("exports are not configured on this server (no signing key)")
    export_id = runner.create(session, principal.principal_id, export)
    asked = {"track_ids": list(export.track_ids), "include_originals": export.include_originals}
    append_audit(
        session, principal=principal.name, role=principal.role, action="export_requested",
        case_id=case_id, purpose=export.purpose, target=f"export:{export_id}", filters=asked,
    )  # fmt: skip
    session.commit()
    runner.submit(export_id)
    job = get_job(session, export_id)
    assert job is not None
    return export_out(job, export)


@router.get(
    "/{case_id}/exports/{export_id}",
    response_model=ExportOut,
    summary="An export's state and progress; the bundle's hash once built",
    dependencies=[requires(EXPORTS)],
)
def read_export(
    case_id: str, export_id: str, principal: PrincipalDep, session: SessionDep
) -> ExportOut:
    job, export = visible_export(session, principal, case_id, export_id)
    return export_out(job, export)


@router.get(
    "/{case_id}/exports/{export_id}/download",
    summary="The built bundle (.zip), streamed with the caller's key; audited",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
    dependencies=[requires(EXPORTS)],
)
def download_export(
    case_id: str, export_id: str, principal: PrincipalDep, session: SessionDep,
    context: ContextDep,
) -> StreamingResponse:  # fmt: skip
    """409 until the bundle is built. Downloading hands evidence over: it needs the case still
    open and the caller's (or an admin's), and is audited with the bundle's SHA-256."""
    job, export = visible_export(session, principal, case_id, export_id)
    require_case(session, principal, case_id, export.purpose, "export downloads")
    if job.state != "succeeded" or not job.result:
        raise Conflict(f"export {export_id!r} is {job.state}, not built")
    key, size_bytes = str(job.result["object_key"]), int(job.result["size_bytes"])
    try:
        context.store.stat(key)
    except ObjectNotFoundError as error:  # removed from storage: 404 and nothing audited
        raise NotFound(f"export {export_id!r}: its bundle is no longer stored") from error
    append_audit(
        session, principal=principal.name, role=principal.role, action="export_downloaded",
        case_id=case_id, purpose=export.purpose, target=f"export:{export_id}",
        filters={"sha256": job.result["sha256"]},
    )  # fmt: skip
    session.commit()
    chunks = (
        context.store.get_range(key, start, min(DOWNLOAD_CHUNK_BYTES, size_bytes - start))
        for start in range(0, size_bytes, DOWNLOAD_CHUNK_BYTES)
    )
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="case-{case_id}-{export_id}.zip"',
            "Content-Length": str(size_bytes),
        },
    )


@router.get(
    "/{case_id}/exports/{export_id}/verification",
    response_model=ExportVerificationOut,
    summary="Verify the stored bundle: files against the signed manifest, the site's signature",
    responses=UNAVAILABLE,
    dependencies=[requires(EXPORTS)],
)
def verify_export(
    case_id: str, export_id: str, principal: PrincipalDep, session: SessionDep,
    context: ContextDep,
) -> ExportVerificationOut:  # fmt: skip
    """What `skynet export verify` says of the stored bundle (issue #18), audited as
    export_verified: 409 until it is built, 404 once gone from storage, 503 without a key."""
    job, export = visible_export(session, principal, case_id, export_id)
    if job.state != "succeeded" or not job.result:
        raise Conflict(f"export {export_id!r} is {job.state}, not built")
    if context.evidence is None:
        raise ExportsUnavailable("exports are not configured on this server (no signing key)")
    key, built = str(job.result["object_key"]), str(job.result["sha256"])
    try:
        check = check_stored_bundle(context.store, key, built, context.evidence.signer.public_key)
    except ObjectNotFoundError as error:
        raise NotFound(f"export {export_id!r}: its bundle is no longer stored") from error
    append_audit(
        session, principal=principal.name, role=principal.role, action="export_verified",
        case_id=case_id, purpose=export.purpose, target=f"export:{export_id}",
        filters={"ok": check.ok, "sha256": check.sha256, "problems": len(check.problems)},
        hit_count=check.files_checked,  # what was verified, not what was wrong
    )  # fmt: skip
    session.commit()
    return ExportVerificationOut(
        export_id=export_id, ok=check.ok, sha256=check.sha256,
        key_fingerprint=check.key_fingerprint, trusted_key=check.trusted_key,
        files_checked=check.files_checked, problems=list(check.problems),
    )  # fmt: skip
