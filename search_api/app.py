"""The FastAPI application: routers under /api/v1, OpenAPI docs, health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST

from search_api.auth import VIEW_ROLES, PrincipalDep, require_role
from search_api.context import ApiContext, api_context
from search_api.metrics import render_metrics
from search_api.routers import cameras, cases, clips, jobs, objects, search, tracks, zones
from search_api.schemas import Health

API_PREFIX = "/api/v1"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    jobs.start_job_runner(app)  # resumes the search jobs a stopped process left unfinished
    yield
    runner = getattr(app.state, "search_jobs", None)
    if runner is not None:
        runner.shutdown()


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Sky Net video analytics",
        version="0.1.0",
        description="Find people and vehicles across cameras and time. Send `X-API-Key`.",
        lifespan=lifespan,
    )
    app.state.context = context
    api = APIRouter(prefix=API_PREFIX)
    for module in (search, tracks, cameras, zones, cases, jobs, objects, clips):
        api.include_router(module.router)

    @api.get("/healthz", response_model=Health, tags=["health"], summary="Liveness (API key)")
    def healthz(
        _principal: PrincipalDep, context: Annotated[ApiContext, Depends(api_context)]
    ) -> Health:
        return Health(status="ok", tracks_indexed=len(context.vectors))

    app.include_router(api)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics (API key or bearer)")
    def metrics(
        principal: PrincipalDep, context: Annotated[ApiContext, Depends(api_context)]
    ) -> Response:
        require_role(principal, VIEW_ROLES)
        body = render_metrics(context.camera_status or dict, lambda: len(context.vectors))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app
