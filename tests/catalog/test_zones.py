"""Zones in the catalog on SQLite and a real PostgreSQL: polygon checks, point-in-polygon against
OpenCV, membership when tracks are stored, back-fill when a zone is written, removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

import index.catalog.zones
from index import catalog
from index.catalog import (
    CameraSpec,
    DuplicateZoneError,
    NewTrack,
    UnknownCameraError,
    session_factory,
)
from index.catalog.rows import TrackRow, TrackZoneRow
from index.catalog.zones import check_polygon, polygon_contains

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
BOTTOM_RIGHT = [(0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)]


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    sessions = session_factory(engine)
    with sessions() as session:
        for camera_id in ("cam-1", "cam-2"):
            catalog.upsert_camera(session, CameraSpec(camera_id, camera_id, "rtsp://h/main"))
        session.commit()
    return sessions


def feet_track(
    local_id: int,
    feet_px: list[tuple[float, float]],
    camera_id: str = "cam-1",
    frame_size_px: tuple[int, int] | None = (640, 480),
) -> NewTrack:
    """A track whose boxes (40 px wide, 100 px tall) stand on these foot points."""
    trajectory = [[float(t), x - 20, y - 100, x + 20, y] for t, (x, y) in enumerate(feet_px)]
    return NewTrack(
        camera_id=camera_id,
        local_track_id=local_id,
        class_name="person",
        confidence=0.9,
        start_at=T0 + timedelta(seconds=local_id),
        end_at=T0 + timedelta(seconds=local_id + len(feet_px)),
        best_shot_at=T0 + timedelta(seconds=local_id),
        best_bbox_xyxy_px=(0.0, 0.0, 40.0, 100.0),
        trajectory=trajectory,
        frame_size_px=frame_size_px,
    )


def links(sessions: sessionmaker[Session]) -> dict[int, set[int]]:
    """zone id → track ids linked to it."""
    with sessions() as session:
        rows = session.execute(select(TrackZoneRow.zone_id, TrackZoneRow.track_id)).all()
    found: dict[int, set[int]] = {}
    for zone_id, track_id in rows:
        found.setdefault(zone_id, set()).add(track_id)
    return found


# ---- geometry --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vertices", "message"),
    [
        ([(0.1, 0.1), (0.9, 0.1)], "3 to 64 vertices"),
        ([(0.1, 0.1), (1.5, 0.1), (0.5, 0.9)], "outside the image"),
        ([(0.1, 0.1), (-0.1, 0.1), (0.5, 0.9)], "outside the image"),
        ([(0.1, 0.1), (float("nan"), 0.1), (0.5, 0.9)], "outside the image"),
        ([(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], "on one line"),
        ([(0.1, 0.1), (0.1, 0.1), (0.1, 0.1), (0.1, 0.1)], "on one line"),
        ([(0.1, 0.1), (0.3, 0.3), (0.6, 0.6), (0.9, 0.9)], "on one line"),
        ([(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)], "edges 0 and 2 cross"),  # area 0
        ([(0.1, 0.1, 0.3), (0.5, 0.5), (0.9, 0.1)], "is not [x, y]"),
    ],
)
def test_bad_polygons_are_refused_with_the_reason(vertices: list, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_polygon(vertices)


def test_polygon_contains_agrees_with_opencv_on_a_concave_polygon() -> None:
    # A "U": two legs joined at the bottom; the notch between the legs is outside.
    u_shape = [(0.1, 0.1), (0.3, 0.1), (0.3, 0.7), (0.7, 0.7), (0.7, 0.1), (0.9, 0.1),
               (0.9, 0.9), (0.1, 0.9)]  # fmt: skip
    points = np.random.default_rng(0).uniform(0, 1, size=(5000, 2))
    contour = np.array(u_shape, np.float32).reshape(-1, 1, 2)
    expected = [cv2.pointPolygonTest(contour, (float(x), float(y)), False) > 0 for x, y in points]
    assert polygon_contains(u_shape, points).tolist() == expected
    assert polygon_contains(u_shape, np.array([[0.5, 0.3], [0.2, 0.3], [0.5, 0.8]])).tolist() == [
        False, True, True,
    ]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    vertices=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=3, max_size=12),
    seed=st.integers(0, 2**31),
)
def test_polygon_contains_matches_opencv_for_any_polygon(
    vertices: list[tuple[float, float]], seed: int
) -> None:
    """Random (also self-intersecting) polygons; points on an edge are left out."""
    points = np.random.default_rng(seed).uniform(0, 1, size=(300, 2))
    contour = np.array(vertices, np.float32).reshape(-1, 1, 2)
    polygon = [(float(x), float(y)) for x, y in contour.reshape(-1, 2)]  # OpenCV's float32 view
    tests = [cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x, y in points]
    clear = np.abs(tests) > 1e-5
    inside = polygon_contains(polygon, points)
    # OpenCV counts crossings too (the even-odd rule) for self-intersecting polygons.
    assert inside[clear].tolist() == (np.array(tests)[clear] > 0).tolist()


# ---- membership ------------------------------------------------------------------------------


def test_tracks_are_linked_to_zones_when_stored(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        left = catalog.create_zone(session, "cam-1", "left half", LEFT_HALF)
        corner = catalog.create_zone(session, "cam-1", "bottom right", BOTTOM_RIGHT)
        other = catalog.create_zone(session, "cam-2", "left half", LEFT_HALF)
        session.commit()
    tracks = [
        feet_track(1, [(100, 200)]),  # left only
        feet_track(2, [(100, 400), (500, 400)]),  # walks from left into bottom right
        feet_track(3, [(500, 100)]),  # top right: in no zone
        feet_track(4, [(1000, 600)], frame_size_px=(1280, 720)),  # bottom right of a bigger frame
        feet_track(5, [(100, 200)], camera_id="cam-2"),
        feet_track(6, [(100, 200)], frame_size_px=None),  # size unknown: in no zone
        # The box's top-left corner is in the left half, its feet are not.
        NewTrack(**{**feet_track(7, []).__dict__, "trajectory": [[0.0, 300, 10, 360, 100]]}),
    ]
    with sessions() as session:
        ids = catalog.add_tracks(session, tracks)
        session.commit()
    expected = {
        left.id: {ids[0], ids[1]},
        corner.id: {ids[1], ids[3]},
        other.id: {ids[4]},
    }
    assert links(sessions) == expected
    with sessions() as session:  # re-ingest: same ids, no duplicate links
        assert catalog.add_tracks(session, tracks) == ids
        session.commit()
        assert catalog.get_track(session, ids[3]).frame_size_px == (1280, 720)  # type: ignore[union-attr]
        assert catalog.get_track(session, ids[5]).frame_size_px is None  # type: ignore[union-attr]
    assert links(sessions) == expected


def test_zone_writes_back_fill_the_cameras_stored_tracks(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index.catalog.zones, "BACKFILL_BATCH_TRACKS", 7)  # several batches
    rng = np.random.default_rng(5)
    walks = [rng.uniform([0, 0], [640, 480], size=(int(rng.integers(1, 6)), 2)) for _ in range(60)]
    tracks = [feet_track(i, [tuple(p) for p in walk]) for i, walk in enumerate(walks)]
    tracks.append(feet_track(100, [(330, 250)], camera_id="cam-2"))  # in both zones, other camera
    with sessions() as session:
        ids = catalog.add_tracks(session, tracks)
        session.commit()

    def inside(polygon: list[tuple[float, float]]) -> set[int]:
        contour = (np.array(polygon) * [640, 480]).astype(np.float32).reshape(-1, 1, 2)
        return {
            track_id
            for track_id, walk in zip(ids, walks, strict=False)
            if any(cv2.pointPolygonTest(contour, (float(x), float(y)), False) > 0 for x, y in walk)
        }

    triangle = [(0.2, 0.2), (0.8, 0.3), (0.4, 0.9)]
    with sessions() as session:
        zone = catalog.create_zone(session, "cam-1", "  triangle ", triangle)
        session.commit()
    assert zone.name == "triangle" and zone.polygon == tuple(triangle)
    assert 5 < len(inside(triangle)) < 55
    assert links(sessions) == {zone.id: inside(triangle)}

    with sessions() as session:  # renamed only: links kept
        renamed = catalog.update_zone(session, zone.id, "door", triangle)
        session.commit()
    assert renamed.name == "door" and renamed.updated_at >= zone.updated_at
    assert links(sessions) == {zone.id: inside(triangle)}

    with sessions() as session:  # reshaped: links recomputed
        catalog.update_zone(session, zone.id, "door", BOTTOM_RIGHT)
        assert catalog.zone_track_counts(session, [zone.id]) == {zone.id: len(inside(BOTTOM_RIGHT))}
        session.commit()
    assert links(sessions) == {zone.id: inside(BOTTOM_RIGHT)}

    with sessions() as session:
        assert catalog.delete_zone(session, zone.id) is True
        assert catalog.delete_zone(session, zone.id) is False
        session.commit()
        assert catalog.get_zone(session, zone.id) is None
    assert links(sessions) == {}


def test_zone_names_cameras_and_listing(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        door = catalog.create_zone(session, "cam-1", "door", LEFT_HALF)
        road = catalog.create_zone(session, "cam-1", "road", BOTTOM_RIGHT)
        catalog.create_zone(session, "cam-2", "door", LEFT_HALF)  # names are per camera
        session.commit()
        with pytest.raises(DuplicateZoneError, match="already has a zone named 'door'"):
            catalog.create_zone(session, "cam-1", "door", BOTTOM_RIGHT)
        session.rollback()
        with pytest.raises(DuplicateZoneError):
            catalog.update_zone(session, road.id, "door", BOTTOM_RIGHT)
        session.rollback()
        with pytest.raises(UnknownCameraError):
            catalog.create_zone(session, "nope", "door", LEFT_HALF)
        with pytest.raises(catalog.UnknownZoneError):
            catalog.update_zone(session, 999_999, "x", LEFT_HALF)
        with pytest.raises(ValueError, match="zone name"):
            catalog.create_zone(session, "cam-1", "   ", LEFT_HALF)
        catalog.remove_camera(session, "cam-2")
        with pytest.raises(UnknownCameraError):
            catalog.create_zone(session, "cam-2", "gate", LEFT_HALF)
        session.rollback()
        assert [z.name for z in catalog.list_zones(session, "cam-1")] == ["door", "road"]
        assert [z.id for z in catalog.zones_by_ids(session, [road.id, door.id, 999_999])] == [
            door.id, road.id,
        ]  # fmt: skip


def test_deleting_a_track_deletes_its_links(sessions: sessionmaker[Session]) -> None:
    """Retention deletes track rows; the database drops their zone links with them."""
    with sessions() as session:
        zone = catalog.create_zone(session, "cam-1", "left half", LEFT_HALF)
        kept, dropped = catalog.add_tracks(
            session, [feet_track(1, [(10, 10)]), feet_track(2, [(20, 20)])]
        )
        session.commit()
        session.execute(delete(TrackRow).where(TrackRow.id == dropped))
        session.commit()
    assert links(sessions) == {zone.id: {kept}}
