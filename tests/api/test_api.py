"""Search API on real models, a real SQLite catalog and the local object store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from detect.track_builder import encode_thumbnail
from detect.track_record import TrackRecord
from index.catalog import audit_entries, create_api_key, create_case, revoke_api_key, upsert_camera
from index.catalog.values import CameraSpec
from index.track_indexer import TrackIndexer
from models.registry import default_cache_dir
from search_api.app import create_app
from tests.api_support import empty_context, jpeg, vtest_pairs

DATA = Path(__file__).parents[1] / "data"
BASE_URL = "http://testserver"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict, list]]:
    root = tmp_path_factory.mktemp("api")
    context = empty_context(root)
    sessions, store, vectors, embedder = (
        context.sessions, context.store, context.vectors, context.embedder
    )  # fmt: skip
    indexer = TrackIndexer(sessions, store, vectors, root / "vectors")
    secret_url = "rtsp://admin:hunter2@10.0.0.5/main"
    with sessions() as session:
        upsert_camera(session, CameraSpec("cam1", "Gate 1", secret_url))
        upsert_camera(session, CameraSpec("cam2", "Gate 2", secret_url))
        session.commit()
    pairs = vtest_pairs(12)
    records = []
    for i, (first, _later) in enumerate(pairs):
        start = T0 + timedelta(seconds=10 * i)
        records.append(
            TrackRecord(
                camera_id="cam1" if i % 2 == 0 else "cam2",
                local_track_id=i + 1,
                class_name="person",
                confidence=0.8,
                start_at=start,
                end_at=start + timedelta(seconds=5),
                best_shot_at=start,
                best_box=(0.0, 0.0, float(first.shape[1]), float(first.shape[0])),
                thumbnail_jpeg=encode_thumbnail(first),
                embedding=embedder.embed([first], ["person"])[0],
                embedding_version=embedder.embedding_version,
                trajectory=[(0.0, 0.0, 0.0, 10.0, 10.0)],
            )
        )
    track_ids = indexer.index(records)
    with sessions() as session:
        keys = {
            "investigator": create_api_key(session, "ana", "investigator"),
            "viewer": create_api_key(session, "vic", "viewer"),
            "cam2-only": create_api_key(session, "cam2 desk", "investigator", ["cam2"]),
            "revoked": create_api_key(session, "old", "investigator"),
        }
        revoke_api_key(session, "old")
        CASE["id"] = create_case(session, "Robbery at gate 2", "ana")
        CASE["cam2"] = create_case(session, "Gate 2 desk", "cam2 desk")  # a case is its creator's
        session.commit()
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        yield client, keys, list(zip(track_ids, pairs, strict=True))


CASE: dict[str, str] = {}


def search(client: TestClient, key: str, image: bytes, **form: str):
    """Person searches need an open case and a purpose: the fixture's case unless given."""
    form = {"case_id": CASE["id"], "purpose": "test investigation", **form}
    return client.post(
        "/api/v1/search/image",
        headers={"X-API-Key": key},
        files={"image": ("q.jpg", image, "image/jpeg")},
        data=form,
    )


def test_every_endpoint_needs_a_valid_key(api) -> None:
    client, keys, tracks = api
    for headers in ({}, {"X-API-Key": "nope"}, {"X-API-Key": keys["revoked"]}):
        assert client.get("/api/v1/healthz", headers=headers).status_code == 401
        assert client.get("/api/v1/cameras", headers=headers).status_code == 401
        assert client.get("/api/v1/tracks/1", headers=headers).status_code == 401
        response = client.post("/api/v1/search/image", headers=headers, files={"image": b"x"})
        assert response.status_code == 401
    health = client.get("/api/v1/healthz", headers={"X-API-Key": keys["viewer"]})
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "tracks_indexed": len(tracks)}


def test_a_later_crop_finds_the_same_persons_track(api) -> None:
    client, keys, tracks = api
    rank_one = 0
    for track_id, (_first, later) in tracks:
        response = search(client, keys["investigator"], jpeg(later), whole_image="true", top_k="5")
        assert response.status_code == 200, response.text
        hits = response.json()["hits"]
        assert len(hits) == 5
        assert hits == sorted(hits, key=lambda h: -h["score"])
        rank_one += hits[0]["track_id"] == track_id
    # plumbing check on 12 tiny crops; re-ID quality itself is measured in bench/search_quality
    assert rank_one / len(tracks) >= 0.7


def test_scene_search_picks_the_largest_person(api) -> None:
    client, keys, _ = api
    bus = cv2.imread(str(default_cache_dir().resolve() / "assets" / "bus.jpg"))
    assert bus is not None
    response = search(client, keys["investigator"], jpeg(bus), classes="person")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"]["class_name"] == "person"
    x1, y1, x2, y2 = body["query"]["box"]
    assert (x2 - x1) * (y2 - y1) > 0.05 * bus.shape[0] * bus.shape[1]


def test_bad_uploads_get_a_clear_4xx(api) -> None:
    client, keys, _ = api
    key = keys["investigator"]
    empty = search(client, key, b"")
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    not_image = search(client, key, b"%PDF-1.4 definitely not a picture")
    assert not_image.status_code == 422 and "not a decodable image" in not_image.json()["detail"]
    huge = search(client, key, b"\xff" * (20 * 1024 * 1024 + 10))
    assert huge.status_code == 413
    blank = search(client, key, jpeg(np.full((240, 320, 3), 128, np.uint8)))
    assert blank.status_code == 422 and "no person" in blank.json()["detail"]
    for refused in (empty, not_image, huge, blank):  # each names the form field at fault
        assert refused.json()["detail"].startswith("image: "), refused.text
    bad_class = search(client, key, jpeg(np.zeros((64, 64, 3), np.uint8)), classes="dragon")
    assert bad_class.status_code == 422 and "dragon" in bad_class.json()["detail"]


def test_roles_and_camera_scope_are_enforced(api) -> None:
    client, keys, tracks = api
    later = jpeg(tracks[0][1][1])
    assert search(client, keys["viewer"], later, whole_image="true").status_code == 403
    scoped = search(
        client, keys["cam2-only"], later, whole_image="true", top_k="20", case_id=CASE["cam2"]
    )
    assert scoped.status_code == 200
    assert {h["camera_id"] for h in scoped.json()["hits"]} == {"cam2"}
    denied = search(
        client,
        keys["cam2-only"],
        later,
        whole_image="true",
        camera_ids="cam1",
        case_id=CASE["cam2"],
    )
    assert denied.status_code == 403
    cameras = client.get("/api/v1/cameras", headers={"X-API-Key": keys["cam2-only"]})
    assert [c["id"] for c in cameras.json()] == ["cam2"]
    cam1_track = tracks[0][0]
    hidden = client.get(f"/api/v1/tracks/{cam1_track}", headers={"X-API-Key": keys["cam2-only"]})
    assert hidden.status_code == 404


def test_filters_restrict_hits_exactly(api) -> None:
    client, keys, tracks = api
    later = jpeg(tracks[3][1][1])
    window = search(
        client, keys["investigator"], later, whole_image="true", top_k="20",
        start=(T0 + timedelta(seconds=25)).isoformat(),
        end=(T0 + timedelta(seconds=61)).isoformat(),
    )  # fmt: skip
    assert window.status_code == 200
    assert sorted(h["track_id"] for h in window.json()["hits"]) == [t for t, _ in tracks[3:7]]
    backwards = search(
        client, keys["investigator"], later, whole_image="true",
        start=T0.isoformat(), end=(T0 - timedelta(seconds=1)).isoformat(),
    )  # fmt: skip
    assert backwards.status_code == 422 and "end" in backwards.json()["detail"]


def test_track_details_links_and_no_stream_credentials(api) -> None:
    client, keys, tracks = api
    headers = {"X-API-Key": keys["investigator"]}
    access = {"case_id": CASE["id"], "purpose": "test investigation"}  # person tracks need it
    track = client.get(f"/api/v1/tracks/{tracks[0][0]}", params=access, headers=headers)
    assert track.status_code == 200
    body = track.json()
    assert body["camera_id"] == "cam1" and body["class_name"] == "person"
    thumbnail = client.get(body["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(thumbnail.content, np.uint8), cv2.IMREAD_COLOR) is not None
    partial = client.get(body["thumbnail_url"], headers={"Range": "bytes=0-9"})
    assert partial.status_code == 206 and partial.content == thumbnail.content[:10]
    assert client.get(body["thumbnail_url"][:-4] + "0000").status_code == 403
    assert client.get("/api/v1/tracks/999999", headers=headers).status_code == 404
    cameras = client.get("/api/v1/cameras", headers=headers).text
    assert "hunter2" not in cameras and "admin" not in cameras


def test_searches_and_views_are_audited(api) -> None:
    client, keys, tracks = api
    later = tracks[1][1][1]
    response = search(
        client, keys["investigator"], jpeg(later), whole_image="true", case_id=CASE["id"],
        purpose="robbery at gate 2",
    )  # fmt: skip
    assert response.status_code == 200
    with client.app.state.context.sessions() as session:
        entries = audit_entries(session, principal="ana")
    last = entries[-1]
    assert last.action == "search" and last.query_type == "image"
    assert last.purpose == "robbery at gate 2" and last.hit_count == len(response.json()["hits"])
    assert last.case_id == CASE["id"]
    assert last.image_sha256 is not None and len(last.image_sha256) == 64
    assert any(e.action == "view_track" for e in entries)


def test_clip_links_are_signed_for_the_viewer(api) -> None:
    client, keys, tracks = api
    body = client.get(
        f"/api/v1/tracks/{tracks[0][0]}",
        params={"case_id": CASE["id"], "purpose": "test investigation"},
        headers={"X-API-Key": keys["investigator"]},
    ).json()
    holder = re.search(r"holder=(\d+)", body["clip_url"])
    assert holder is not None  # the id of ana's key
    no_recording = client.get(body["clip_url"], follow_redirects=False)
    assert no_recording.status_code == 404 and "no recording" in no_recording.json()["detail"]
    other = int(holder.group(1)) + 1  # another key's id: the signature no longer holds
    forged = client.get(body["clip_url"].replace(holder.group(0), f"holder={other}"))
    assert forged.status_code == 403
