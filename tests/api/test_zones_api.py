"""Zone endpoints and the zone search filter on the real API (real models, SQLite catalog)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest

from index.catalog import (
    NewTrack,
    StoredTrack,
    add_tracks,
    audit_entries,
    create_api_key,
    embedding_from_bytes,
    get_track,
)
from tests.api_support import ApiEnv, api_env, jpeg

API = "/api/v1"
LEFT = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
RIGHT = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]


@dataclass
class ZoneEnv:
    env: ApiEnv
    left: list[int]  # cam1 tracks whose feet stay in the left half
    right: list[int]  # cam1 tracks whose feet stay in the right half
    left_car: int

    def headers(self, key: str) -> dict[str, str]:
        return self.env.headers(key)


def copy_placed(track: StoredTrack, local_id: int, feet_x_px: float) -> NewTrack:
    """The track again on cam1 at a later time, its feet at x = `feet_x_px` in a 640×480 frame."""
    fields = {k: v for k, v in track.__dict__.items() if k in NewTrack.__dataclass_fields__}
    x = feet_x_px
    later = timedelta(hours=1)
    return NewTrack(
        **{
            **fields,
            "camera_id": "cam1",
            "local_track_id": local_id,
            "start_at": track.start_at + later,
            "end_at": track.end_at + later,
            "best_shot_at": track.best_shot_at + later,
            "trajectory": [[0.0, x - 20, 200, x + 20, 300], [2.0, x - 10, 380, x + 30, 470]],
            "frame_size_px": (640, 480),
        }
    )


@pytest.fixture(scope="module")
def zones(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZoneEnv]:
    with api_env(tmp_path_factory.mktemp("zones")) as env:
        with env.context.sessions() as session:
            env.keys["admin"] = create_api_key(session, "adam", "admin")
            env.keys["operator"] = create_api_key(session, "olga", "operator")
            originals = [get_track(session, i) for i in [*env.persons[:8], env.vehicles["red_car"]]]
            tracks = [  # people 0, 2, 4, 6 and the red car walk on the left, 1, 3, 5, 7 right
                copy_placed(track, 500 + n, 100.0 if n % 2 == 0 else 500.0)
                for n, track in enumerate(t for t in originals if t is not None)
            ]
            ids = add_tracks(session, tracks)
            session.commit()
        vectors = [embedding_from_bytes(t.embedding or b"") for t in tracks]
        env.context.vectors.add(ids, np.stack(vectors))
        yield ZoneEnv(env, ids[0:8:2], ids[1:8:2], ids[8])


def add_zone(zones: ZoneEnv, name: str, polygon: list, camera_id: str = "cam1") -> dict:
    response = zones.env.client.post(
        f"{API}/cameras/{camera_id}/zones",
        json={"name": name, "polygon": polygon},
        headers=zones.headers("operator"),
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_zone_lifecycle_back_fills_and_audits(zones: ZoneEnv) -> None:
    client = zones.env.client
    zone = add_zone(zones, "left side", LEFT)
    assert zone["camera_id"] == "cam1" and zone["polygon"] == LEFT
    assert zone["track_count"] == len(zones.left) + 1  # the people on the left and the car
    path = f"{API}/cameras/cam1/zones/{zone['id']}"
    listed = client.get(f"{API}/cameras/cam1/zones", headers=zones.headers("viewer")).json()
    assert [z["name"] for z in listed] == ["left side"] and listed[0]["track_count"] == 5
    assert client.get(path, headers=zones.headers("viewer")).json() == zone

    moved = client.put(
        path, json={"name": "right side", "polygon": RIGHT}, headers=zones.headers("admin")
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["name"], moved.json()["track_count"]) == ("right side", len(zones.right))

    assert client.delete(path, headers=zones.headers("operator")).status_code == 204
    assert client.get(path, headers=zones.headers("viewer")).status_code == 404
    assert client.get(f"{API}/cameras/cam1/zones", headers=zones.headers("viewer")).json() == []
    with zones.env.context.sessions() as session:
        actions = [(e.action, e.target) for e in audit_entries(session) if e.action[:5] == "zone_"]
    target = f"zone:{zone['id']}"
    assert actions == [("zone_add", target), ("zone_update", target), ("zone_remove", target)]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "a", "polygon": [[0.1, 0.1], [0.9, 0.1]]}, "polygon", "3 to 64 vertices"),
        ({"name": "a", "polygon": [[0.1, 0.1], [1.2, 0.1], [0.5, 0.9]]}, "polygon", "outside"),
        ({"name": "a", "polygon": [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]}, "polygon", "one line"),
        ({"name": "a", "polygon": [[0.1], [0.5, 0.5], [0.9, 0.1]]}, "polygon", ""),
        ({"name": "  ", "polygon": LEFT}, "name", "zone name"),
        ({"name": "a" * 101, "polygon": LEFT}, "name", ""),
        ({"polygon": LEFT}, "name", ""),
        ({"name": "a", "polygon": LEFT, "colour": "red"}, "colour", ""),
    ],
)
def test_bad_zones_get_422_naming_the_field(
    zones: ZoneEnv, body: dict, field: str, message: str
) -> None:
    response = zones.env.client.post(
        f"{API}/cameras/cam1/zones", json=body, headers=zones.headers("operator")
    )
    assert response.status_code == 422, response.text
    errors = response.json()["detail"].split("; ")  # "body.field: message; …"
    assert any(e.startswith(f"body.{field}") and message in e for e in errors), errors


def test_unknown_cameras_and_zones_404_and_names_409(zones: ZoneEnv) -> None:
    client, operator = zones.env.client, zones.headers("operator")
    body = {"name": "door", "polygon": LEFT}
    assert client.post(f"{API}/cameras/nope/zones", json=body, headers=operator).status_code == 404
    assert client.get(f"{API}/cameras/nope/zones", headers=operator).status_code == 404
    door = add_zone(zones, "door", LEFT)
    duplicate = client.post(f"{API}/cameras/cam1/zones", json=body, headers=operator)
    assert duplicate.status_code == 409 and "'door'" in duplicate.json()["detail"]
    add_zone(zones, "door", LEFT, camera_id="cam2")  # the same name on another camera is fine
    gate = add_zone(zones, "gate", RIGHT)
    renamed = client.put(f"{API}/cameras/cam1/zones/{gate['id']}", json=body, headers=operator)
    assert renamed.status_code == 409
    for method in ("GET", "PUT", "DELETE"):
        for path in ("/cameras/cam1/zones/999999", f"/cameras/cam2/zones/{door['id']}"):
            response = client.request(method, API + path, headers=operator, json=body)
            assert response.status_code == 404, (method, path)
    for zone in (door, gate):
        client.delete(f"{API}/cameras/cam1/zones/{zone['id']}", headers=operator)


def test_zone_permissions_follow_roles_and_camera_scope(zones: ZoneEnv) -> None:
    client, body = zones.env.client, {"name": "lobby", "polygon": LEFT}
    for key in ("viewer", "investigator"):
        response = client.post(f"{API}/cameras/cam1/zones", json=body, headers=zones.headers(key))
        assert response.status_code == 403 and "operator" in response.json()["detail"]
    zone = add_zone(zones, "lobby", LEFT)
    path = f"{API}/cameras/cam1/zones/{zone['id']}"
    assert client.get(path, headers=zones.headers("viewer")).status_code == 200
    assert client.delete(path, headers=zones.headers("viewer")).status_code == 403
    scoped = zones.headers("cam2-only")  # may not see cam1 at all
    assert client.get(f"{API}/cameras/cam1/zones", headers=scoped).status_code == 404
    assert client.get(path, headers=scoped).status_code == 404
    assert client.get(f"{API}/cameras/cam1/zones", headers={}).status_code == 401
    assert client.delete(path, headers=zones.headers("admin")).status_code == 204


def test_search_filtered_by_zone(zones: ZoneEnv) -> None:
    client, env = zones.env.client, zones.env
    left = add_zone(zones, "left walk", LEFT)["id"]
    right = add_zone(zones, "right walk", RIGHT)["id"]
    body = {"classes": ["person"], "zone_ids": [left], "top_k": 100, **env.access()}
    found = client.post(f"{API}/search/attributes", json=body, headers=env.headers())
    assert found.status_code == 200, found.text
    assert sorted(h["track_id"] for h in found.json()["hits"]) == sorted(zones.left)
    with env.context.sessions() as session:
        assert audit_entries(session, principal="ana")[-1].filters["zone_ids"] == [left]

    both = client.post(
        f"{API}/search/attributes", json={**body, "zone_ids": [left, right]}, headers=env.headers()
    )
    assert sorted(h["track_id"] for h in both.json()["hits"]) == sorted(zones.left + zones.right)
    cars = client.post(
        f"{API}/search/attributes", json={"classes": ["car"], "zone_ids": [left]},
        headers=env.headers(),
    )  # fmt: skip
    assert [h["track_id"] for h in cars.json()["hits"]] == [zones.left_car]

    # "More like this" among the right walkers: the seed's copy on the right ranks first.
    seed = env.persons[1]
    similar = client.post(
        f"{API}/search/track/{seed}",
        json={"zone_ids": [right], "top_k": 20, **env.access()},
        headers=env.headers(),
    )
    hits = similar.json()["hits"]
    assert sorted(h["track_id"] for h in hits) == sorted(zones.right)
    assert hits[0]["track_id"] == zones.right[0] and hits[0]["score"] > 0.99

    picture = client.post(
        f"{API}/search/image",
        headers=env.headers(),
        files={"image": ("q.jpg", jpeg(env.later_crops[0]), "image/jpeg")},
        data={"whole_image": "true", "classes": "person", "zone_ids": f"{left}", **env.access()},
    )
    assert picture.status_code == 200, picture.text
    assert sorted(h["track_id"] for h in picture.json()["hits"]) == sorted(zones.left)

    elsewhere = client.post(
        f"{API}/search/attributes", json={**body, "camera_ids": ["cam2"]}, headers=env.headers()
    )
    assert elsewhere.status_code == 200 and elsewhere.json()["hits"] == []
    out_of_scope = client.post(
        f"{API}/search/attributes",
        json={**body, **env.access("cam2-only")},
        headers=env.headers("cam2-only"),
    )
    assert out_of_scope.status_code == 403 and "cam1" in out_of_scope.json()["detail"]


@pytest.mark.parametrize(
    ("zone_ids", "status", "names"),
    [
        ([999_999], 404, "zone(s) [999999] not found"),
        ([], 422, "zone_ids: empty list"),
        (["north"], 422, "zone_ids"),
    ],
)
def test_bad_zone_filters_get_a_clear_status(
    zones: ZoneEnv, zone_ids: list, status: int, names: str
) -> None:
    env = zones.env
    response = env.client.post(
        f"{API}/search/attributes",
        json={"classes": ["person"], "zone_ids": zone_ids, **env.access()},
        headers=env.headers(),
    )
    assert response.status_code == status, response.text
    assert names in str(response.json()["detail"])


def zone_refs(hit: dict) -> list[tuple[int, str]]:
    return [(zone["id"], zone["name"]) for zone in hit["why"]["zones"]]


def test_hits_name_the_zones_they_matched(zones: ZoneEnv) -> None:
    client, env = zones.env.client, zones.env
    west = add_zone(zones, "west", LEFT)["id"]
    east = add_zone(zones, "east", RIGHT)["id"]
    low_west = add_zone(zones, "low west", [[0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [0.0, 1.0]])["id"]
    body = {"classes": ["person"], "zone_ids": [west, east], "top_k": 100, **env.access()}
    found = client.post(f"{API}/search/attributes", json=body, headers=env.headers()).json()
    by_track = {hit["track_id"]: zone_refs(hit) for hit in found["hits"]}
    assert by_track == {
        **{track_id: [(west, "west")] for track_id in zones.left},
        **{track_id: [(east, "east")] for track_id in zones.right},
    }
    # Each zone of the filter the track entered, and only those.
    both = client.post(
        f"{API}/search/attributes", json={**body, "zone_ids": [low_west, west]},
        headers=env.headers(),
    ).json()  # fmt: skip
    assert {hit["track_id"]: zone_refs(hit) for hit in both["hits"]} == {
        track_id: [(west, "west"), (low_west, "low west")] for track_id in zones.left
    }
    unfiltered = client.post(
        f"{API}/search/attributes", json={"classes": ["person"], **env.access()},
        headers=env.headers(),
    ).json()  # fmt: skip
    assert unfiltered["hits"] and all(h["why"]["zones"] == [] for h in unfiltered["hits"])
    similar = client.post(
        f"{API}/search/track/{env.persons[1]}",
        json={"zone_ids": [east], "top_k": 5, **env.access()},
        headers=env.headers(),
    ).json()
    assert similar["hits"] and all(zone_refs(h) == [(east, "east")] for h in similar["hits"])


def test_text_names_a_zone(zones: ZoneEnv) -> None:
    client, env = zones.env.client, zones.env
    cam1_door = add_zone(zones, "入口", LEFT)
    cam2_door = add_zone(zones, "入口", LEFT, camera_id="cam2")  # no placed tracks on cam2
    door_ids = sorted([cam1_door["id"], cam2_door["id"]])

    def text_search(text: str, key: str = "investigator") -> dict:
        response = client.post(
            f"{API}/search/text", json={"text": text, "top_k": 100, **env.access(key)},
            headers=env.headers(key),
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()

    ambiguous = text_search("在入口区域的人")  # the name is on two cameras: both zones
    assert sorted(z["id"] for z in ambiguous["parsed"]["zones"]) == door_ids
    assert sorted(h["track_id"] for h in ambiguous["hits"]) == sorted(zones.left)
    assert all(zone_refs(h) == [(cam1_door["id"], "入口")] for h in ambiguous["hits"])
    on_cam2 = text_search("2号摄像头入口区域的人")  # the camera the text names decides
    assert [z["id"] for z in on_cam2["parsed"]["zones"]] == [cam2_door["id"]]
    assert on_cam2["hits"] == []
    english = text_search('people in zone "入口" on cam 1')
    assert [z["camera_id"] for z in english["parsed"]["zones"]] == ["cam1"]
    assert sorted(h["track_id"] for h in english["hits"]) == sorted(zones.left)
    scoped = text_search("入口区域的人", key="cam2-only")  # only the zones it may see
    assert [z["id"] for z in scoped["parsed"]["zones"]] == [cam2_door["id"]]

    unknown = client.post(
        f"{API}/search/text", json={"text": "zone 出口 的人", **env.access()},
        headers=env.headers(),
    )  # fmt: skip
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "text: no zone named ['出口'] on any visible camera"
    hidden = client.post(  # cam1's zones do not exist for a cam2-only key
        f"{API}/search/text", json={"text": "zone west", **env.access("cam2-only")},
        headers=env.headers("cam2-only"),
    )  # fmt: skip
    assert hidden.status_code == 422 and "['west'] on camera(s) ['cam2']" in hidden.text


def test_zone_filtered_job_counts_progress_over_the_zone(
    zones: ZoneEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress is rows scanned out of the rows in the zone, so it climbs to exactly 1."""
    from search_api import search_jobs

    env = zones.env
    zone = add_zone(zones, "left lane", LEFT)["id"]
    fractions: list[float] = []
    original = search_jobs.record_progress

    def recorded(session: object, job_id: str, runner_id: str, progress: float) -> bool:
        fractions.append(progress)
        return original(session, job_id, runner_id, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(search_jobs, "ATTRIBUTE_PROGRESS_ROWS", 1)
    monkeypatch.setattr(search_jobs, "record_progress", recorded)
    started = env.client.post(
        f"{API}/jobs/search",
        json={"kind": "attributes", "classes": ["person"], "zone_ids": [zone], **env.access()},
        headers=env.headers(),
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    env.client.app.state.search_jobs.wait(job_id, 30)  # type: ignore[attr-defined]
    job = env.client.get(f"{API}/jobs/{job_id}", headers=env.headers()).json()
    assert job["state"] == "succeeded"
    assert sorted(h["track_id"] for h in job["hits"]) == sorted(zones.left)
    assert all(zone_refs(h) == [(zone, "left lane")] for h in job["hits"])
    count = len(zones.left)
    assert fractions == [round((n + 1) / count, 4) for n in range(count)]
