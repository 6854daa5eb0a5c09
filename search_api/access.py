"""Who may do what: roles, the cameras a key may see, and the case a person search needs.

Every role and scope check of the API lives here; each raises a domain error (search_api/errors.py)
so services can run the same checks inside a request and on the job thread pool. Things on a
camera the caller may not see are reported as not found, so keys do not learn what others see.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from detect.detections import DEFAULT_CLASSES
from index.catalog import (
    CameraSpec,
    Principal,
    Session,
    StoredTrack,
    get_camera,
    get_case,
    get_track,
)
from index.catalog.attributes import PERSON_CLASSES
from search_api.errors import Forbidden, NotFound

SEARCH_ROLES = frozenset({"admin", "investigator"})
VIEW_ROLES = frozenset({"admin", "investigator", "operator", "viewer"})
MANAGE_ROLES = frozenset({"admin", "operator"})


def require_role(principal: Principal, roles: frozenset[str]) -> None:
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role!r} may not do this; needs one of {sorted(roles)}")


def may_see_camera(principal: Principal, camera_id: str) -> bool:
    return principal.can_see(camera_id)


def visible_cameras(
    principal: Principal, requested: Sequence[str] | None
) -> tuple[str, ...] | None:
    """Cameras a query may touch: the request's, cut to the principal's scope (None = all);
    Forbidden naming the requested cameras outside it."""
    if principal.camera_ids is None:
        return None if requested is None else tuple(requested)
    allowed = set(principal.camera_ids)
    if requested is None:
        return tuple(sorted(allowed))
    denied = sorted(set(requested) - allowed)
    if denied:
        raise Forbidden(f"no access to camera(s) {denied}")
    return tuple(requested)


def visible_camera(session: Session, principal: Principal, camera_id: str) -> CameraSpec:
    """The configured camera; NotFound when unknown, removed or outside the caller's cameras."""
    spec = get_camera(session, camera_id)
    if spec is None or not may_see_camera(principal, camera_id):
        raise NotFound(f"camera {camera_id!r} not found")
    return spec


def visible_track(session: Session, principal: Principal, track_id: int) -> StoredTrack:
    """The stored track; NotFound when unknown or on a camera outside the caller's cameras."""
    track = get_track(session, track_id)
    if track is None or not may_see_camera(principal, track.camera_id):
        raise NotFound(f"track {track_id} not found")
    return track


def require_case(session: Session, case_id: str | None, purpose: str | None, what: str) -> None:
    """Forbidden naming what is missing unless `case_id` is an open case and `purpose` given."""
    missing = [name for name, value in (("case_id", case_id), ("purpose", purpose)) if not value]
    if missing:
        raise Forbidden(f"{what} need {' and '.join(missing)}: missing {missing}")
    case = get_case(session, str(case_id))
    if case is None:
        raise Forbidden(f"case_id: case {case_id!r} does not exist")
    if case.closed_at is not None:
        raise Forbidden(f"case_id: case {case_id!r} is closed")


def authorize_search(
    session: Session,
    principal: Principal,
    class_names: Iterable[str] | None,
    case_id: str | None,
    purpose: str | None,
) -> None:
    """Role check, then: a search that may return persons needs an open case and a purpose."""
    require_role(principal, SEARCH_ROLES)
    classes = set(DEFAULT_CLASSES if class_names is None else class_names)
    if classes & PERSON_CLASSES:
        require_case(session, case_id, purpose, "searches for persons")
