"""Catalog repository for zones: named polygons on a camera's image and the tracks inside them.

A track is in a zone when a foot point (bottom centre of a box) of its trajectory lies inside the
polygon. Links are written when tracks are stored (`link_new_tracks`) and recomputed for the
camera's stored tracks when a zone is created or its polygon changes.

Zone writes lock the camera row FOR UPDATE and track writes lock it FOR SHARE before reading
the zones (PostgreSQL), so a track stored while a zone is being written is linked by one side
or the other; on SQLite both already serialise on the database's write lock, taken first.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from detect.zone_rules import ZoneRule
from index.catalog.cameras import UnknownCameraError, camera_timezone
from index.catalog.rows import CameraRow, TrackRow, TrackZoneRow, ZoneRow
from index.catalog.rules import (
    DEFAULT_ZONE_RULE,
    ZoneRuleSpec,
    schedule_from_document,
    schedule_to_document,
)
from index.catalog.values import NewTrack

Point = tuple[float, float]
MAX_ZONE_VERTICES = 64
MAX_ZONE_NAME_CHARS = 100
MIN_ZONE_AREA = 1e-4  # of the image: a 1 % × 1 % square
BACKFILL_BATCH_TRACKS = 5000


class UnknownZoneError(LookupError):
    """No zone has this id."""


class DuplicateZoneError(ValueError):
    """The camera already has a zone of this name (the session must be rolled back)."""


@dataclass(frozen=True)
class Zone:
    """A named polygon on one camera's image; vertices (x, y) are fractions of width, height."""

    id: int
    camera_id: str
    name: str
    polygon: tuple[Point, ...]
    created_at: datetime
    updated_at: datetime
    rule: ZoneRuleSpec = DEFAULT_ZONE_RULE  # what the zone forbids (issue #13)


# ---- geometry --------------------------------------------------------------------------------


def check_zone_name(name: str) -> str:
    """The name without surrounding blanks; ValueError when empty or too long."""
    stripped = name.strip() if isinstance(name, str) else ""
    if not stripped or len(stripped) > MAX_ZONE_NAME_CHARS:
        raise ValueError(f"zone name must have 1-{MAX_ZONE_NAME_CHARS} characters, got {name!r}")
    return stripped


def polygon_area(polygon: Sequence[Point]) -> float:
    """Unsigned area by the shoelace formula."""
    vertices = np.asarray(polygon, dtype=np.float64)
    x, y = vertices[:, 0], vertices[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def check_polygon(vertices: Sequence[Sequence[float]]) -> tuple[Point, ...]:
    """Vertices as (x, y) floats; ValueError unless 3-64 points in [0, 1]² enclosing an area,
    with no two edges crossing or touching (a bow-tie has no single inside)."""
    if not 3 <= len(vertices) <= MAX_ZONE_VERTICES:
        raise ValueError(f"needs 3 to {MAX_ZONE_VERTICES} vertices, got {len(vertices)}")
    points = []
    for vertex in vertices:
        if len(vertex) != 2:
            raise ValueError(f"vertex {list(vertex)} is not [x, y]")
        x, y = float(vertex[0]), float(vertex[1])
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= 1 and 0 <= y <= 1):
            raise ValueError(
                f"vertex {[x, y]} is outside the image: x and y are fractions of its width and "
                "height, in [0, 1]"
            )
        points.append((x, y))
    area = polygon_area(points)
    crossing = first_self_crossing(points)
    # a bow-tie's two halves cancel in its area: that is a crossing, not a line
    if area < MIN_ZONE_AREA and (crossing is None or _fan_area(points) < MIN_ZONE_AREA):
        raise ValueError(
            f"encloses {area:.2g} of the image (at least {MIN_ZONE_AREA:g}): the vertices are "
            "(nearly) on one line or too close together"
        )
    if crossing is not None:
        raise ValueError(
            f"edges {crossing[0]} and {crossing[1]} cross: the polygon intersects itself"
        )
    return tuple(points)


def _orientation(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _fan_area(points: Sequence[Point]) -> float:
    """The unsigned areas of the triangles from the first vertex, summed: near 0 only when
    every vertex is (nearly) on one line; a crossed polygon's halves do not cancel here."""
    first = points[0]
    return sum(abs(_orientation(first, b, c)) for b, c in pairwise(points[1:])) / 2


def _segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether segments ab and cd touch or cross (collinear overlaps included)."""
    d1, d2 = _orientation(c, d, a), _orientation(c, d, b)
    d3, d4 = _orientation(a, b, c), _orientation(a, b, d)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and d1 and d2 and d3 and d4:
        return True

    def on_segment(p: Point, q: Point, r: Point, turn: float) -> bool:
        return (
            turn == 0
            and min(p[0], q[0]) <= r[0] <= max(p[0], q[0])
            and (min(p[1], q[1]) <= r[1] <= max(p[1], q[1]))
        )

    return (
        on_segment(c, d, a, d1) or on_segment(c, d, b, d2)
        or on_segment(a, b, c, d3) or on_segment(a, b, d, d4)
    )  # fmt: skip


def first_self_crossing(points: Sequence[Point]) -> tuple[int, int] | None:
    """The first pair of non-adjacent edges (edge i runs from vertex i to i+1) that touch or
    cross, or None for a simple polygon; at most 64 vertices, so the O(n²) pairs are cheap."""
    count = len(points)
    edges = [(points[i], points[(i + 1) % count]) for i in range(count)]
    for i in range(count):
        for j in range(i + 1, count):
            if j == i + 1 or (i == 0 and j == count - 1):
                continue  # neighbours share a vertex
            if _segments_cross(*edges[i], *edges[j]):
                return i, j
    return None


def polygon_contains(polygon: Sequence[Point], points: np.ndarray) -> np.ndarray:
    """Even-odd rule: for each (x, y) row of `points`, whether it lies inside `polygon`."""
    vertices = np.asarray(polygon, dtype=np.float64)
    x, y = points[:, 0], points[:, 1]
    inside = np.zeros(len(points), dtype=bool)
    for (x1, y1), (x2, y2) in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        straddles = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= straddles & (x < crossing_x)
    return inside


def foot_points(
    trajectories: Sequence[Sequence[Sequence[float]]], frame_sizes_px: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised bottom centres of every trajectory box [P, 2] and the index of each point's
    trajectory [P]."""
    counts = np.array([len(t) for t in trajectories], dtype=np.int64)
    owner = np.repeat(np.arange(len(trajectories)), counts)
    if not len(owner):
        return np.zeros((0, 2)), owner
    rows = np.array([p for t in trajectories for p in t], dtype=np.float64).reshape(-1, 5)
    sizes = np.asarray(frame_sizes_px, dtype=np.float64)[owner]
    feet = np.column_stack(((rows[:, 1] + rows[:, 3]) / 2 / sizes[:, 0], rows[:, 4] / sizes[:, 1]))
    return feet, owner


def zone_links(
    zones: Sequence[Zone],
    track_ids: Sequence[int],
    trajectories: Sequence[Sequence[Sequence[float]]],
    frame_sizes_px: Sequence[tuple[int, int]],
) -> list[dict[str, int]]:
    """{track_id, zone_id} rows for each track with a foot point inside each zone."""
    feet, owner = foot_points(trajectories, frame_sizes_px)
    links: list[dict[str, int]] = []
    for zone in zones:
        inside = np.unique(owner[polygon_contains(zone.polygon, feet)])
        links.extend({"track_id": int(track_ids[i]), "zone_id": zone.id} for i in inside)
    return links


# ---- repository ------------------------------------------------------------------------------


def _rule(row: ZoneRow) -> ZoneRuleSpec:
    return ZoneRuleSpec.checked(
        row.kind,
        schedule_from_document(row.schedule),
        row.min_dwell_s,
        row.sensitivity,
        row.classes or (),
    )


def _zone(row: ZoneRow) -> Zone:
    return Zone(
        id=row.id,
        camera_id=row.camera_id,
        name=row.name,
        polygon=tuple((float(x), float(y)) for x, y in row.polygon),
        created_at=row.created_at,
        updated_at=row.updated_at,
        rule=_rule(row),
    )


def zone_rule(zone: Zone, timezone: str) -> ZoneRule:
    """The detector's rule of a zone on a camera in `timezone` (the one conversion)."""
    rule = zone.rule
    return ZoneRule(
        zone_id=zone.id,
        camera_id=zone.camera_id,
        zone_name=zone.name,
        polygon=zone.polygon,
        kind=rule.kind,
        schedule=rule.schedule,
        min_dwell_s=rule.min_dwell_s,
        sensitivity=rule.sensitivity,
        classes=rule.classes,
        timezone=timezone,
    )


def _lock_camera(session: Session, camera_id: str) -> None:
    """Hold the camera row until commit (zone writes); UnknownCameraError if unknown/removed."""
    statement = (
        select(CameraRow.id)
        .where(CameraRow.id == camera_id, CameraRow.removed_at.is_(None))
        .with_for_update()
    )
    if session.scalar(statement) is None:
        raise UnknownCameraError(f"camera {camera_id!r} is not in the catalog")


def _refuse_clash(session: Session, camera_id: str, name: str, zone_id: int) -> None:
    """DuplicateZoneError when another zone of the camera (not `zone_id`) has this name."""
    clash = session.scalar(
        select(ZoneRow.id).where(
            ZoneRow.camera_id == camera_id, ZoneRow.name == name, ZoneRow.id != zone_id
        )
    )
    if clash is not None:
        raise DuplicateZoneError(f"camera {camera_id!r} already has a zone named {name!r}")


def _flush_zone(session: Session, camera_id: str, name: str) -> None:
    try:
        session.flush()
    except IntegrityError as error:  # the same name written concurrently
        raise DuplicateZoneError(
            f"camera {camera_id!r} already has a zone named {name!r}"
        ) from error


def _relink(session: Session, zone: Zone) -> None:
    """Recompute the zone's links over its camera's stored tracks, streamed in batches."""
    session.execute(delete(TrackZoneRow).where(TrackZoneRow.zone_id == zone.id))
    statement = (
        select(TrackRow.id, TrackRow.trajectory, TrackRow.frame_width_px, TrackRow.frame_height_px)
        .where(TrackRow.camera_id == zone.camera_id, TrackRow.frame_width_px.is_not(None))
        .execution_options(yield_per=BACKFILL_BATCH_TRACKS)
    )
    for batch in session.execute(statement).partitions():
        links = zone_links(
            [zone],
            [row.id for row in batch],
            [row.trajectory or () for row in batch],
            [(row.frame_width_px, row.frame_height_px) for row in batch],
        )
        if links:
            session.execute(insert(TrackZoneRow), links)


def create_zone(
    session: Session, camera_id: str, name: str, polygon: Sequence[Sequence[float]]
) -> Zone:
    """Add a zone to a camera and link the camera's stored tracks that passed through it.

    Raises UnknownCameraError, DuplicateZoneError, or ValueError for a bad name or polygon.
    """
    name, vertices = check_zone_name(name), check_polygon(polygon)
    _lock_camera(session, camera_id)
    _refuse_clash(session, camera_id, name, 0)
    row = ZoneRow(camera_id=camera_id, name=name, polygon=[list(p) for p in vertices])
    session.add(row)
    _flush_zone(session, camera_id, name)
    zone = _zone(row)
    _relink(session, zone)
    return zone


def update_zone(
    session: Session, zone_id: int, name: str, polygon: Sequence[Sequence[float]]
) -> Zone:
    """Rename and reshape a zone; its links are recomputed when the polygon changed."""
    name, vertices = check_zone_name(name), check_polygon(polygon)
    row = session.get(ZoneRow, int(zone_id))
    if row is None:
        raise UnknownZoneError(f"zone {zone_id} is not in the catalog")
    _lock_camera(session, row.camera_id)
    _refuse_clash(session, row.camera_id, name, row.id)
    reshaped = _zone(row).polygon != vertices
    row.name, row.polygon = name, [list(p) for p in vertices]
    _flush_zone(session, row.camera_id, name)
    zone = _zone(row)
    if reshaped:
        _relink(session, zone)
    return zone


def set_zone_rule(session: Session, zone_id: int, rule: ZoneRuleSpec) -> Zone:
    """Give a zone its rule (a checked ZoneRuleSpec); UnknownZoneError when there is none."""
    row = session.get(ZoneRow, int(zone_id))
    if row is None:
        raise UnknownZoneError(f"zone {zone_id} is not in the catalog")
    row.kind = rule.kind
    row.schedule = schedule_to_document(rule.schedule)
    row.min_dwell_s = float(rule.min_dwell_s)
    row.sensitivity = float(rule.sensitivity)
    row.classes = sorted(rule.classes) or None
    session.flush()
    return _zone(row)


def delete_zone(session: Session, zone_id: int) -> bool:
    """Remove a zone and its links; False when there is no such zone."""
    row = session.get(ZoneRow, int(zone_id))
    if row is None:
        return False
    _lock_camera(session, row.camera_id)
    session.execute(delete(TrackZoneRow).where(TrackZoneRow.zone_id == row.id))
    session.delete(row)
    session.flush()
    return True


def get_zone(session: Session, zone_id: int) -> Zone | None:
    row = session.get(ZoneRow, int(zone_id))
    return None if row is None else _zone(row)


def list_zones(session: Session, camera_id: str) -> list[Zone]:
    """The camera's zones by name."""
    rows = session.scalars(
        select(ZoneRow).where(ZoneRow.camera_id == camera_id).order_by(ZoneRow.name)
    )
    return [_zone(row) for row in rows]


def camera_zone_rules(session: Session, camera_id: str, default_timezone: str) -> list[ZoneRule]:
    """The detector's rules of the camera's zones that have one (kind other than generic), in
    the camera's time zone (`default_timezone`, SKYNET_TIMEZONE, when it has none)."""
    timezone = camera_timezone(session, camera_id, default_timezone)
    rows = session.scalars(
        select(ZoneRow)
        .where(ZoneRow.camera_id == camera_id, ZoneRow.kind != "generic")
        .order_by(ZoneRow.id)
    )
    return [zone_rule(_zone(row), timezone) for row in rows]


def zone_rules_of_cameras(
    session: Session, timezones: Mapping[str, str]
) -> dict[str, list[ZoneRule]]:
    """`camera_zone_rules` for many cameras in one query: `timezones` maps each camera id to
    its time zone (its own or SKYNET_TIMEZONE); every camera id gets a list, maybe empty."""
    rules: dict[str, list[ZoneRule]] = {camera_id: [] for camera_id in timezones}
    if not timezones:
        return rules
    rows = session.scalars(
        select(ZoneRow)
        .where(ZoneRow.camera_id.in_(sorted(timezones)), ZoneRow.kind != "generic")
        .order_by(ZoneRow.id)
    )
    for row in rows:
        rules[row.camera_id].append(zone_rule(_zone(row), timezones[row.camera_id]))
    return rules


def zones_by_ids(session: Session, zone_ids: Collection[int]) -> list[Zone]:
    """The zones with these ids, by id (unknown ids are skipped)."""
    rows = session.scalars(
        select(ZoneRow)
        .where(ZoneRow.id.in_(sorted({int(i) for i in zone_ids})))
        .order_by(ZoneRow.id)
    )
    return [_zone(row) for row in rows]


def zones_on_cameras(session: Session, camera_ids: Collection[str] | None) -> list[Zone]:
    """The zones of these cameras (None: of every camera), by id."""
    statement = select(ZoneRow).order_by(ZoneRow.id)
    if camera_ids is not None:
        statement = statement.where(ZoneRow.camera_id.in_(sorted(camera_ids)))
    return [_zone(row) for row in session.scalars(statement)]


def entered_zones(
    session: Session, track_ids: Collection[int], zone_ids: Collection[int]
) -> dict[int, list[Zone]]:
    """For each of `track_ids`, the zones among `zone_ids` it entered, by id (one query)."""
    if not track_ids or not zone_ids:
        return {}
    statement = (
        select(TrackZoneRow.track_id, ZoneRow)
        .join(ZoneRow, ZoneRow.id == TrackZoneRow.zone_id)
        .where(
            TrackZoneRow.track_id.in_(sorted(track_ids)),
            TrackZoneRow.zone_id.in_(sorted(zone_ids)),
        )
        .order_by(TrackZoneRow.track_id, ZoneRow.id)
    )
    entered: dict[int, list[Zone]] = {}
    for track_id, row in session.execute(statement):
        entered.setdefault(int(track_id), []).append(_zone(row))
    return entered


def zone_track_counts(session: Session, zone_ids: Collection[int]) -> dict[int, int]:
    """How many tracks passed through each zone (zones without any are left out)."""
    statement = (
        select(TrackZoneRow.zone_id, func.count())
        .where(TrackZoneRow.zone_id.in_(sorted(zone_ids)))
        .group_by(TrackZoneRow.zone_id)
    )
    return {int(zone_id): int(count) for zone_id, count in session.execute(statement)}


def link_new_tracks(session: Session, tracks: Sequence[tuple[int, NewTrack]]) -> None:
    """Link just-inserted (id, track) pairs to the zones of their cameras."""
    placed = [
        (track_id, track, track.frame_size_px)
        for track_id, track in tracks
        if track.frame_size_px is not None and track.trajectory
    ]
    camera_ids = sorted({track.camera_id for _, track, _ in placed})
    if not camera_ids:
        return
    session.execute(  # waits for a zone write on these cameras to commit (PostgreSQL)
        select(CameraRow.id)
        .where(CameraRow.id.in_(camera_ids))
        .order_by(CameraRow.id)
        .with_for_update(read=True)
    ).all()
    zones = [
        _zone(r) for r in session.scalars(select(ZoneRow).where(ZoneRow.camera_id.in_(camera_ids)))
    ]
    links = []
    for camera_id in sorted({zone.camera_id for zone in zones}):
        on_camera = [p for p in placed if p[1].camera_id == camera_id]
        links += zone_links(
            [zone for zone in zones if zone.camera_id == camera_id],
            [track_id for track_id, _, _ in on_camera],
            [track.trajectory for _, track, _ in on_camera],
            [size for _, _, size in on_camera],
        )
    if links:
        session.execute(insert(TrackZoneRow), links)
