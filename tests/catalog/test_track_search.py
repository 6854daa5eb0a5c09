"""Track search in the catalog: the one TrackQuery filter (cameras, time, classes, zones,
attributes), its progress callback, time-window reads for hop search, and the camera, zone and
case reads the API's searches use (SQLite here; PostgreSQL too under `integration`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from index import catalog
from index.catalog import (
    AttributeFilter,
    CameraSpec,
    NaiveDatetimeError,
    NewTrack,
    TrackMatch,
    TrackQuery,
    TrackSpan,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FRAME_PX = (640, 480)
LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]


def camera(camera_id: str) -> CameraSpec:
    return CameraSpec(camera_id, f"Gate {camera_id[-1]}", f"rtsp://10.0.0.5/{camera_id}")


def track(
    local_id: int,
    start: datetime,
    camera_id: str = "cam1",
    class_name: str = "car",
    attributes: dict[str, object] | None = None,
    foot_x_px: float = 100.0,
) -> NewTrack:
    """A 10 s track whose feet stay at `foot_x_px` (left half of the frame below 320)."""
    x, y = foot_x_px, 400.0
    return NewTrack(
        camera_id=camera_id,
        local_track_id=local_id,
        class_name=class_name,
        confidence=0.9,
        start_at=start,
        end_at=start + timedelta(seconds=10),
        best_shot_at=start,
        best_bbox_xyxy_px=(x - 20, y - 100, x + 20, y),
        attributes=attributes or {},
        trajectory=[[0.0, x - 20, y - 100, x + 20, y], [9.0, x - 20, y - 100, x + 20, y]],
        frame_size_px=FRAME_PX,
    )


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Five tracks on two cameras; a zone over cam1's left half (red_car and old_car in it)."""
    with sessions.begin() as session:
        for camera_id in ("cam1", "cam2", "gone3"):
            catalog.upsert_camera(session, camera(camera_id))
        ids = dict(
            zip(
                ("red_car", "blue_car", "person", "old_car", "cam2_car"),
                catalog.add_tracks(
                    session,
                    [
                        track(1, T0, attributes={"colour": {"value": "red", "confidence": 0.8}}),
                        track(2, T0 + timedelta(minutes=1), attributes={"colour": "blue"},
                              foot_x_px=500.0),
                        track(3, T0 + timedelta(minutes=2), class_name="person"),
                        track(4, T0 - timedelta(hours=3), attributes={"colour": "red"}),
                        track(5, T0 + timedelta(minutes=3), camera_id="cam2",
                              attributes={"colour": "red", "colour_confidence": 0.5}),
                    ],
                ),
                strict=True,
            )
        )  # fmt: skip
        ids["zone"] = catalog.create_zone(session, "cam1", "Left", LEFT_HALF).id
        catalog.remove_camera(session, "gone3")
    return ids


def test_track_query_reads_back_from_json_and_refuses_naive_times() -> None:
    query = TrackQuery(
        camera_ids=["cam1", "cam2"],  # type: ignore[arg-type]  # lists are taken as tuples
        start=T0,
        end=T0 + timedelta(hours=1),
        class_names=("car",),
        zone_ids=[3, 7],  # type: ignore[arg-type]
        attributes=AttributeFilter(colour="Gray", min_confidence=0.4),
    )
    assert query.camera_ids == ("cam1", "cam2") and query.zone_ids == (3, 7)
    assert query.attributes.colour == "grey"
    assert TrackQuery.from_json(query.as_json()) == query
    assert TrackQuery.from_json(TrackQuery().as_json()) == TrackQuery()
    assert not TrackQuery().restricts_rows() and TrackQuery(zone_ids=()).matches_nothing()
    with pytest.raises(NaiveDatetimeError):
        TrackQuery(start=datetime(2026, 3, 1, 12, 0))


def test_matching_tracks_filters_every_dimension_newest_first(
    sessions: sessionmaker[Session], stored: dict[str, int]
) -> None:
    def matches(query: TrackQuery) -> list[TrackMatch]:
        return list(catalog.matching_tracks(session, query))

    with sessions() as session:
        cars = matches(TrackQuery(class_names=("car",)))
        assert [m.track_id for m in cars] == [
            stored[name] for name in ("cam2_car", "blue_car", "red_car", "old_car")
        ]
        red = matches(TrackQuery(attributes=AttributeFilter(colour="red")))
        assert {m.track_id: dict(m.matched) for m in red} == {
            stored["cam2_car"]: {"colour": 0.5},
            stored["red_car"]: {"colour": 0.8},
            stored["old_car"]: {"colour": 1.0},
        }
        confident = AttributeFilter(colour="red", min_confidence=0.6)
        in_zone_today = TrackQuery(
            camera_ids=("cam1",), start=T0 - timedelta(minutes=5), zone_ids=(stored["zone"],)
        )
        assert [m.track_id for m in matches(in_zone_today)] == [stored["person"], stored["red_car"]]
        cars_in_zone = TrackQuery(class_names=("car",), zone_ids=(stored["zone"],))
        assert [m.track_id for m in matches(cars_in_zone)] == [stored["red_car"], stored["old_car"]]
        red_anywhere = TrackQuery(attributes=confident)
        assert {m.track_id for m in matches(red_anywhere)} == {stored["red_car"], stored["old_car"]}
        assert matches(TrackQuery(camera_ids=())) == []
        assert [m.track_id for m in catalog.matching_tracks(session, TrackQuery(), 2)] == [
            stored["cam2_car"],
            stored["person"],
        ]  # at most max_rows candidates, newest first


def test_counts_ids_and_progress_of_a_scan(
    sessions: sessionmaker[Session], stored: dict[str, int]
) -> None:
    red = TrackQuery(class_names=("car",), attributes=AttributeFilter(colour="red"))
    with sessions() as session:
        assert catalog.count_candidate_tracks(session, red) == 4  # attributes are not counted
        assert catalog.count_candidate_tracks(session, TrackQuery(class_names=())) == 0
        assert catalog.matching_track_ids(session, red) == {
            stored["cam2_car"]: {"colour": 0.5},
            stored["red_car"]: {"colour": 0.8},
            stored["old_car"]: {"colour": 1.0},
        }
        cam1 = catalog.matching_track_ids(session, TrackQuery(camera_ids=("cam1",)))
        assert cam1 == {stored[n]: {} for n in ("red_car", "blue_car", "person", "old_car")}
        seen: list[int] = []
        found = list(
            catalog.matching_tracks(session, red, scanned=seen.append, scanned_every_rows=2)
        )
        assert len(found) == 3 and seen == [2, 4]  # called every 2 candidates read


def test_time_window_reads_for_hop_search(
    sessions: sessionmaker[Session], stored: dict[str, int]
) -> None:
    with sessions() as session:
        starting = catalog.tracks_starting_between(
            session, "cam1", "car", T0 + timedelta(seconds=30), T0 + timedelta(minutes=5)
        )
        assert starting == [
            TrackSpan(
                stored["blue_car"], "cam1", "car", T0 + timedelta(minutes=1),
                T0 + timedelta(minutes=1, seconds=10),
            )
        ]  # fmt: skip
        ending = catalog.tracks_ending_between(
            session, "cam1", "car", T0 - timedelta(hours=4), T0 + timedelta(seconds=10)
        )
        assert sorted(span.track_id for span in ending) == sorted(
            [stored["red_car"], stored["old_car"]]
        )
        assert (
            catalog.tracks_ending_between(session, "cam1", "bus", T0, T0 + timedelta(hours=1)) == []
        )


def test_camera_zone_and_case_reads(
    sessions: sessionmaker[Session], stored: dict[str, int]
) -> None:
    with sessions.begin() as session:
        assert [c.id for c in catalog.searchable_cameras(session)] == ["cam1", "cam2", "gone3"]
        assert [c.id for c in catalog.list_cameras(session)] == ["cam1", "cam2"]
        right = catalog.create_zone(session, "cam2", "Right", [(0.5, 0), (1, 0), (1, 1), (0.5, 1)])
        assert [z.id for z in catalog.zones_on_cameras(session, None)] == [stored["zone"], right.id]
        assert [z.name for z in catalog.zones_on_cameras(session, ["cam2"])] == ["Right"]
        entered = catalog.entered_zones(
            session, [stored["red_car"], stored["blue_car"]], [stored["zone"], right.id]
        )
        assert {i: [z.name for z in zones] for i, zones in entered.items()} == {
            stored["red_car"]: ["Left"]
        }
        assert catalog.entered_zones(session, [], [stored["zone"]]) == {}
        first = catalog.create_case(session, "first", "ann")
        second = catalog.create_case(session, "second", "ann")
        catalog.close_case(session, first)
    with sessions() as session:
        assert {c.id for c in catalog.list_cases(session)} == {first, second}
        assert [c.id for c in catalog.list_cases(session, open_only=True)] == [second]
