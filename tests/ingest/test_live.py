"""Live ingest with real RTSP streams: runtime camera management, status, metrics, bad streams."""

from __future__ import annotations

import functools
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from detect.detector import DetectorConfig
from detect.worker import CameraAnalysis
from index.catalog import create_api_key, gaps_between, segments_between
from search_api.app import create_app
from skynet.runtime import Runtime
from skynet.settings import Settings
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TEST_START = datetime.now(UTC) - timedelta(minutes=1)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, TestClient, str]]:
    data_dir: Path = tmp_path_factory.mktemp("live")
    settings = Settings(
        data_dir=data_dir, segment_duration_s=2.0, camera_poll_s=0.5, camera_url_allow=("http",)
    )  # the audio-only test camera is a file served over HTTP (file:// is footage, issue #15)
    runtime = Runtime.build(settings)
    runtime.start()
    with runtime.sessions() as session:
        key = create_api_key(session, "ops", "admin")
        session.commit()
    with TestClient(create_app(runtime.api_context())) as client:
        client.headers["X-API-Key"] = key
        yield runtime, client, key
    runtime.stop()


def status_of(client: TestClient, camera_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/cameras/{camera_id}/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_cameras_are_managed_at_runtime(live, rtsp_server) -> None:
    runtime, client, _key = live
    urls = rtsp_server.urls["cam1"]
    lobby = {"id": "lobby", "name": "Lobby", "main_url": urls.main, "sub_url": urls.sub}
    created = client.post("/api/v1/cameras", json=lobby)
    assert created.status_code == 201, created.text
    assert wait_for(lambda: status_of(client, "lobby")["state"] == "online", 15)
    assert wait_for(lambda: status_of(client, "lobby")["analysed_fps"] > 1.0, 15)
    assert client.post("/api/v1/cameras", json=lobby).status_code == 409  # the id is taken

    paused = client.post("/api/v1/cameras/lobby/pause")
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    assert wait_for(lambda: status_of(client, "lobby")["state"] == "paused", 5)
    assert "lobby" not in runtime.cameras

    assert client.post("/api/v1/cameras/lobby/resume").status_code == 200
    assert wait_for(lambda: status_of(client, "lobby")["state"] == "online", 15)

    changed = client.patch("/api/v1/cameras/lobby", json={"detect_fps": 2.0, "name": "Lobby 2"})
    assert changed.status_code == 200 and changed.json()["detect_fps"] == 2.0
    assert wait_for(lambda: runtime.cameras.get("lobby") is not None
                    and runtime.cameras["lobby"].config.detect_fps == 2.0, 5)  # fmt: skip

    assert client.delete("/api/v1/cameras/lobby").status_code == 204
    assert wait_for(lambda: "lobby" not in runtime.cameras, 5)
    assert client.get("/api/v1/cameras/lobby").status_code == 404
    with runtime.sessions() as session:  # recordings stay as evidence
        assert segments_between(session, "lobby", TEST_START, datetime.now(UTC))


def test_analysis_settings_apply_without_restarting_the_camera(live, rtsp_server) -> None:
    runtime, client, _key = live
    urls = rtsp_server.urls["cam1"]
    camera = {"id": "yard", "name": "Yard", "main_url": urls.main, "sub_url": urls.sub}
    assert client.post("/api/v1/cameras", json=camera).status_code == 201
    assert wait_for(lambda: status_of(client, "yard")["state"] == "online", 15)
    ingest = runtime.cameras["yard"]
    plates = runtime.settings.plate_source  # the default stream of its plates (#14)
    regions = runtime.settings.motion_regions  # on by default (#16)
    started = CameraAnalysis(DetectorConfig(motion_regions=regions), plate_source=plates)
    assert runtime.worker.camera_settings()["yard"] == started  # set before it started

    changed = client.patch("/api/v1/cameras/yard", json={"tiles": "2x2", "heading_deg": 45.0})
    assert changed.status_code == 200 and changed.json()["tiles"] == "2x2"
    tiled = DetectorConfig(tiles=(2, 2), motion_regions=regions)
    wanted = CameraAnalysis(tiled, heading_deg=45.0, plate_source=plates)
    assert wait_for(lambda: runtime.worker.camera_settings().get("yard") == wanted, 5)
    assert runtime.cameras["yard"] is ingest  # analysis settings do not restart ingest
    analysed = runtime.worker.frames_analysed  # the only camera now: tiled analysis goes on
    assert wait_for(lambda: runtime.worker.frames_analysed > analysed + 5, 15)

    assert client.delete("/api/v1/cameras/yard").status_code == 204
    assert wait_for(lambda: "yard" not in runtime.worker.camera_settings(), 5)


def test_invalid_camera_definitions_are_refused_naming_the_field(live) -> None:
    _runtime, client, _key = live
    good = {"id": "c1", "name": "C1", "main_url": "rtsp://127.0.0.1:8554/x"}
    for field, value in (
        ("id", "has space"),
        ("main_url", "not a url"),
        ("detect_fps", 0),
        ("lat", 123.0),
        ("heading_deg", 400),
        ("tiles", "5x5"),
    ):
        response = client.post("/api/v1/cameras", json=good | {field: value})
        assert response.status_code == 422, (field, response.text)
        assert response.json()["detail"].startswith(f"body.{field}:"), (field, response.text)
    response = client.post("/api/v1/cameras", json=good | {"colour": "red"})
    assert response.status_code == 422


def test_a_broken_camera_reports_and_retries_without_hurting_others(live, rtsp_server) -> None:
    runtime, client, key = live
    urls = rtsp_server.urls["cam2"]
    good = {"id": "good", "name": "Good", "main_url": urls.main, "sub_url": urls.sub}
    assert client.post("/api/v1/cameras", json=good).status_code == 201
    secret = "rtsp://admin:hunter2@127.0.0.1:9/none"
    assert client.post(
        "/api/v1/cameras", json={"id": "broken", "name": "Broken", "main_url": secret}
    ).status_code == 201  # fmt: skip
    assert wait_for(lambda: status_of(client, "broken")["reconnects"] >= 3, 20)
    broken = status_of(client, "broken")
    assert broken["state"] in {"reconnecting", "offline"}
    assert "cannot open stream" in broken["last_error"] and "hunter2" not in broken["last_error"]
    assert wait_for(lambda: status_of(client, "good")["analysed_fps"] > 1.0, 15)
    listing = client.get("/api/v1/cameras").text
    assert "hunter2" not in listing and "127.0.0.1:9/none" in listing

    metrics = client.get("/metrics", headers={"X-API-Key": "", "Authorization": f"Bearer {key}"})
    assert metrics.status_code == 200
    assert 'skynet_camera_state{camera="good",state="online"} 1.0' in metrics.text
    assert 'skynet_camera_reconnects_total{camera="broken"}' in metrics.text
    assert client.get("/metrics", headers={"X-API-Key": ""}).status_code == 401
    for camera_id in ("good", "broken"):
        client.delete(f"/api/v1/cameras/{camera_id}")
    with runtime.sessions() as session:
        assert gaps_between(session, "broken", TEST_START, datetime.now(UTC)) == []


def test_a_stream_without_video_shows_why_in_its_status(live, tmp_path: Path) -> None:
    _runtime, client, _key = live
    audio_only = tmp_path / "radio.m4a"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
         "-c:a", "aac", str(audio_only)],
        check=True,
    )  # fmt: skip
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{audio_only.name}"
        camera = {"id": "radio", "name": "Radio", "main_url": url}
        assert client.post("/api/v1/cameras", json=camera).status_code == 201
        assert wait_for(lambda: "no video track" in status_of(client, "radio")["last_error"], 15)
        assert status_of(client, "radio")["state"] in {"reconnecting", "offline"}
        assert client.delete("/api/v1/cameras/radio").status_code == 204
    finally:
        server.shutdown()
        server.server_close()
