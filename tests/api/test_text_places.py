"""Free text that names cameras and zones by their display names, and carried objects: "东门"
is the camera called 东门 for a caller who may see it and an unknown place for one who may not;
"背包" finds the person seen with a backpack and not the one without."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from index.catalog import (
    CameraSpec,
    NewTrack,
    add_track,
    create_api_key,
    create_case,
    create_zone,
    upsert_camera,
)
from search_api.app import create_app
from tests.api_support import BASE_URL, empty_context

API = "/api/v1"
NOW = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
URL = "rtsp://127.0.0.1:8554/cam/main"


@dataclass
class PlacesApi:
    client: TestClient
    keys: dict[str, str]
    cases: dict[str, str]
    with_backpack: int
    without: int


def person(camera_id: str, local_id: int, attributes: dict[str, object]) -> NewTrack:
    seen_at = NOW - timedelta(hours=1, minutes=local_id)
    return NewTrack(
        camera_id=camera_id,
        local_track_id=local_id,
        class_name="person",
        confidence=0.9,
        start_at=seen_at,
        end_at=seen_at + timedelta(seconds=8),
        best_shot_at=seen_at,
        best_bbox_xyxy_px=(10.0, 10.0, 50.0, 130.0),
        attributes=attributes,
    )


@pytest.fixture(scope="module")
def places_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlacesApi]:
    context = empty_context(tmp_path_factory.mktemp("text_places"))
    with context.sessions() as session:
        upsert_camera(session, CameraSpec("cam1", "西门", URL))
        upsert_camera(session, CameraSpec("cam3", "东门", URL))
        create_zone(session, "cam3", "占道区域", [(0, 0), (1, 0), (1, 1)])
        carrying = add_track(session, person("cam3", 1, {"carrying": {"backpack": 0.6}}))
        plain = add_track(session, person("cam3", 2, {}))
        add_track(session, person("cam1", 3, {"carrying": {"backpack": 0.9}}))
        keys = {
            "all": create_api_key(session, "ana", "investigator"),
            "west": create_api_key(session, "wes", "investigator", camera_ids=["cam1"]),
        }
        cases = {
            "all": create_case(session, "Backpack", "ana"),
            "west": create_case(session, "West", "wes"),
        }
        session.commit()
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        yield PlacesApi(client, keys, cases, carrying, plain)


def text_search(api: PlacesApi, who: str, text: str) -> dict[str, object]:
    response = api.client.post(
        f"{API}/search/text",
        json={"text": text, "now": NOW.isoformat(), "case_id": api.cases[who], "purpose": "t"},
        headers={"X-API-Key": api.keys[who]},
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_camera_display_name_and_a_carried_object(places_api: PlacesApi) -> None:
    found = text_search(places_api, "all", "东门 背着背包的男子")
    parsed = found["parsed"]
    assert isinstance(parsed, dict) and isinstance(found["hits"], list)
    assert parsed["camera_ids"] == ["cam3"] and parsed["classes"] == ["person"]
    assert parsed["attributes"] == {"carrying": "backpack"}
    assert parsed["unparsed"] == ["男子"]
    assert [hit["track_id"] for hit in found["hits"]] == [places_api.with_backpack]
    assert found["hits"][0]["why"]["matched_attributes"] == {"carrying": 0.6}


def test_a_names_outside_the_callers_cameras_is_not_read(places_api: PlacesApi) -> None:
    found = text_search(places_api, "west", "东门 背包的人")
    parsed = found["parsed"]
    assert isinstance(parsed, dict) and isinstance(found["hits"], list)
    assert parsed["camera_ids"] == [] and "东门" in parsed["unparsed"]
    assert {hit["camera_id"] for hit in found["hits"]} == {"cam1"}


def test_a_zone_named_with_its_suffix(places_api: PlacesApi) -> None:
    found = text_search(places_api, "all", "占道区域的人")
    parsed = found["parsed"]
    assert isinstance(parsed, dict)
    assert [zone["name"] for zone in parsed["zones"]] == ["占道区域"]


def test_carrying_filter_on_attribute_search(places_api: PlacesApi) -> None:
    response = places_api.client.post(
        f"{API}/search/attributes",
        json={"classes": ["person"], "carrying": "Backpack", "camera_ids": ["cam3"],
              "case_id": places_api.cases["all"], "purpose": "t"},
        headers={"X-API-Key": places_api.keys["all"]},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert [hit["track_id"] for hit in response.json()["hits"]] == [places_api.with_backpack]
    refused = places_api.client.post(
        f"{API}/search/attributes",
        json={"carrying": "parrot", "case_id": places_api.cases["all"], "purpose": "t"},
        headers={"X-API-Key": places_api.keys["all"]},
    )
    assert refused.status_code == 422 and "carrying" in refused.text
