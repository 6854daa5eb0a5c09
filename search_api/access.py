"""Who may do what: roles and their capabilities, the cameras a caller may see, who may read
and write a case, and the case a person or plate search needs (issue #17; how routes use it:
/work/tools/AUTHZ.md).

Every capability and scope check of the API lives here; each raises a domain error
(search_api/errors.py) so services can run the same checks inside a request and on the job
thread pool. Things on a camera the caller may not see are reported as not found, so callers do
not learn what others see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from detect.detections import DEFAULT_CLASSES
from index.catalog import (
    CameraSpec,
    CaseRecord,
    Event,
    Principal,
    Session,
    StoredTrack,
    get_camera,
    get_case,
    get_event,
    get_track,
)
from index.catalog.attributes import PERSON_CLASSES
from search_api.errors import Forbidden, InvalidInput, NotFound
from search_api.openapi import MAX_CATALOG_ID

# Capabilities (issue #17): what a route needs, named once. Every route declares one (or
# several, any of which will do) with `requires(...)` (search_api/deps.py); see AUTHZ.md.
SIGNED_IN = "signed_in"  # any authenticated caller: health, one's own session
METRICS = "metrics"
CAMERAS_VIEW = "cameras_view"
CAMERA_ADMIN = "camera_admin"  # add, change, pause, remove cameras; their zones
ZONE_RULES = "zone_rules"
TRACKS_VIEW = "tracks_view"
OBJECT_SEARCH = "object_search"  # searches and search jobs; persons need PERSON_SEARCH too
PERSON_SEARCH = "person_search"
PLATE_SEARCH = "plate_search"
WATCHLISTS = "watchlists"
CASES = "cases"  # open, read and close cases
CASE_REVIEW = "case_review"  # read any case and everything done under it
EXPORTS = "exports"
EVENTS_VIEW = "events_view"
EVENT_REVIEW = "event_review"
AUDIT_READ = "audit_read"
ACCESS_ADMIN = "access_admin"  # API keys, users, grants, camera groups
WEBHOOKS_ADMIN = "webhooks_admin"
FOOTAGE_UPLOAD = "footage_upload"
REINDEX = "reindex"
RETENTION_ADMIN = "retention_admin"

_VIEWING = frozenset({SIGNED_IN, METRICS, CAMERAS_VIEW, TRACKS_VIEW, EVENTS_VIEW})
_INVESTIGATING = frozenset({OBJECT_SEARCH, PERSON_SEARCH, PLATE_SEARCH, WATCHLISTS, CASES, EXPORTS})
# The one table of who may do what. City managers (issue #13) see cameras, zones and events,
# review events and set zone rules: no searches, no tracks. Plate search (issue #14) finds a
# vehicle, so its owner: investigators and admins only, always under a case. Auditors read the
# audit log and cases, and see no camera.
ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    "admin": _VIEWING
    | _INVESTIGATING
    | {CAMERA_ADMIN, ZONE_RULES, EVENT_REVIEW, CASE_REVIEW, AUDIT_READ, ACCESS_ADMIN}
    | {WEBHOOKS_ADMIN, FOOTAGE_UPLOAD, REINDEX, RETENTION_ADMIN},
    "investigator": _VIEWING | _INVESTIGATING | {FOOTAGE_UPLOAD},  # witnesses' footage (#15)
    "city_manager": frozenset({SIGNED_IN, CAMERAS_VIEW, EVENTS_VIEW, EVENT_REVIEW, ZONE_RULES}),
    "operator": _VIEWING | {CAMERA_ADMIN, ZONE_RULES, EVENT_REVIEW, FOOTAGE_UPLOAD, REINDEX},
    "auditor": frozenset({SIGNED_IN, AUDIT_READ, CASE_REVIEW}),
    "viewer": _VIEWING,
}
ROLES: tuple[str, ...] = tuple(ROLE_CAPABILITIES)
CAPABILITIES: frozenset[str] = frozenset().union(*ROLE_CAPABILITIES.values())


def capabilities_of(role: str) -> frozenset[str]:
    """What `role` may do (nothing for a role the table does not name)."""
    return ROLE_CAPABILITIES.get(role, frozenset())


def has_capability(principal: Principal, capability: str) -> bool:
    return capability in capabilities_of(principal.role)


def require_capability(principal: Principal, capabilities: Iterable[str]) -> None:
    """Forbidden unless the caller's role has one of `capabilities`."""
    wanted = sorted(capabilities)
    unknown = [c for c in wanted if c not in CAPABILITIES]
    if unknown:
        raise ValueError(f"unknown capabilities {unknown}: add them to ROLE_CAPABILITIES")
    if not any(has_capability(principal, c) for c in wanted):
        roles = sorted(set().union(*(roles_with(c) for c in wanted)))
        raise Forbidden(
            f"role {principal.role!r} may not do this: it needs {' or '.join(wanted)}"
            f" (roles: {', '.join(roles)})"
        )


def roles_with(capability: str) -> frozenset[str]:
    """The roles that have `capability`."""
    return frozenset(r for r, caps in ROLE_CAPABILITIES.items() if capability in caps)


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


def visible_event(session: Session, principal: Principal, event_id: int) -> Event:
    """The event; NotFound when unknown or on a camera outside the caller's cameras."""
    event = get_event(session, event_id)
    if event is None or not may_see_camera(principal, event.camera_id):
        raise NotFound(f"event {event_id} not found")
    return event


# Path parameters a route's scope names (requires(..., scope=...)): what it refers to and how
# the thing is found on a camera the caller may see.
SCOPES: dict[str, tuple[str, Callable[[Session, Principal, str], object]]] = {
    "camera": ("camera_id", lambda s, p, v: visible_camera(s, p, v)),
    "track": ("track_id", lambda s, p, v: visible_track(s, p, int(v))),
    "event": ("event_id", lambda s, p, v: visible_event(s, p, int(v))),
}


def require_scope(
    session: Session, principal: Principal, scope: str, path_params: Mapping[str, str]
) -> None:
    """NotFound unless the camera (or the camera of the track or event) that the route's path
    names is one the caller may see. A value that is not a number is left to the route's own
    validation (422)."""
    name, find = SCOPES[scope]
    value = path_params.get(name)
    if value is None:
        raise ValueError(f"scope {scope!r} needs a path parameter {name!r}")
    if scope != "camera" and not (value.isdigit() and int(value) <= MAX_CATALOG_ID):
        return
    find(session, principal, value)


def require_case_owner(principal: Principal, case: CaseRecord) -> None:
    """Forbidden unless the caller opened the case or is an admin: a case is one
    investigator's authority to search, not a token any investigator may borrow."""
    if principal.role != "admin" and case.created_by != principal.name:
        raise Forbidden(
            f"case_id: case {case.id!r} was opened by someone else; only its creator or an admin"
            " may use or close it"
        )


def existing_case(session: Session, case_id: str) -> CaseRecord:
    """The case; NotFound for an unknown one."""
    case = get_case(session, case_id)
    if case is None:
        raise NotFound(f"case {case_id!r} not found")
    return case


def writable_case(session: Session, principal: Principal, case_id: str) -> CaseRecord:
    """The open case, if the caller opened it or is an admin (403 otherwise, as for filing
    tracks under it); 404 for an unknown case."""
    case = existing_case(session, case_id)
    require_case_owner(principal, case)
    if case.closed_at is not None:
        raise Forbidden(f"case_id: case {case_id!r} is closed")
    return case


def readable_case(session: Session, principal: Principal, case_id: str) -> CaseRecord:
    """The case, if the caller opened it, is an admin or reviews cases (auditors)."""
    case = existing_case(session, case_id)
    if not has_capability(principal, CASE_REVIEW):
        require_case_owner(principal, case)
    return case


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
    """Capability check, then: a search that may return persons (`class_names`: the classes
    it can return, None: any) needs PERSON_SEARCH, an open case of the caller's and a purpose."""
    require_capability(principal, [OBJECT_SEARCH])
    if may_return_persons(class_names):
        require_capability(principal, [PERSON_SEARCH])
        require_case(session, principal, case_id, purpose, "searches for persons")


def track_view_capabilities(track: StoredTrack) -> tuple[str, ...]:
    """What a role needs to view `track` (its record, thumbnail and clip links): TRACKS_VIEW,
    and PERSON_SEARCH for a person."""
    if track.class_name in PERSON_CLASSES:
        return (TRACKS_VIEW, PERSON_SEARCH)
    return (TRACKS_VIEW,)


def may_view_track(principal: Principal, track: StoredTrack) -> bool:
    """Whether the caller's role may view `track` (authorize_track_view's role rule; a
    person's track viewed on its own also needs a case and a purpose)."""
    return all(has_capability(principal, c) for c in track_view_capabilities(track))


def authorize_track_view(
    session: Session,
    principal: Principal,
    track: StoredTrack,
    case_id: str | None,
    purpose: str | None,
) -> None:
    """Viewing a person's track (its record, thumbnail and clip links) is a look-up of a person:
    it needs an open case of the caller's and a purpose, like a person search. Vehicles and
    other objects need only TRACKS_VIEW."""
    for capability in track_view_capabilities(track):
        require_capability(principal, [capability])
    if track.class_name in PERSON_CLASSES:
        require_case(session, principal, case_id, purpose, "person tracks")


def authorize_plate_search(
    session: Session, principal: Principal, case_id: str | None, purpose: str | None
) -> None:
    """A plate search looks up a vehicle (and so its owner) by its registration: the role,
    then an open case of the caller's and a purpose, whatever classes it returns."""
    require_capability(principal, [PLATE_SEARCH])
    require_case(session, principal, case_id, purpose, "plate searches")
