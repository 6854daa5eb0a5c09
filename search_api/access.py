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
    CaseRecord,
    Principal,
    Session,
    StoredTrack,
    get_camera,
    get_case,
    get_track,
)
from index.catalog.attributes import PERSON_CLASSES
from search_api.errors import Forbidden, InvalidInput, NotFound

SEARCH_ROLES = frozenset({"admin", "investigator"})
VIEW_ROLES = frozenset({"admin", "investigator", "operator", "viewer"})
MANAGE_ROLES = frozenset({"admin", "operator"})
# City management (issue #13): sees cameras, zones and violation events, reviews events and
# sets zone rules, but is in neither SEARCH_ROLES nor VIEW_ROLES: no searches, no tracks.
CITY_ROLE = "city_manager"
CAMERA_VIEW_ROLES = VIEW_ROLES | {CITY_ROLE}
EVENT_VIEW_ROLES = VIEW_ROLES | {CITY_ROLE}
EVENT_REVIEW_ROLES = frozenset({"admin", "operator", CITY_ROLE})
RULE_ROLES = MANAGE_ROLES | {CITY_ROLE}
# Plate search (issue #14) finds a vehicle, so its owner: always under a case with a purpose,
# and never for city managers (they see events, not vehicles' trails).
PLATE_SEARCH_ROLES = SEARCH_ROLES


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


def require_case_owner(principal: Principal, case: CaseRecord) -> None:
    """Forbidden unless the caller opened the case or is an admin: a case is one
    investigator's authority to search, not a token any investigator may borrow."""
    if principal.role != "admin" and case.created_by != principal.name:
        raise Forbidden(
            f"case_id: case {case.id!r} was opened by someone else; only its creator or an admin"
            " may use or close it"
        )


def require_case(
    session: Session, principal: Principal, case_id: str | None, purpose: str | None, what: str
) -> CaseRecord:
    """The open case `case_id`, if the caller may work under it and gave a purpose.

    InvalidInput when `purpose` is given but blank (an audit row needs a real reason);
    Forbidden naming what is missing, or when the case does not exist, is closed or is not the
    caller's (require_case_owner)."""
    if purpose is not None and not purpose.strip():
        raise InvalidInput("purpose: must not be blank")
    given = (("case_id", case_id), ("purpose", purpose))
    missing = [name for name, value in given if value is None or not value.strip()]
    if missing:
        raise Forbidden(f"{what} need {' and '.join(missing)}: missing {missing}")
    case = get_case(session, str(case_id))
    if case is None:
        raise Forbidden(f"case_id: case {case_id!r} does not exist")
    if case.closed_at is not None:
        raise Forbidden(f"case_id: case {case_id!r} is closed")
    require_case_owner(principal, case)
    return case


def may_return_persons(class_names: Iterable[str] | None) -> bool:
    """Whether a search filtered to `class_names` (None: not filtered by class) can return
    persons. Decided on what the search returns, never on its seed: a car seed finds people
    as readily as a person seed when no class filter stops it."""
    classes = set(DEFAULT_CLASSES if class_names is None else class_names)
    return bool(classes & PERSON_CLASSES)


def authorize_search(
    session: Session,
    principal: Principal,
    class_names: Iterable[str] | None,
    case_id: str | None,
    purpose: str | None,
) -> None:
    """Role check, then: a search that may return persons (`class_names`: the classes it can
    return, None: any) needs an open case of the caller's and a purpose."""
    require_role(principal, SEARCH_ROLES)
    if may_return_persons(class_names):
        require_case(session, principal, case_id, purpose, "searches for persons")


def authorize_track_view(
    session: Session,
    principal: Principal,
    track: StoredTrack,
    case_id: str | None,
    purpose: str | None,
) -> None:
    """Viewing a person's track (its record, thumbnail and clip links) is a look-up of a person:
    it needs an open case of the caller's and a purpose, like a person search. Vehicles and
    other objects need only a viewing role."""
    require_role(principal, VIEW_ROLES)
    if track.class_name in PERSON_CLASSES:
        require_case(session, principal, case_id, purpose, "person tracks")


def authorize_plate_search(
    session: Session, principal: Principal, case_id: str | None, purpose: str | None
) -> None:
    """A plate search looks up a vehicle (and so its owner) by its registration: the role,
    then an open case of the caller's and a purpose, whatever classes it returns."""
    require_role(principal, PLATE_SEARCH_ROLES)
    require_case(session, principal, case_id, purpose, "plate searches")
