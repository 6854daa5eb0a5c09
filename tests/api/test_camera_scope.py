"""Camera scope (#12 item 7): a camera-limited operator cannot add cameras outside its scope, a
409 never tells it which other camera ids exist, and /metrics shows it only its cameras."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from index.catalog import create_api_key, list_cameras, upsert_camera
from index.catalog.values import CameraSpec
from ingest.camera_status import CameraStatus
from search_api.app import API_PREFIX, create_app
from search_api.context import ApiContext
from tests.api_support import BASE_URL, empty_context

CAMERAS = f"{API_PREFIX}/cameras"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, ApiContext, dict[str, str]]]:
    context = empty_context(tmp_path)
    with context.sessions() as session:
        for camera_id in ("cam1", "cam3"):
            upsert_camera(session, CameraSpec(camera_id, camera_id, f"rtsp://h/{camera_id}"))
        keys = {
            "cam1 ops": create_api_key(session, "cam1 ops", "operator", ["cam1"]),
            "ops": create_api_key(session, "ops", "operator"),
        }
        session.commit()
    context.camera_status = lambda: {
        c: CameraStatus(camera_id=c, state="online", spool_pending_segments=0)
        for c in ("cam1", "cam3")
    }
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        yield client, context, keys


def new_camera(camera_id: str) -> dict[str, str]:
    return {"id": camera_id, "name": camera_id, "main_url": f"rtsp://h/{camera_id}"}


def test_a_limited_operator_cannot_add_cameras_outside_its_scope_or_probe_ids(
    api: tuple[TestClient, ApiContext, dict[str, str]],
) -> None:
    client, context, keys = api
    limited = {"X-API-Key": keys["cam1 ops"]}
    unknown = client.post(CAMERAS, json=new_camera("cam2"), headers=limited)
    existing = client.post(CAMERAS, json=new_camera("cam3"), headers=limited)
    assert unknown.status_code == existing.status_code == 403
    assert "cam3" not in existing.json()["detail"].replace("'cam3'", "")  # names only the input
    assert existing.json()["detail"] == unknown.json()["detail"].replace("cam2", "cam3")
    with context.sessions() as session:
        assert [c.id for c in list_cameras(session)] == ["cam1", "cam3"]
    assert client.post(CAMERAS, json=new_camera("cam1"), headers=limited).status_code == 409
    unlimited = {"X-API-Key": keys["ops"]}
    assert client.post(CAMERAS, json=new_camera("cam2"), headers=unlimited).status_code == 201


def test_metrics_show_a_limited_key_only_its_cameras(
    api: tuple[TestClient, ApiContext, dict[str, str]],
) -> None:
    client, _context, keys = api
    limited = client.get("/metrics", headers={"X-API-Key": keys["cam1 ops"]}).text
    assert 'camera="cam1"' in limited and 'camera="cam3"' not in limited
    every = client.get("/metrics", headers={"X-API-Key": keys["ops"]}).text
    assert 'camera="cam1"' in every and 'camera="cam3"' in every
    health = client.get(f"{API_PREFIX}/healthz", headers={"X-API-Key": keys["cam1 ops"]})
    assert health.status_code == 200 and "cam3" not in health.text
