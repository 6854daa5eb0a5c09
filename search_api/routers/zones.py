"""Zone endpoints: named regions of a camera's image (list, add, change, remove) and their
rules (what the zone forbids, when; issue #13) at .../zones/{zone_id}/rule.

Reads follow the camera's visibility; zone writes need admin or operator, rule writes also
allow city_manager. Adding a zone or changing its polygon links the camera's stored tracks that
passed through it before the reply. A rule is its own resource so that setting it never
touches the polygon (and its track links), and city management may set rules without the
right to redraw zones.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from index.catalog import (
    Principal,
    Session,
    Zone,
    append_audit,
    create_zone,
    delete_zone,
    get_zone,
    list_zones,
    set_zone_rule,
    update_zone,
    zone_track_counts,
)
from search_api.access import CAMERA_ADMIN, CAMERAS_VIEW, ZONE_RULES, visible_camera
from search_api.deps import PrincipalDep, SessionDep, requires
from search_api.errors import NotFound
from search_api.event_schemas import ZoneRuleIn, ZoneRuleOut
from search_api.openapi import AUTH_RESPONSES, CatalogId
from search_api.schemas import ZoneIn, ZoneOut

router = APIRouter(prefix="/cameras/{camera_id}/zones", tags=["zones"], responses=AUTH_RESPONSES)


def zone_out(zone: Zone, track_count: int) -> ZoneOut:
    return ZoneOut(
        id=zone.id,
        camera_id=zone.camera_id,
        name=zone.name,
        polygon=list(zone.polygon),
        track_count=track_count,
        rule=ZoneRuleOut.of(zone.id, zone.camera_id, zone.rule),
        created_at=zone.created_at,
        updated_at=zone.updated_at,
    )


def camera_zone(session: Session, principal: Principal, camera_id: str, zone_id: int) -> Zone:
    """The zone if it is on this camera and the caller may see the camera; 404 otherwise."""
    visible_camera(session, principal, camera_id)
    zone = get_zone(session, zone_id)
    if zone is None or zone.camera_id != camera_id:
        raise NotFound(f"zone {zone_id} not found on camera {camera_id!r}")
    return zone


def saved(session: Session, principal: Principal, zone: Zone, action: str) -> ZoneOut:
    """Audit and commit a written zone; the reply carries its track count."""
    append_audit(
        session, principal=principal.name, role=principal.role, action=action,
        target=f"zone:{zone.id}",
    )  # fmt: skip
    count = zone_track_counts(session, [zone.id]).get(zone.id, 0)
    session.commit()
    return zone_out(zone, count)


@router.get(
    "",
    response_model=list[ZoneOut],
    summary="A camera's zones",
    dependencies=[requires(CAMERAS_VIEW, scope="camera")],
)
def read_zones(camera_id: str, principal: PrincipalDep, session: SessionDep) -> list[ZoneOut]:
    visible_camera(session, principal, camera_id)
    zones = list_zones(session, camera_id)
    counts = zone_track_counts(session, [zone.id for zone in zones])
    return [zone_out(zone, counts.get(zone.id, 0)) for zone in zones]


@router.get(
    "/{zone_id}",
    response_model=ZoneOut,
    summary="One zone",
    dependencies=[requires(CAMERAS_VIEW, scope="camera")],
)
def read_zone(
    camera_id: str, zone_id: CatalogId, principal: PrincipalDep, session: SessionDep
) -> ZoneOut:
    zone = camera_zone(session, principal, camera_id, zone_id)
    return zone_out(zone, zone_track_counts(session, [zone.id]).get(zone.id, 0))


@router.post(
    "",
    response_model=ZoneOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a zone",
    dependencies=[requires(CAMERA_ADMIN, scope="camera")],
)
def add_zone(camera_id: str, body: ZoneIn, principal: PrincipalDep, session: SessionDep) -> ZoneOut:
    visible_camera(session, principal, camera_id)
    zone = create_zone(session, camera_id, body.name, body.polygon)  # 409 on a duplicate name
    return saved(session, principal, zone, "zone_add")


@router.put(
    "/{zone_id}",
    response_model=ZoneOut,
    summary="Rename or reshape a zone",
    dependencies=[requires(CAMERA_ADMIN, scope="camera")],
)
def replace_zone(
    camera_id: str, zone_id: CatalogId, body: ZoneIn, principal: PrincipalDep, session: SessionDep
) -> ZoneOut:
    camera_zone(session, principal, camera_id, zone_id)
    zone = update_zone(session, zone_id, body.name, body.polygon)  # 409 on a duplicate name
    return saved(session, principal, zone, "zone_update")


@router.get(
    "/{zone_id}/rule",
    response_model=ZoneRuleOut,
    summary="A zone's rule",
    dependencies=[requires(CAMERAS_VIEW, scope="camera")],
)
def read_zone_rule(
    camera_id: str, zone_id: CatalogId, principal: PrincipalDep, session: SessionDep
) -> ZoneRuleOut:
    zone = camera_zone(session, principal, camera_id, zone_id)
    return ZoneRuleOut.of(zone.id, zone.camera_id, zone.rule)


@router.put(
    "/{zone_id}/rule",
    response_model=ZoneRuleOut,
    summary="Set a zone's rule",
    dependencies=[requires(ZONE_RULES, scope="camera")],
)
def replace_zone_rule(
    camera_id: str,
    zone_id: CatalogId,
    body: ZoneRuleIn,
    principal: PrincipalDep,
    session: SessionDep,
) -> ZoneRuleOut:
    """Kind, schedule (camera-local time), minimum dwell, sensitivity and classes; 422 naming
    the field for an unknown kind or class, bad or overlapping windows, an empty schedule, or
    a dwell or sensitivity out of range. The detector picks the rule up at its next poll."""
    camera_zone(session, principal, camera_id, zone_id)
    zone = set_zone_rule(session, zone_id, body.spec())
    rule = ZoneRuleOut.of(zone.id, zone.camera_id, zone.rule)
    append_audit(
        session, principal=principal.name, role=principal.role, action="zone_rule",
        target=f"zone:{zone.id}", filters=rule.model_dump(),
    )  # fmt: skip
    session.commit()
    return rule


@router.delete(
    "/{zone_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a zone and its links",
    dependencies=[requires(CAMERA_ADMIN, scope="camera")],
)
def remove_zone(
    camera_id: str, zone_id: CatalogId, principal: PrincipalDep, session: SessionDep
) -> Response:
    camera_zone(session, principal, camera_id, zone_id)
    delete_zone(session, zone_id)
    append_audit(
        session, principal=principal.name, role=principal.role, action="zone_remove",
        target=f"zone:{zone_id}",
    )  # fmt: skip
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
