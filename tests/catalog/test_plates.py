"""Plates in the catalog: stored per vehicle track (idempotent, reads and alternatives kept),
and plate search (exact, prefix, contains, wildcard in SQL with LIKE escaping; fuzzy ranked in
Python) through the TrackQuery filters (SQLite here; PostgreSQL too under `integration`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from detect.plate_match import PlatePattern, parse_plate_pattern
from detect.plate_values import PlateRead, TrackPlate
from index import catalog
from index.catalog import TrackQuery
from index.catalog.plates import (
    escape_like,
    get_plate,
    like_pattern,
    plates_by_track_ids,
    search_plates,
    store_plate,
    store_plates,
)
from tests.catalog.test_track_search import LEFT_HALF, T0, camera, track


def plate(text: str, alternatives: tuple[tuple[str, float], ...] = ()) -> TrackPlate:
    reads = (
        PlateRead(text, (0.9,) * len(text), T0, (10.0, 20.0, 110.0, 50.0), "blue", 1, "standard"),
        PlateRead(text[:-1] + "8", (0.6,) * len(text), T0 + timedelta(seconds=1),
                  (12.0, 21.0, 112.0, 51.0), "blue", 1, "standard"),
    )  # fmt: skip
    return TrackPlate(text, 0.9, alternatives, reads, b"jpeg")


PLATES = {
    "jl_1": "吉A12345",
    "jl_2": "吉A12845",
    "bj": "京A12345",
    "jl_far": "吉B99999",
    "cam2": "吉A12345",
}


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Five cars with plates on two cameras (jl_1 and jl_2 in cam1's left-half zone)."""
    with sessions.begin() as session:
        for camera_id in ("cam1", "cam2"):
            catalog.upsert_camera(session, camera(camera_id))
        tracks = [
            track(1, T0),
            track(2, T0 + timedelta(minutes=1)),
            track(3, T0 + timedelta(minutes=2), foot_x_px=500.0),
            track(4, T0 + timedelta(minutes=3), attributes={"colour": "red"}),
            track(5, T0 + timedelta(minutes=4), camera_id="cam2"),
            track(6, T0 + timedelta(minutes=5)),  # no plate read
        ]
        ids = dict(zip([*PLATES, "unread"], catalog.add_tracks(session, tracks), strict=True))
        store_plates(
            session,
            [
                (ids["jl_1"], plate(PLATES["jl_1"]), "plates/cam1/1.jpg"),
                (ids["jl_2"], plate(PLATES["jl_2"], (("吉A1Z345", 0.3),)), None),
                (ids["bj"], plate(PLATES["bj"]), None),
                (ids["jl_far"], plate(PLATES["jl_far"]), None),
                (ids["cam2"], plate(PLATES["cam2"]), None),
            ],
        )
        ids["zone"] = catalog.create_zone(session, "cam1", "Left", LEFT_HALF).id
    return ids


def found(session: Session, pattern: PlatePattern, query: TrackQuery | None = None) -> list[int]:
    return [
        hit.plate.track_id
        for hit in search_plates(session, pattern, query or TrackQuery(), 10).hits
    ]


def test_a_plate_reads_back_with_its_evidence_and_stays_on_reingest(
    sessions: sessionmaker[Session], stored: dict[str, int]
) -> None:
    with sessions.begin() as session:
        store_plate(session, stored["jl_1"], plate("京Z00000"))  # a re-ingest: ignored
        got = get_plate(session, stored["jl_1"])
        assert got is not None
        assert (got.text, got.confidence, got.plate_format, got.colour, got.crop_key) == (
            "吉A12345", 0.9, "standard", "blue", "plates/cam1/1.jpg",
        )  # fmt: skip
        assert [read["text"] for read in got.reads] == ["吉A12345", "吉A12348"]
        assert got.reads[0]["box"] == [10.0, 20.0, 110.0, 50.0]
        assert datetime.fromisoformat(got.reads[1]["at"]) == T0 + timedelta(seconds=1)
        assert get_plate(session, stored["jl_2"]).alternatives == (("吉A1Z345", 0.3),)  # type: ignore[union-attr]
        assert get_plate(session, stored["unread"]) is None
        assert set(plates_by_track_ids(session, stored.values())) == {
            stored[name] for name in PLATES
        }


def test_sql_modes_match_newest_first(
    sessions: sessionmaker[Session], stored: dict[str, int]
) -> None:
    with sessions() as session:
        assert found(session, parse_plate_pattern("吉A12345")) == [stored["cam2"], stored["jl_1"]]
        assert found(session, parse_plate_pattern("吉A12", "prefix")) == [
            stored["cam2"], stored["jl_2"], stored["jl_1"],
        ]  # fmt: skip
        assert found(session, parse_plate_pattern("A12345", "contains")) == [
            stored["cam2"], stored["bj"], stored["jl_1"],
        ]  # fmt: skip
        assert found(session, parse_plate_pattern("吉A*2?45", "wildcard")) == [
            stored["cam2"], stored["jl_2"], stored["jl_1"],
        ]  # fmt: skip
        assert found(session, parse_plate_pattern("*9999", "wildcard")) == [stored["jl_far"]]
        assert found(session, parse_plate_pattern("吉A1234", "exact")) == []


def test_fuzzy_ranks_lookalikes_and_alternatives_first(
    sessions: sessionmaker[Session], stored: dict[str, int]
) -> None:
    with sessions() as session:
        result = search_plates(
            session, parse_plate_pattern("吉A1Z345", "fuzzy", 1.0), TrackQuery(), 10
        )
        ranked = [(hit.plate.track_id, hit.distance) for hit in result.hits]
        # jl_2's alternative is the query itself; 2/Z is a look-alike; 京/吉 two hanzi.
        assert ranked == [
            (stored["jl_2"], 0.0), (stored["cam2"], 0.3), (stored["jl_1"], 0.3),
            (stored["bj"], 1.0),
        ]  # fmt: skip
        assert result.total == 4
        assert result.hits[0].why.startswith("alternative read '吉A1Z345'")
        assert "look-alike Z→2" in result.hits[1].why
        page = search_plates(
            session, parse_plate_pattern("吉A1Z345", "fuzzy", 1.0), TrackQuery(), 2, 2
        )
        assert [hit.plate.track_id for hit in page.hits] == [stored["jl_1"], stored["bj"]]


def test_plate_search_honours_camera_time_zone_and_attribute_filters(
    sessions: sessionmaker[Session], stored: dict[str, int]
) -> None:
    prefix = parse_plate_pattern("吉", "prefix")
    with sessions() as session:
        assert found(session, prefix, TrackQuery(camera_ids=("cam2",))) == [stored["cam2"]]
        window = TrackQuery(start=T0 + timedelta(seconds=30), end=T0 + timedelta(minutes=3))
        assert found(session, prefix, window) == [stored["jl_2"]]
        assert found(session, prefix, TrackQuery(zone_ids=(stored["zone"],))) == [
            stored["jl_far"], stored["jl_2"], stored["jl_1"],
        ]  # fmt: skip
        red = TrackQuery(attributes=catalog.AttributeFilter(colour="red"))
        assert found(session, parse_plate_pattern("吉B99998", "fuzzy"), red) == [stored["jl_far"]]
        assert found(session, prefix, TrackQuery(camera_ids=())) == []


def test_like_patterns_escape_their_special_characters() -> None:
    assert escape_like("a%b_c\\") == "a\\%b\\_c\\\\"
    assert like_pattern(parse_plate_pattern("吉A*2?5", "wildcard")) == "吉A%2_5"
    assert like_pattern(PlatePattern("A%1", "prefix")) == "A\\%1%"
    assert like_pattern(PlatePattern("A_1", "contains")) == "%A\\_1%"


def test_a_percent_in_a_pattern_is_a_literal(
    sessions: sessionmaker[Session], stored: dict[str, int]
) -> None:
    """Patterns are parsed before they reach the catalog, but the SQL does not rely on it."""
    with sessions() as session:
        assert found(session, PlatePattern("%", "contains")) == []
        assert found(session, PlatePattern("_", "contains")) == []
