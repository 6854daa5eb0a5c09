"""Plate search over the API (#14 item 4): modes, filters, hits that are vehicle tracks with
their plate, case/purpose/audit like person searches, city managers refused, bad patterns 422."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from detect.plate_values import PlateRead, TrackPlate
from index.catalog import audit_entries, create_api_key
from index.catalog.plates import store_plates
from tests.api_support import T0, ApiEnv, api_env

URL = "/api/v1/search/plate"
PLATES = {"red_car": "吉A12345", "white_car": "吉A1Z845", "silver_truck": "京B99999"}


def plate(text: str) -> TrackPlate:
    read = PlateRead(text, (0.9,) * len(text), T0, (1.0, 2.0, 41.0, 14.0), "blue", 1, "standard")
    return TrackPlate(text, 0.9, (("吉A12346", 0.2),) if text == "京B99999" else (), (read,))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("plates")) as built:
        with built.context.sessions() as session:
            store_plates(
                session,
                [
                    (built.vehicles[name], plate(text), f"plates/{name}.jpg")
                    for name, text in PLATES.items()
                ],
            )
            built.keys["city"] = create_api_key(session, "city", "city_manager")
            session.commit()
        yield built


def search(env: ApiEnv, key: str = "investigator", **body: object) -> tuple[int, dict[str, Any]]:
    response = env.client.post(URL, json={**env.access(key), **body}, headers=env.headers(key))
    return response.status_code, response.json()


def test_each_mode_finds_the_vehicles_by_their_plate(env: ApiEnv) -> None:
    red, white, truck = (env.vehicles[n] for n in PLATES)
    status, exact = search(env, pattern="吉a 12345")
    assert status == 200 and [h["track_id"] for h in exact["hits"]] == [red]
    hit = exact["hits"][0]
    assert hit["plate"]["text"] == "吉A12345" and hit["plate"]["crop_url"].startswith("http")
    assert hit["thumbnail_url"] and hit["clip_url"] and hit["class_name"] == "car"
    assert hit["more_like_this"] == f"/api/v1/search/track/{red}"
    assert exact["pattern"] == "吉A12345" and exact["total"] == 1
    _, prefix = search(env, pattern="吉A1", mode="prefix")
    assert {h["track_id"] for h in prefix["hits"]} == {red, white}
    _, contains = search(env, pattern="9999", mode="contains")
    assert [h["track_id"] for h in contains["hits"]] == [truck]
    _, wildcard = search(env, pattern="吉A*8?5", mode="wildcard")
    assert [h["track_id"] for h in wildcard["hits"]] == [white]


def test_fuzzy_ranks_by_ocr_confusion(env: ApiEnv) -> None:
    red, white, truck = (env.vehicles[n] for n in PLATES)
    status, fuzzy = search(env, pattern="吉A12B45", mode="fuzzy", max_distance=1.5)
    assert status == 200
    ranked = [(h["track_id"], h["plate"]["distance"]) for h in fuzzy["hits"]]
    assert ranked == [(white, 0.6), (red, 1.0)]  # 2/Z and 8/B look-alikes beat one real change
    assert "look-alike" in fuzzy["hits"][0]["plate"]["why"]
    assert fuzzy["hits"][0]["score"] > fuzzy["hits"][1]["score"]
    _, by_alternative = search(env, pattern="吉A12346", mode="fuzzy", max_distance=0.5)
    assert [h["track_id"] for h in by_alternative["hits"]] == [truck]
    assert by_alternative["hits"][0]["plate"]["matched_text"] == "吉A12346"


def test_camera_and_time_filters_apply(env: ApiEnv) -> None:
    _, none = search(env, pattern="吉A", mode="prefix", camera_ids=["cam2"])
    assert none["hits"] == []
    later = (T0 + timedelta(seconds=305)).isoformat()
    _, after = search(env, pattern="吉A", mode="prefix", start=later)
    assert [h["track_id"] for h in after["hits"]] == [env.vehicles["white_car"]]


def test_plate_searches_need_a_case_and_are_audited(env: ApiEnv) -> None:
    bare = env.client.post(URL, json={"pattern": "吉A12345"}, headers=env.headers())
    assert bare.status_code == 403 and "case_id" in bare.json()["detail"]
    closed = {"case_id": env.closed_case_id, "purpose": "x", "pattern": "吉A12345"}
    assert env.client.post(URL, json=closed, headers=env.headers()).status_code == 403
    as_bob = search(env, "other", pattern="吉A12345", case_id=env.case_id)
    assert as_bob[0] == 403
    status, _ = search(env, pattern="吉A12345", mode="exact")
    assert status == 200
    with env.context.sessions() as session:
        entries = audit_entries(session)
    done = [e for e in entries if e.action == "search" and e.query_type == "plate"]
    assert done[-1].case_id == env.case_id and done[-1].purpose == "test investigation"
    assert done[-1].filters["pattern"] == "吉A12345" and done[-1].hit_count == 1
    denied = [e for e in entries if e.action == "search_denied" and e.query_type == "plate"]
    assert len(denied) >= 3


def test_roles_without_plate_search_are_refused(env: ApiEnv) -> None:
    body = {"pattern": "吉A12345", "case_id": env.case_id, "purpose": "p"}
    for key in ("city", "viewer"):
        response = env.client.post(URL, json=body, headers=env.headers(key))
        assert response.status_code == 403 and "role" in response.json()["detail"], key


@pytest.mark.parametrize(
    ("body", "field", "why"),
    [
        ({"pattern": "A" * 200}, "pattern", "at most 20"),
        ({"pattern": "A" * 201}, "pattern", "at most 200"),
        ({"pattern": "吉A\u000112"}, "pattern", "control character"),
        ({"pattern": "' OR 1=1 --", "mode": "contains"}, "pattern", "looks like SQL"),
        ({"pattern": "***", "mode": "wildcard"}, "pattern", "only wildcards"),
        ({"pattern": "[A1", "mode": "wildcard"}, "pattern", "unbalanced"),
        ({"pattern": "吉A*1"}, "pattern", "use mode wildcard"),
        ({"pattern": ""}, "pattern", "at least 1"),
        ({"pattern": "A12", "mode": "regex"}, "mode", "exact"),
        ({"pattern": "A12", "mode": "fuzzy", "max_distance": -1}, "max_distance", "greater"),
        ({"pattern": "A12", "top_k": 0}, "top_k", "greater"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    env: ApiEnv, body: dict[str, object], field: str, why: str
) -> None:
    response = env.client.post(URL, json={**env.access(), **body}, headers=env.headers())
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"body.{field}" in detail and why in detail, detail
