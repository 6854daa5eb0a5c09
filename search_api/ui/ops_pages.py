"""The operations pages of the web interface (issue #18 parts 4-7, UI-2): cameras (status wall,
map, add/edit, zones with rules and schedules), events (review queue, statistics, CSV,
watchlists), jobs and footage (resumable upload, re-index jobs), cases with their exports, and
the audit log. Each page renders only its frame; the data and every check come from /api/v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from search_api.access import (
    AUDIT_READ,
    CAMERA_ADMIN,
    CAMERAS_VIEW,
    CASE_REVIEW,
    CASES,
    EVENT_REVIEW,
    EVENTS_VIEW,
    EXPORTS,
    FOOTAGE_UPLOAD,
    REINDEX,
    WATCHLISTS,
    ZONE_RULES,
)
from search_api.ui.pages import render
from search_api.ui.session import PageUser, page_requires

router = APIRouter(prefix="/ui", include_in_schema=False)
CameraId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
CaseId = Annotated[str, Path(max_length=64)]


def may(user: PageUser, *capabilities: str) -> dict[str, bool]:
    """What the page offers (buttons, forms): the API refuses anything else anyway."""
    return {capability: user.can(capability) for capability in capabilities}


@router.get("/cameras")
def cameras_page(
    request: Request, user: Annotated[PageUser, page_requires(CAMERAS_VIEW)]
) -> Response:
    return render(request, "cameras.html", user, page_data={"may": may(user, CAMERA_ADMIN)})


@router.get("/cameras/{camera_id}/zones")
def zones_page(
    camera_id: CameraId,
    request: Request,
    user: Annotated[PageUser, page_requires(CAMERAS_VIEW)],
) -> Response:
    data = {"camera_id": camera_id, "may": may(user, CAMERA_ADMIN, ZONE_RULES)}
    return render(request, "zones.html", user, page_data=data, camera_id=camera_id)


@router.get("/events")
def events_page(
    request: Request, user: Annotated[PageUser, page_requires(EVENTS_VIEW)]
) -> Response:
    data = {"may": may(user, EVENT_REVIEW, WATCHLISTS)}
    return render(request, "events.html", user, page_data=data)


@router.get("/jobs")
def jobs_page(
    request: Request, user: Annotated[PageUser, page_requires(FOOTAGE_UPLOAD, REINDEX)]
) -> Response:
    data = {"may": may(user, FOOTAGE_UPLOAD, REINDEX)}
    return render(request, "jobs.html", user, page_data=data)


@router.get("/cases")
def cases_page(
    request: Request, user: Annotated[PageUser, page_requires(CASES, CASE_REVIEW)]
) -> Response:
    return render(request, "cases.html", user, page_data={"may": may(user, CASES, EXPORTS)})


@router.get("/cases/{case_id}")
def case_page(
    case_id: CaseId,
    request: Request,
    user: Annotated[PageUser, page_requires(CASES, CASE_REVIEW)],
) -> Response:
    data = {"case_id": case_id, "may": may(user, CASES, EXPORTS)}
    return render(request, "case.html", user, page_data=data)


@router.get("/audit")
def audit_page(request: Request, user: Annotated[PageUser, page_requires(AUDIT_READ)]) -> Response:
    return render(request, "audit.html", user)
