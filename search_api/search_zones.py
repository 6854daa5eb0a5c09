"""Zones in searches: zone names from free text, zone filters checked against the caller's
cameras, and the zones each hit entered (for its "why")."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog import zones_by_ids
from index.catalog.rows import TrackZoneRow, ZoneRow
from index.catalog.values import Principal
from search_api.auth import visible_cameras
from search_api.schemas import ZoneRef


def resolve_zone_names(
    session: Session, names: Collection[str], camera_ids: Collection[str] | None
) -> list[ZoneRef]:
    """Zones called one of `names` (case-insensitive) on `camera_ids` (None: every camera), by
    id; a name found on several cameras gives all of them; 422 naming the names not found."""
    statement = select(ZoneRow.id, ZoneRow.name, ZoneRow.camera_id).order_by(ZoneRow.id)
    if camera_ids is not None:
        statement = statement.where(ZoneRow.camera_id.in_(sorted(camera_ids)))
    wanted = {name.strip().casefold(): name for name in names}
    zones = [
        ZoneRef(id=zone_id, name=name, camera_id=camera_id)
        for zone_id, name, camera_id in session.execute(statement)
        if name.casefold() in wanted
    ]
    missing = sorted(set(wanted) - {zone.name.casefold() for zone in zones})
    if missing:
        where = "any visible camera" if camera_ids is None else f"camera(s) {sorted(camera_ids)}"
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"text: no zone named {[wanted[m] for m in missing]} on {where}",
        )
    return zones


def zone_cameras(session: Session, principal: Principal, zone_ids: Collection[int]) -> set[str]:
    """Cameras of these zones: 404 naming unknown zones, 403 when a camera is out of scope."""
    zones = zones_by_ids(session, zone_ids)
    missing = sorted(set(zone_ids) - {zone.id for zone in zones})
    if missing:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"zone(s) {missing} not found")
    cameras = {zone.camera_id for zone in zones}
    visible_cameras(principal, sorted(cameras))
    return cameras


def entered_zones(
    session: Session, track_ids: Collection[int], zone_ids: Collection[int]
) -> dict[int, list[ZoneRef]]:
    """For each of `track_ids`, the zones among `zone_ids` it entered, by id (one query)."""
    if not track_ids or not zone_ids:
        return {}
    statement = (
        select(TrackZoneRow.track_id, ZoneRow.id, ZoneRow.name, ZoneRow.camera_id)
        .join(ZoneRow, ZoneRow.id == TrackZoneRow.zone_id)
        .where(
            TrackZoneRow.track_id.in_(sorted(track_ids)),
            TrackZoneRow.zone_id.in_(sorted(zone_ids)),
        )
        .order_by(TrackZoneRow.track_id, ZoneRow.id)
    )
    entered: dict[int, list[ZoneRef]] = {}
    for track_id, zone_id, name, camera_id in session.execute(statement):
        entered.setdefault(int(track_id), []).append(
            ZoneRef(id=zone_id, name=name, camera_id=camera_id)
        )
    return entered
