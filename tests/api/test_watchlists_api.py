"""The watchlist API (issue #14 item 5) over a real app, catalog and models: 422s naming the
field (no case, no or past expiry, malformed patterns, closed case), roles and case ownership,
plate / exemplar-track / uploaded-image entries matched on indexing, hits cut to the key's
cameras, the audit trail, and closing a case ending its watchlists."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
import pytest

from detect.plate_values import TrackPlate
from detect.track_record import TrackRecord
from index.catalog import audit_entries, create_case, get_track
from index.track_indexer import TrackIndexer
from models.registry import default_cache_dir
from tests.api_support import ApiEnv, api_env, jpeg

B = "/api/v1/watchlists"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("watchlists")) as built:
        yield built


@pytest.fixture(scope="module")
def indexer(env: ApiEnv, tmp_path_factory: pytest.TempPathFactory) -> TrackIndexer:
    """Live ingest's indexer over the API's catalog, store and vector index."""
    context = env.context
    root = tmp_path_factory.mktemp("ingest")
    return TrackIndexer(context.sessions, context.store, context.vectors, root / "vectors")


def tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


def body(env: ApiEnv, key: str = "investigator", **fields: Any) -> dict[str, Any]:
    access = env.access(key)
    return {
        "name": "stolen", "case_id": access["case_id"], "purpose": access["purpose"],
        "expires_at": tomorrow(), **fields,
    }  # fmt: skip


def create(env: ApiEnv, key: str = "investigator", **fields: Any) -> dict[str, Any]:
    reply = env.client.post(B, json=body(env, key, **fields), headers=env.headers(key))
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def index_vehicle(
    env: ApiEnv,
    indexer: TrackIndexer,
    camera_id: str,
    local_id: int,
    plate: str | None,
    embedding: np.ndarray,
) -> int:
    context = env.context
    seen = datetime.now(UTC)
    record = TrackRecord(
        camera_id=camera_id, local_track_id=local_id, class_name="car", confidence=0.9,
        start_at=seen - timedelta(seconds=3), end_at=seen, best_shot_at=seen,
        best_box=(0.0, 0.0, 100.0, 80.0), thumbnail_jpeg=b"\xff\xd8jpeg",
        embedding=embedding, embedding_version=context.embedder.embedding_version,
        trajectory=[(0.0, 0.0, 0.0, 100.0, 80.0)],
        plate=None if plate is None else TrackPlate(plate, 0.9),
    )  # fmt: skip
    (track_id,) = indexer.index([record])
    return int(track_id)


def stored_embedding(env: ApiEnv, track_id: int) -> np.ndarray:
    with env.context.sessions() as session:
        track = get_track(session, track_id)
        assert track is not None and track.embedding is not None
        return np.frombuffer(track.embedding, dtype="<f4").copy()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"case_id": None}, "case_id"),
        ({"expires_at": None}, "expires_at"),
        ({"purpose": None}, "purpose"),
        ({"expires_at": "2020-01-01T00:00:00+00:00"}, "expires_at"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no offset
        ({"case_id": "no-such-case"}, "case_id"),
        ({"entries": [{"kind": "plate", "pattern": "吉A' OR 1=1"}]}, "entries[0].pattern"),
        ({"entries": [{"kind": "plate", "pattern": "吉A[12"}]}, "entries[0].pattern"),
        ({"entries": [{"kind": "plate", "pattern": "A" * 200}]}, "pattern"),
        ({"entries": [{"kind": "plate", "pattern": "吉A\x0012"}]}, "entries[0].pattern"),
        ({"entries": [{"kind": "plate", "pattern": "吉A*1", "match": "exact"}]}, "pattern"),
        ({"entries": [{"kind": "plate", "pattern": "**", "match": "wildcard"}]}, "pattern"),
        ({"entries": [{"kind": "exemplar", "track_id": 10**12}]}, "entries[0].track_id"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    env: ApiEnv, change: dict[str, Any], field: str
) -> None:
    request = {k: v for k, v in {**body(env), **change}.items() if v is not None}
    reply = env.client.post(B, json=request, headers=env.headers())
    assert reply.status_code == 422, reply.text
    assert field in reply.json()["detail"]


def test_closed_case_is_a_422_and_roles_and_ownership_are_enforced(env: ApiEnv) -> None:
    closed = body(env, case_id=env.closed_case_id)
    reply = env.client.post(B, json=closed, headers=env.headers())
    assert reply.status_code == 422 and "case_id" in reply.json()["detail"]
    assert env.client.post(B, json=body(env), headers=env.headers("viewer")).status_code == 403
    # bob may not file a watchlist under ana's case, nor see ana's watchlists
    assert env.client.post(B, json=body(env), headers=env.headers("other")).status_code == 403
    mine = create(env)
    assert env.client.get(f"{B}/{mine['id']}", headers=env.headers("other")).status_code == 404
    listed = env.client.get(B, headers=env.headers("other")).json()
    assert mine["id"] not in [w["id"] for w in listed]


def test_entries_match_on_indexing_and_hits_are_listed_and_audited(
    env: ApiEnv, indexer: TrackIndexer
) -> None:
    red_car = env.vehicles["red_car"]
    entries = [
        {"kind": "plate", "pattern": "吉A·12345", "label": "witness"},
        {"kind": "plate", "pattern": "京B0D88", "match": "fuzzy", "max_distance": 0.5},
        {"kind": "exemplar", "track_id": red_car, "min_similarity": 0.95},
    ]
    watchlist = create(env, entries=entries)
    assert [e["pattern"] for e in watchlist["entries"]] == ["吉A12345", "京B0D88", None]
    assert watchlist["active"] is True
    other_look = np.zeros_like(stored_embedding(env, red_car))
    other_look[1] = 1.0
    plate_hit = index_vehicle(env, indexer, "cam1", 9001, "吉A12345", other_look)
    fuzzy_hit = index_vehicle(env, indexer, "cam2", 9002, "京BOD88", other_look)
    look_hit = index_vehicle(env, indexer, "cam3", 9003, None, stored_embedding(env, red_car))
    index_vehicle(env, indexer, "cam1", 9004, "吉A99999", other_look)  # no match
    reply = env.client.get(f"{B}/{watchlist['id']}/hits", headers=env.headers())
    assert reply.status_code == 200, reply.text
    hits = {h["track_id"]: h for h in reply.json()}
    assert set(hits) == {plate_hit, fuzzy_hit, look_hit}
    assert hits[plate_hit]["plate_text"] == "吉A12345" and hits[plate_hit]["score"] == 1.0
    assert hits[look_hit]["score"] == pytest.approx(1.0, abs=1e-4)
    with env.context.sessions() as session:
        target = f"watchlist:{watchlist['id']}"
        actions = [e.action for e in audit_entries(session) if e.target == target]
    assert {"create_watchlist", "read_watchlist_hits"} <= set(actions)
    # ending it stops matching; its hits stay
    ended = env.client.delete(f"{B}/{watchlist['id']}", headers=env.headers()).json()
    assert ended["active"] is False
    index_vehicle(env, indexer, "cam1", 9005, "吉A12345", other_look)
    after = env.client.get(f"{B}/{watchlist['id']}/hits", headers=env.headers()).json()
    assert {h["track_id"] for h in after} == set(hits)


def test_hits_are_cut_to_the_key_cameras(env: ApiEnv, indexer: TrackIndexer) -> None:
    key = "cam2-only"
    watchlist = create(env, key, entries=[{"kind": "plate", "pattern": "粤B55555"}])
    look = np.zeros(env.context.vectors.dim, np.float32)
    look[2] = 1.0
    index_vehicle(env, indexer, "cam1", 9101, "粤B55555", look)
    on_cam2 = index_vehicle(env, indexer, "cam2", 9102, "粤B55555", look)
    reply = env.client.get(f"{B}/{watchlist['id']}/hits", headers=env.headers(key))
    assert [h["track_id"] for h in reply.json()] == [on_cam2]


def test_uploaded_image_entry_and_closing_the_case(env: ApiEnv, indexer: TrackIndexer) -> None:
    with env.context.sessions() as session:
        case_id = create_case(session, "hit and run", "ana")
        session.commit()
    watchlist = create(env, case_id=case_id)
    bus = cv2.imread(str(default_cache_dir().resolve() / "assets" / "bus.jpg"))
    assert bus is not None
    crop = bus[230:750, 20:800]
    reply = env.client.post(
        f"{B}/{watchlist['id']}/entries/image",
        files={"image": ("van.jpg", jpeg(crop), "image/jpeg")},
        data={"min_similarity": "0.9"},
        headers=env.headers(),
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["kind"] == "exemplar"
    bad = env.client.post(
        f"{B}/{watchlist['id']}/entries/image",
        files={"image": ("x.jpg", b"not a picture", "image/jpeg")},
        headers=env.headers(),
    )
    assert bad.status_code == 422 and "image" in bad.json()["detail"]
    embedding = env.context.embedder.embed([crop], ["car"])[0]
    hit = index_vehicle(env, indexer, "cam1", 9201, None, embedding)
    hits = env.client.get(f"{B}/{watchlist['id']}/hits", headers=env.headers()).json()
    assert [h["track_id"] for h in hits] == [hit]
    closed = env.client.post(f"/api/v1/cases/{case_id}/close", headers=env.headers())
    assert closed.status_code == 200
    after = env.client.get(f"{B}/{watchlist['id']}", headers=env.headers()).json()
    assert after["active"] is False and after["ended_reason"] == "case closed"
    added = env.client.post(
        f"{B}/{watchlist['id']}/entries", json={"kind": "plate", "pattern": "吉A1"},
        headers=env.headers(),
    )  # fmt: skip
    assert added.status_code == 422 and "watchlist_id" in added.json()["detail"]
