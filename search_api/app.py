"""The FastAPI application: routers under /api/v1, OpenAPI docs, health, domain error handling."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from index.catalog import Principal
from ingest.camera_status import CameraStatus
from search_api.access import METRICS, SIGNED_IN
from search_api.context import ApiContext
from search_api.deps import (
    ContextDep,
    PrincipalDep,
    caller_principal,
    requires,
    start_job_runner,
)
from search_api.docs_page import install_docs
from search_api.errors import HANDLED_ERRORS, DomainError, status_and_detail
from search_api.limits import ApiLimits, RequestGuard
from search_api.metrics import render_metrics
from search_api.openapi import AUTH_RESPONSES, ERROR_RESPONSES, install_openapi, validation_detail
from search_api.routers import (
    audit,
    cameras,
    cases,
    clips,
    event_stream,
    events,
    footage,
    jobs,
    keys,
    objects,
    pictures,
    search,
    tracks,
    watchlists,
    webhooks,
    zones,
)
from search_api.routers.auth import router as auth_router
from search_api.routers.camera_frames import router as camera_frames_router
from search_api.routers.case_hops import router as case_hops_router
from search_api.routers.exports import router as exports_router
from search_api.routers.exports import start_export_runner, stop_export_runner
from search_api.routers.reindex import router as reindex_router
from search_api.routers.retention import router as retention_router
from search_api.routers.site_plans import router as site_plans_router
from search_api.routers.users import router as users_router
from search_api.schemas import Health
from search_api.ui.install import install_ui

API_PREFIX = "/api/v1"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    start_job_runner(app)  # resumes the search jobs a stopped process left unfinished
    start_export_runner(app)  # and the evidence exports (issue #17)
    yield
    stop_export_runner(app)
    runner = getattr(app.state, "search_jobs", None)
    if runner is not None:
        runner.shutdown()


def domain_error_response(_request: Request, error: Exception) -> JSONResponse:
    """The one handler of domain errors (and the catalog's lookup errors): 4xx + `detail`."""
    code, detail = status_and_detail(error)
    headers = error.headers if isinstance(error, DomainError) else None
    return JSONResponse({"detail": detail}, status_code=code, headers=headers)


def validation_error_response(_request: Request, error: Exception) -> JSONResponse:
    """422 with the same body as every other error: `detail` names each field at fault (the
    offending input is not echoed: a NaN in it cannot be written as JSON)."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": validation_detail(error.errors())}, status_code=422)


def visible_statuses(
    principal: Principal, context: ApiContext
) -> Callable[[], dict[str, CameraStatus]]:
    """The live camera statuses a caller may see (a camera-limited key: only its cameras)."""

    def statuses() -> dict[str, CameraStatus]:
        every = context.camera_status() if context.camera_status is not None else {}
        return {c: s for c, s in every.items() if principal.can_see(c)}

    return statuses


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Sky Net video analytics",
        version="0.1.0",
        description="Find people and vehicles across cameras and time. Send `X-API-Key`.",
        lifespan=lifespan,
        docs_url=None,  # served with local files by install_docs
        redoc_url=None,
    )
    app.state.context = context
    install_docs(app, getattr(context, "docs_assets_dir", None))  # no context: OpenAPI-only
    for error_type in HANDLED_ERRORS:
        app.add_exception_handler(error_type, domain_error_response)
    app.add_exception_handler(RequestValidationError, validation_error_response)
    app.add_middleware(
        RequestGuard,
        fastapi_app=app,
        limits=getattr(context, "limits", ApiLimits()),  # no context: OpenAPI-only apps
        lookup=lambda credential: caller_principal(context, credential),
    )
    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    routers = (
        search, tracks, cameras, zones, cases, jobs, keys, pictures, objects, clips, webhooks,
        event_stream, events, watchlists, footage,
    )  # fmt: skip
    for module in routers:
        api.include_router(module.router)
    api.include_router(exports_router)  # evidence exports (issue #17)
    api.include_router(camera_frames_router)  # a recorded frame to draw zones on (#18)
    api.include_router(audit.router)  # auditors (issue #17)
    api.include_router(reindex_router)  # re-index jobs and index versions (issue #15)
    api.include_router(auth_router)  # sign-in: session tokens (issue #17)
    api.include_router(users_router)  # users, grants, camera groups (issue #17)
    api.include_router(retention_router)  # retention and legal holds (issue #17)
    api.include_router(site_plans_router)  # site plans for the camera map (issue #18)
    api.include_router(case_hops_router)  # a case's hop decisions and trail (issue #18)

    @api.get(
        "/healthz",
        response_model=Health,
        tags=["health"],
        summary="Liveness (API key)",
        responses=AUTH_RESPONSES,
        dependencies=[requires(SIGNED_IN)],
    )
    def healthz(_principal: PrincipalDep, context: ContextDep) -> Health:
        return Health(status="ok", tracks_indexed=len(context.vectors))

    app.include_router(api)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics (API key or bearer)",
        responses=AUTH_RESPONSES,
        dependencies=[requires(METRICS)],
    )
    def metrics(principal: PrincipalDep, context: ContextDep) -> Response:
        body = render_metrics(visible_statuses(principal, context), lambda: len(context.vectors))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.webhooks.include_router(webhooks.deliveries)  # documented only: what subscribers get
    install_ui(app)  # the web interface under /ui (issue #18)
    install_openapi(app)
    return app
