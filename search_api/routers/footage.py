"""Footage upload endpoints (issue #15): start a resumable upload, send its parts, see which
arrived, complete it; the footage becomes recorded segments of an offline camera.

Parts are raw request bodies of exactly the upload's `part_bytes` (the last one the rest); the
request guard lets them past max_request_bytes up to the part size (search_api/limits.py).
Completing answers 202 at once; the file is checked, probed and cut on the API's footage
thread, and GET shows when it is `stored` (or `failed`, with the reason).
"""

from __future__ import annotations

import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, FastAPI, Query, Request, status
from fastapi import Path as PathParam

from index.catalog import FootageUpload, Principal, Session
from index.catalog.footage import get_footage_upload, list_footage_uploads
from index.footage_ingest import (
    Actor,
    FootagePolicy,
    FootageRequest,
    FootageService,
    offline_camera_id,
)
from search_api.access import FOOTAGE_UPLOAD
from search_api.context import ApiContext
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import Forbidden, NotFound
from search_api.footage_schemas import FootageUploadIn, FootageUploadOut
from search_api.openapi import AUTH_RESPONSES

router = APIRouter(
    prefix="/footage",
    tags=["footage"],
    responses=AUTH_RESPONSES,
    dependencies=[requires(FOOTAGE_UPLOAD)],
)
_WORKER_LOCK = threading.Lock()
MAX_PARTS = 1_000_000


def footage_service(context: ApiContext) -> FootageService:
    policy = context.footage_policy or FootagePolicy(
        work_dir=Path(tempfile.gettempdir()) / "skynet-footage"
    )
    return FootageService(context.sessions, context.store, policy, context.footage_analysis)


def footage_worker(app: FastAPI) -> ThreadPoolExecutor:
    """The application's footage thread: one upload is cut at a time (ffmpeg is I/O and CPU
    heavy; a queue of completes waits its turn rather than starving live analysis)."""
    with _WORKER_LOCK:
        worker: ThreadPoolExecutor | None = getattr(app.state, "footage_worker", None)
        if worker is None:
            worker = ThreadPoolExecutor(1, thread_name_prefix="footage")
            app.state.footage_worker = worker
        return worker


def actor(principal: Principal) -> Actor:
    return Actor(principal.name, principal.role, principal.principal_id)


def owned_upload(session: Session, principal: Principal, upload_id: str) -> FootageUpload:
    """The upload if the caller's key started it (admins see all); NotFound otherwise."""
    upload = get_footage_upload(session, upload_id)
    if upload is None or (
        principal.role != "admin" and upload.created_by != principal.principal_id
    ):
        raise NotFound(f"upload {upload_id!r} not found")
    return upload


@router.post(
    "/uploads",
    response_model=FootageUploadOut,
    status_code=status.HTTP_201_CREATED,
    summary="Start a resumable footage upload",
)
def start_upload(
    body: FootageUploadIn, principal: PrincipalDep, context: ContextDep
) -> FootageUploadOut:
    if principal.camera_ids is not None:
        camera_id = offline_camera_id(body.camera_label)
        if not principal.can_see(camera_id):
            raise Forbidden(f"camera_label: camera {camera_id!r} is outside this key's cameras")
    request = FootageRequest(
        body.filename, body.size, body.camera_label, body.sha256, body.lat, body.lon,
        body.heading, body.start_time,
    )  # fmt: skip
    return FootageUploadOut.of(footage_service(context).start_upload(request, actor(principal)))


@router.get("/uploads", response_model=list[FootageUploadOut], summary="Uploads the caller started")
def read_uploads(
    principal: PrincipalDep,
    session: SessionDep,
    sha256: Annotated[str | None, Query(description="only uploads of this file")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[FootageUploadOut]:
    owner = None if principal.role == "admin" else principal.principal_id
    uploads = list_footage_uploads(session, created_by=owner, sha256=sha256, limit=limit)
    return [FootageUploadOut.of(upload) for upload in uploads]


@router.get("/uploads/{upload_id}", response_model=FootageUploadOut, summary="One upload")
def read_upload(upload_id: str, principal: PrincipalDep, session: SessionDep) -> FootageUploadOut:
    return FootageUploadOut.of(owned_upload(session, principal, upload_id))


@router.put(
    "/uploads/{upload_id}/parts/{number}",
    response_model=FootageUploadOut,
    summary="Send one part (raw bytes; sending a part again replaces it)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def put_part(
    upload_id: str,
    number: Annotated[int, PathParam(ge=0, lt=MAX_PARTS)],
    request: Request,
    principal: PrincipalDep,
    context: ContextDep,
) -> FootageUploadOut:
    data = await request.body()
    service = footage_service(context)

    def store() -> FootageUpload:
        with context.sessions() as session:
            owned_upload(session, principal, upload_id)
        return service.put_part(upload_id, number, data)

    return FootageUploadOut.of(await anyio.to_thread.run_sync(store))


@router.post(
    "/uploads/{upload_id}/complete",
    response_model=FootageUploadOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Every part is in: check, probe and cut the file into segments",
)
def complete_upload(
    upload_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> FootageUploadOut:
    owned_upload(session, principal, upload_id)
    service = footage_service(context)
    upload = service.begin_processing(upload_id)
    footage_worker(request.app).submit(service.process, upload_id, actor(principal))
    return FootageUploadOut.of(upload)
