"""Query types of the search API on real models and a real SQLite catalog: by track, by
attributes, by text, image + attribute filters; access rules, audit and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from index.catalog import AttributeFilter, TrackQuery, audit_entries
from tests.api_support import T0, ApiEnv, api_env, jpeg

API = "/api/v1"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("queries")) as built:
        yield built


def last_audit(env: ApiEnv, principal: str = "ana"):
    with env.context.sessions() as session:
        return audit_entries(session, principal=principal)[-1]


def test_more_like_this_track_finds_the_same_class_and_leaves_itself_out(env: ApiEnv) -> None:
    seed = env.persons[0]
    response = env.client.post(
        f"{API}/search/track/{seed}", json={"top_k": 5, **env.access()}, headers=env.headers()
    )
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert len(hits) == 5 and seed not in [h["track_id"] for h in hits]
    assert hits == sorted(hits, key=lambda h: -h["score"])
    for hit in hits:
        assert hit["why"]["similarity"] == hit["score"]
        assert hit["thumbnail_url"].startswith("http://testserver/api/v1/pictures/thumbnails/")
    entry = last_audit(env)
    assert (entry.query_type, entry.target, entry.hit_count) == ("track", f"track:{seed}", 5)
    assert entry.case_id == env.case_id


def test_track_search_with_camera_filter_is_exact(env: ApiEnv) -> None:
    response = env.client.post(
        f"{API}/search/track/{env.persons[0]}",
        json={"top_k": 50, "camera_ids": ["cam2"], "classes": ["person"], **env.access()},
        headers=env.headers(),
    )
    assert response.status_code == 200
    found = {h["track_id"] for h in response.json()["hits"]}
    assert found == {t for i, t in enumerate(env.persons) if i % 3 == 1}


def test_vehicle_attribute_search_needs_no_case_and_ranks_by_confidence(env: ApiEnv) -> None:
    body = {"classes": ["car", "truck"], "colour": "grey"}
    response = env.client.post(f"{API}/search/attributes", json=body, headers=env.headers())
    assert response.status_code == 200, response.text
    page = response.json()
    # grey matches the silver truck (cameras rarely tell them apart), not the red/white cars
    assert [h["track_id"] for h in page["hits"]] == [env.vehicles["silver_truck"]]
    assert page["hits"][0]["why"]["matched_attributes"] == {"colour": 0.6}
    assert page["total"] == 1
    cars = env.client.post(
        f"{API}/search/attributes", json={"classes": ["car"]}, headers=env.headers()
    ).json()
    # no attribute asked for: equal scores, newest first
    assert [h["track_id"] for h in cars["hits"]] == [
        env.vehicles["white_car"], env.vehicles["red_car"],
    ]  # fmt: skip
    parked = env.client.post(
        f"{API}/search/attributes", json={"classes": ["bus"], "stationary": True},
        headers=env.headers(),
    ).json()  # fmt: skip
    assert [h["track_id"] for h in parked["hits"]] == [env.vehicles["parked_bus"]]


def test_person_attribute_search_matches_the_stored_attributes_exactly(env: ApiEnv) -> None:
    wanted = env.person_attributes[1]["lower_colour"]
    body = {"classes": ["person"], "lower_colour": wanted, "direction": "W", **env.access()}
    response = env.client.post(f"{API}/search/attributes", json=body, headers=env.headers())
    assert response.status_code == 200, response.text
    expected = {
        track_id
        for track_id, attrs in zip(env.persons, env.person_attributes, strict=True)
        if AttributeFilter(lower_colour=wanted, direction="W").match(attrs) is not None
    }
    assert env.persons[1] in expected
    assert {h["track_id"] for h in response.json()["hits"]} == expected
    for hit in response.json()["hits"]:
        assert hit["attributes"]["lower_colour"] == wanted
        assert hit["attributes"]["direction"] in {"W", "NW", "SW"}


def test_dwell_and_speed_filters_read_the_stored_motion_attributes(env: ApiEnv) -> None:
    """The walkers' motion attributes come from detect/attributes.py (4 s walks of 200 px); the
    vehicles and hop tracks store no motion, so a range filter leaves them out."""
    walker = env.person_attributes[0]
    assert walker["dwell_s"] == 4.0 and walker["mean_speed_px_s"] == 50.0

    def hits(**ranges: float) -> list[dict]:
        response = env.client.post(
            f"{API}/search/attributes",
            json={**ranges, "top_k": 100, **env.access()},
            headers=env.headers(),
        )
        assert response.status_code == 200, response.text
        return response.json()["hits"]

    within = hits(min_dwell_s=4.0, max_dwell_s=4.5, min_speed_px_s=45, max_speed_px_s=55)
    assert {h["track_id"] for h in within} == set(env.persons)
    assert within[0]["why"]["matched_attributes"] == {"dwell_s": 1.0, "mean_speed_px_s": 1.0}
    for outside in ({"min_dwell_s": 4.5}, {"max_dwell_s": 3.5}, {"min_speed_px_s": 55},
                    {"max_speed_px_s": 45}):  # fmt: skip
        assert hits(**outside) == [], outside
    crossed = env.client.post(
        f"{API}/search/attributes",
        json={"min_dwell_s": 5, "max_dwell_s": 2, **env.access()},
        headers=env.headers(),
    )
    assert crossed.status_code == 422 and "max_dwell_s" in str(crossed.json()["detail"])


def test_range_filters_survive_the_stored_json_of_a_search() -> None:
    wanted = AttributeFilter(min_dwell_s=2.0, max_speed_px_s=80.0, stationary=False)
    restored = TrackQuery.from_json(TrackQuery(attributes=wanted).as_json())
    assert restored.attributes == wanted and not wanted.is_empty()
    assert AttributeFilter(max_dwell_s=0.0).is_empty() is False
    with pytest.raises(ValueError, match="min_speed_px_s"):
        AttributeFilter(min_speed_px_s=-1.0)


def test_attribute_search_pages(env: ApiEnv) -> None:
    body = {"classes": ["person"], "camera_ids": ["cam1", "cam2", "cam3"], "top_k": 5}
    body.update(env.access())
    pages = [
        env.client.post(
            f"{API}/search/attributes", json={**body, "offset": offset}, headers=env.headers()
        ).json()
        for offset in (0, 5, 10)
    ]
    ids = [h["track_id"] for page in pages for h in page["hits"]]
    assert sorted(ids) == sorted(env.persons) and pages[0]["total"] == 12


def test_text_search_in_chinese_resolves_camera_and_clothing(env: ApiEnv) -> None:
    colour = env.person_attributes[2]["upper_colour"]  # person 2 is on cam3
    zh = {"black": "黑", "white": "白", "grey": "灰", "blue": "蓝", "red": "红"}[colour]
    response = env.client.post(
        f"{API}/search/text",
        json={"text": f"穿{zh}衣服的人 3号摄像头", **env.access()},
        headers=env.headers(),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["parsed"]["camera_ids"] == ["cam3"]
    assert body["parsed"]["attributes"] == {"upper_colour": colour}
    expected = {
        t for i, t in enumerate(env.persons)
        if i % 3 == 2 and env.person_attributes[i]["upper_colour"] == colour
    }  # fmt: skip
    assert {h["track_id"] for h in body["hits"]} == expected and env.persons[2] in expected
    assert last_audit(env).query_type == "text"


def test_text_search_for_vehicles_with_a_time_window(env: ApiEnv) -> None:
    now = (T0 + timedelta(seconds=400)).isoformat()
    response = env.client.post(
        f"{API}/search/text",
        json={"text": "red car in the last 10 minutes", "now": now},
        headers=env.headers(),
    )
    assert response.status_code == 200, response.text
    assert [h["track_id"] for h in response.json()["hits"]] == [env.vehicles["red_car"]]
    later = (T0 + timedelta(hours=2)).isoformat()
    empty = env.client.post(
        f"{API}/search/text", json={"text": "red car in the last 10 minutes", "now": later},
        headers=env.headers(),
    )  # fmt: skip
    assert empty.status_code == 200 and empty.json()["hits"] == []


def test_image_search_combined_with_attribute_filters(env: ApiEnv) -> None:
    wanted = env.person_attributes[4]["upper_colour"]
    response = env.client.post(
        f"{API}/search/image",
        headers=env.headers(),
        files={"image": ("q.jpg", jpeg(env.later_crops[4]), "image/jpeg")},
        data={"whole_image": "true", "upper_colour": wanted, "top_k": "20", **env.access()},
    )
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    expected = {t for t, a in zip(env.persons, env.person_attributes, strict=True)
                if a["upper_colour"] == wanted}  # fmt: skip
    assert {h["track_id"] for h in hits} == expected
    assert hits[0]["track_id"] == env.persons[4]
    assert hits[0]["why"]["matched_attributes"] == {"upper_colour": 1.0}


@pytest.mark.parametrize(
    ("access", "message"),
    [
        ({}, "need case_id and purpose"),
        ({"case_id": "CASE"}, "need purpose"),
        ({"case_id": "nope", "purpose": "p"}, "case 'nope' does not exist"),
        ({"case_id": "CLOSED", "purpose": "p"}, "is closed"),
    ],
)
def test_person_searches_need_an_open_case_and_a_purpose(
    env: ApiEnv, access: dict[str, str], message: str
) -> None:
    access = {
        k: {"CASE": env.case_id, "CLOSED": env.closed_case_id}.get(v, v) for k, v in access.items()
    }
    for path, body in (
        (f"{API}/search/attributes", {"classes": ["person"]}),
        (f"{API}/search/attributes", {}),  # no class: may return persons
        (f"{API}/search/track/{env.persons[0]}", {}),
        (f"{API}/search/text", {"text": "white shirt"}),
    ):
        response = env.client.post(path, json={**body, **access}, headers=env.headers())
        assert response.status_code == 403, (path, response.text)
        assert message in response.json()["detail"]


def test_viewers_may_not_search_and_scope_limits_cameras(env: ApiEnv) -> None:
    body = {"classes": ["car"]}
    viewer = env.client.post(f"{API}/search/attributes", json=body, headers=env.headers("viewer"))
    assert viewer.status_code == 403
    desk = env.headers("cam2-only")  # a case is its creator's: the desk opens its own
    case_id = env.client.post(f"{API}/cases", json={"title": "Gate 2"}, headers=desk).json()["id"]
    scoped = env.client.post(
        f"{API}/search/attributes",
        json={"classes": ["person"], "case_id": case_id, "purpose": "gate 2"}, headers=desk,
    )  # fmt: skip
    assert {h["camera_id"] for h in scoped.json()["hits"]} == {"cam2"}
    hidden = env.client.post(
        f"{API}/search/track/{env.persons[0]}", json=env.access(), headers=env.headers("cam2-only")
    )
    assert hidden.status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "status", "names"),
    [
        ("/search/track/999999", {}, 404, "track 999999 not found"),
        ("/search/attributes", {"camera_ids": ["nope"], "classes": ["car"]}, 404, "['nope']"),
        ("/search/text", {"text": "红色轿车 99号摄像头"}, 422, "camera '99' not found"),
        ("/search/attributes", {"colour": "plaid"}, 422, "colour"),
        ("/search/attributes", {"classes": ["dragon"]}, 422, "classes"),
        ("/search/attributes", {"start": "2026-11-20T08:00:00"}, 422, "start"),
        ("/search/attributes", {"top_k": 0}, 422, "top_k"),
        ("/search/attributes", {"direction": "sideways"}, 422, "direction"),
        ("/search/attributes", {"min_speed_px_s": -1}, 422, "min_speed_px_s"),
        ("/search/text", {"text": "hello there"}, 422, "nothing in 'hello there'"),
        ("/search/text", {"text": "red car", "timezone": "Mars/Base"}, 422, "timezone"),
        ("/search/text", {"text": "red car in zone nowhere"}, 422, "no zone named ['nowhere']"),
        ("/jobs/search", {"kind": "text", "text": "区域北门的车"}, 422, "no zone named ['北门']"),
    ],
)
def test_bad_input_gets_a_clear_status(
    env: ApiEnv, path: str, body: dict, status: int, names: str
) -> None:
    response = env.client.post(f"{API}{path}", json={**body, **env.access()}, headers=env.headers())
    assert response.status_code == status, response.text
    assert names in str(response.json()["detail"])


def test_image_form_filters_are_validated_by_name(env: ApiEnv) -> None:
    response = env.client.post(
        f"{API}/search/image",
        headers=env.headers(),
        files={"image": ("q.jpg", jpeg(env.later_crops[0]), "image/jpeg")},
        data={"whole_image": "true", "lower_colour": "tartan", **env.access()},
    )
    assert response.status_code == 422 and "lower_colour" in response.json()["detail"]


def test_cases_open_list_close(env: ApiEnv) -> None:
    created = env.client.post(f"{API}/cases", json={"title": "Stolen bike"}, headers=env.headers())
    assert created.status_code == 201 and created.json()["is_open"] is True
    case_id = created.json()["id"]
    listed = env.client.get(f"{API}/cases?open_only=true", headers=env.headers()).json()
    listed_ids = [c["id"] for c in listed]
    assert case_id in listed_ids and env.closed_case_id not in listed_ids
    closed = env.client.post(f"{API}/cases/{case_id}/close", headers=env.headers())
    assert closed.status_code == 200 and closed.json()["is_open"] is False
    refused = env.client.post(
        f"{API}/search/attributes",
        json={"classes": ["person"], "case_id": case_id, "purpose": "x"},
        headers=env.headers(),
    )
    assert refused.status_code == 403
    assert env.client.get(f"{API}/cases/nope", headers=env.headers()).status_code == 404
    untitled = env.client.post(f"{API}/cases", json={"title": ""}, headers=env.headers())
    assert untitled.status_code == 422
    assert env.client.get(f"{API}/cases", headers=env.headers("viewer")).status_code == 403
    with env.context.sessions() as session:
        recent = [(e.action, e.target) for e in audit_entries(session, principal="ana")][-2:]
    # the refused search under the closed case is audited too (#12 item 10)
    assert recent == [("close_case", f"case:{case_id}"), ("search_denied", None)]


def test_picture_search_returns_the_query_objects_kind_by_default(env: ApiEnv) -> None:
    response = env.client.post(
        f"{API}/search/image",
        headers=env.headers(),
        files={"image": ("q.jpg", jpeg(env.later_crops[0]), "image/jpeg")},
        data={"whole_image": "true", "top_k": "100", **env.access()},
    )
    assert response.status_code == 200, response.text
    assert response.json()["query"]["class_name"] == "person"
    hits = response.json()["hits"]
    assert hits and {h["class_name"] for h in hits} == {"person"}
    assert not {h["track_id"] for h in hits} & set(env.vehicles.values())
