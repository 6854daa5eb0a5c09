"""Search requests → one `TrackQuery`: structured filters and free text, with the cameras and
zones they name resolved against the catalog and cut to the caller's cameras.

Free text names cameras by id or by number: "3号摄像头" / "camera 3" is the camera whose id ends
in 3 (cam3, gate-03), else one whose name ends in 3 or carries "3号" / "camera 3". A reference
that matches no camera is refused with a message naming it and the cameras the caller may use.
It also names cameras and zones by their display names ("东门", "占道区域"): the parser is given
the names of the cameras and zones the caller may see, and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from index.catalog import (
    CameraSpec,
    Principal,
    Session,
    TrackQuery,
    searchable_cameras,
    zones_by_ids,
    zones_on_cameras,
)
from search_api.access import visible_cameras
from search_api.errors import InvalidInput, NotFound
from search_api.query_text import Places, TextQuery, TextQueryError, parse_text_query
from search_api.schemas import ParsedText, SearchFiltersIn, ZoneRef

MAX_CAMERAS_LISTED = 20


def filters_from(session: Session, principal: Principal, request: SearchFiltersIn) -> TrackQuery:
    """The query of a structured request: NotFound naming unknown cameras or zones, Forbidden
    when one is outside the caller's cameras; zones narrow the cameras to theirs."""
    camera_ids: Sequence[str] | None = request.camera_ids
    if camera_ids is not None:
        if not camera_ids:
            raise InvalidInput("camera_ids: empty list")
        require_cameras_exist(session, camera_ids)
    zone_ids = None if request.zone_ids is None else tuple(sorted(set(request.zone_ids)))
    if zone_ids is not None:
        if not zone_ids:
            raise InvalidInput("zone_ids: empty list")
        cameras = zone_cameras(session, principal, zone_ids)
        camera_ids = sorted(cameras if camera_ids is None else cameras & set(camera_ids))
    return TrackQuery(
        camera_ids=visible_cameras(principal, camera_ids),
        start=request.start,
        end=request.end,
        class_names=None if request.classes is None else tuple(request.classes),
        zone_ids=zone_ids,
        attributes=request.attribute_filter(),
    )


def require_cameras_exist(session: Session, camera_ids: Collection[str]) -> None:
    """NotFound naming the camera ids the catalog does not know (removed cameras are known:
    their tracks stay searchable)."""
    known = {camera.id for camera in searchable_cameras(session)}
    missing = sorted(set(camera_ids) - known)
    if missing:
        raise NotFound(f"camera(s) {missing} not found")


def zone_cameras(session: Session, principal: Principal, zone_ids: Collection[int]) -> set[str]:
    """Cameras of these zones: NotFound naming unknown zones, Forbidden when a camera is out
    of the caller's scope."""
    zones = zones_by_ids(session, zone_ids)
    missing = sorted(set(zone_ids) - {zone.id for zone in zones})
    if missing:
        raise NotFound(f"zone(s) {missing} not found")
    cameras = {zone.camera_id for zone in zones}
    visible_cameras(principal, sorted(cameras))
    return cameras


# ---- free text -------------------------------------------------------------------------------


def known_places(session: Session, principal: Principal) -> Places:
    """The display names of the cameras the caller may see and of the zones on them."""
    cameras = [c for c in searchable_cameras(session) if principal.can_see(c.id)]
    zones = zones_on_cameras(session, [camera.id for camera in cameras])
    return Places(
        camera_names=tuple(sorted({camera.name for camera in cameras if camera.name})),
        zone_names=tuple(sorted({zone.name for zone in zones})),
    )


def parse_text(
    session: Session, principal: Principal, text: str, now: datetime, timezone: str
) -> TextQuery:
    """What the text asks for, reading the names of the caller's cameras and zones; InvalidInput
    naming the problem when it cannot be read."""
    try:
        return parse_text_query(text, now, timezone, known_places(session, principal))
    except TextQueryError as error:
        raise InvalidInput(str(error)) from error


@dataclass(frozen=True)
class ResolvedQuery:
    """The track query a search runs, and how its free text was understood (text only)."""

    query: TrackQuery
    parsed: ParsedText | None = None


def names_nothing(parsed: TextQuery) -> bool:
    """True when free text named no class, attribute, camera, zone or time."""
    named = parsed.class_names or parsed.camera_refs or parsed.camera_names or parsed.zone_names
    return not named and parsed.attributes.is_empty() and parsed.start is None


def text_filters(session: Session, principal: Principal, parsed: TextQuery) -> ResolvedQuery:
    """The cameras and zones the text names resolved (InvalidInput naming those that match
    nothing), cut to the caller's cameras (Forbidden outside them)."""
    cameras = searchable_cameras(session)
    camera_ids = [resolve_camera_ref(cameras, principal, ref) for ref in parsed.camera_refs]
    named = {name.casefold() for name in parsed.camera_names}
    camera_ids += [c.id for c in cameras if c.name.casefold() in named and principal.can_see(c.id)]
    camera_ids = list(dict.fromkeys(camera_ids))
    searched = visible_cameras(principal, camera_ids or None)
    zones: list[ZoneRef] = []
    if parsed.zone_names:  # the named zones on the named (or else all visible) cameras
        zones = resolve_zone_names(session, parsed.zone_names, searched)
        searched = tuple(sorted({zone.camera_id for zone in zones}))
    query = TrackQuery(
        camera_ids=searched,
        start=parsed.start,
        end=parsed.end,
        class_names=parsed.class_names or None,
        zone_ids=tuple(zone.id for zone in zones) or None,
        attributes=parsed.attributes,
    )
    summary = ParsedText(
        classes=list(parsed.class_names),
        attributes=parsed.attributes.as_json(),
        camera_ids=camera_ids,
        zones=zones,
        start=parsed.start,
        end=parsed.end,
        unparsed=list(parsed.unparsed),
    )
    return ResolvedQuery(query, summary)


def _trailing_number(text: str) -> int | None:
    match = re.search(r"(\d+)$", text.strip())
    return None if match is None else int(match.group(1))


def _name_says_number(name: str, number: int) -> bool:
    if _trailing_number(name) == number:
        return True
    pattern = rf"(?<!\d)0*{number}\s*号|(?:camera|cam)\s*#?\s*0*{number}\b"
    return re.search(pattern, name, re.IGNORECASE) is not None


def resolve_camera_ref(cameras: Sequence[CameraSpec], principal: Principal, ref: str) -> str:
    """The camera id a reference from free text names: the id itself; for a number N, the
    camera whose id ends in N, else one whose name ends in N or says "N号" / "camera N" (the
    first by id when several do). InvalidInput naming the reference and the caller's cameras
    when none matches."""
    by_id = sorted(cameras, key=lambda camera: camera.id)
    for camera in by_id:
        if camera.id == ref:
            return camera.id
    if ref.isdigit():
        number = int(ref)
        for camera in by_id:
            if _trailing_number(camera.id) == number:
                return camera.id
        for camera in by_id:
            if _name_says_number(camera.name, number):
                return camera.id
    visible = [camera.id for camera in by_id if principal.can_see(camera.id)]
    listed = visible[:MAX_CAMERAS_LISTED] + (["…"] if len(visible) > MAX_CAMERAS_LISTED else [])
    rule = f": no camera id or name ends in {ref}" if ref.isdigit() else ""
    raise InvalidInput(f"text: camera {ref!r} not found{rule}; cameras: {listed}")


def resolve_zone_names(
    session: Session, names: Collection[str], camera_ids: Collection[str] | None
) -> list[ZoneRef]:
    """Zones called one of `names` (case-insensitive) on `camera_ids` (None: every camera), by
    id; a name found on several cameras gives all of them; InvalidInput naming those not found."""
    wanted = {name.strip().casefold(): name for name in names}
    zones = [
        ZoneRef(id=zone.id, name=zone.name, camera_id=zone.camera_id)
        for zone in zones_on_cameras(session, camera_ids)
        if zone.name.casefold() in wanted
    ]
    missing = sorted(set(wanted) - {zone.name.casefold() for zone in zones})
    if missing:
        where = "any visible camera" if camera_ids is None else f"camera(s) {sorted(camera_ids)}"
        raise InvalidInput(f"text: no zone named {[wanted[m] for m in missing]} on {where}")
    return zones
