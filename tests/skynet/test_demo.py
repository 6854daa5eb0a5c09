"""The demo for real: sample camera → its own RTSP server → ingest → API → a person-crop search."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from rich.console import Console

from index.catalog import (
    audit_entries,
    create_api_key,
    init_catalog,
    list_cameras,
    principal_for_key,
    segments_between,
    session_factory,
)
from index.catalog.retention_plan import tracks_with_missing_clip
from sample_streams.footage import GOP_S
from skynet.demo import (
    DEMO_KEY_NAME,
    DemoError,
    DemoOptions,
    clear_stored_data,
    free_port,
    run_demo,
)
from skynet.settings import Settings
from tests.processes import children, running
from tests.servers.rtsp import REPO_ROOT
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# rank, track, camera, class, from, to, score (the rank and the score are captured)
HIT_ROW = re.compile(r"^│ (\d+) +│ \d+ +│ cam1 +│ person +│ [\d:]{8} +│ [\d:]{8} +│ (0\.\d+)", re.M)
HIT_LINK = re.compile(r"^#(\d+) (thumbnail|clip) +(\S+)$", re.MULTILINE)
# the demo's changes to the catalog (the search and the link fetches are audited too)
CHANGES = {"camera_add", "key_create", "open_case", "camera_resume", "camera_pause", "key_revoke"}


def test_demo_searches_with_a_person_crop_and_serves_the_hit_links(tmp_path: Path) -> None:
    # 4 s segments: every sighting of a 12 s run lies in a stored recording
    settings = Settings(data_dir=tmp_path / "demo", api_port=free_port(), segment_duration_s=4.0)
    output = io.StringIO()
    stop_serving = threading.Event()
    exit_codes: list[int] = []

    def demo() -> None:
        options = DemoOptions(cameras=1, ingest_s=12.0, serve=True)
        console = Console(file=output, width=160)
        exit_codes.append(run_demo(settings, options, console, stop_serving))

    thread = threading.Thread(target=demo, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: "API at" in output.getvalue() or not thread.is_alive(), 150)
        text = output.getvalue()
        assert thread.is_alive(), text

        query_path = settings.data_dir / "query.jpg"
        assert f"query crop: {query_path}" in text
        query = cv2.imread(str(query_path))
        assert query is not None
        height_px, width_px = query.shape[:2]
        assert width_px < height_px < 360  # one standing person, not the 640×360 frame

        table = text[text.index("Ranked hits") : text.index("#1 thumbnail")]
        rows = HIT_ROW.findall(table)
        assert rows and [int(rank) for rank, _ in rows] == list(range(1, len(rows) + 1)), text
        scores = [float(score) for _, score in rows]
        assert scores == sorted(scores, reverse=True)

        links = HIT_LINK.findall(text)
        assert len(links) == 2 * len(rows)
        for _rank, kind, url in links:
            response = httpx.get(url, timeout=10)  # both: a key-bound link → a store link
            assert response.status_code == 307, response.text
            if kind == "thumbnail":
                response = httpx.get(response.headers["location"], timeout=10)
                assert response.status_code == 200
                assert response.headers["content-type"] == "image/jpeg"
                picture = np.frombuffer(response.content, np.uint8)
                assert cv2.imdecode(picture, cv2.IMREAD_COLOR) is not None
            else:
                recording_url, _, seek = response.headers["location"].partition("#t=")
                assert float(seek) >= 0
                recording = httpx.get(recording_url, timeout=10)
                assert recording.status_code == 200
                assert recording.headers["content-type"] == "video/mp4"
        interface = re.search(r"web interface at (\S+/ui) ", text)  # its sign-in page opens
        assert interface is not None, text
        assert httpx.get(f"{interface.group(1)}/login", timeout=10).status_code == 200
    finally:
        stop_serving.set()
        thread.join(30)
    assert exit_codes == [0]
    with pytest.raises(httpx.ConnectError):  # told to stop, the demo took its API down
        httpx.get(f"{settings.api_base_url}/api/v1/healthz", timeout=5)
    # every change the demo made to the catalog is in the audit chain, in order, under the
    # action names the CLI and the API use (first-user check: the case and cameras were not)
    with session_factory(init_catalog(settings.catalog_url))() as session:
        entries = audit_entries(session)
        # every track's clip is a recording or a recorded gap — also those the analysis saw
        # before the first keyframe of these new cameras (`skynet retention check` is clean)
        assert tracks_with_missing_clip(session) == []
    changes = [(e.action, str(e.target).split(":")[0]) for e in entries if e.action in CHANGES]
    case = next(e for e in entries if e.action == "open_case")
    assert (case.principal, case.role, case.target) == (
        DEMO_KEY_NAME, "investigator", f"case:{case.case_id}",
    )  # fmt: skip
    assert any(e.action == "search" and e.case_id == case.case_id for e in entries)
    assert changes[:5] == [
        ("camera_add", "camera"), ("key_create", "key"), ("open_case", "case"),
        ("camera_resume", "camera"), ("camera_pause", "camera"),
    ]  # fmt: skip
    assert ("camera_resume", "camera") in changes[5:]  # serving after the search
    assert changes[-2:] == [("camera_pause", "camera"), ("key_revoke", "key")]


SKYNET = str(Path(sys.executable).with_name("skynet"))
DEMO_SEGMENT_S = 4.0


def test_demo_command_uses_the_data_dir_keeps_ingesting_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    """`skynet demo --serve` as a user runs it: a key made with `skynet api-key create` beforehand
    works on the demo's API, ingest goes on while it serves, SIGTERM leaves no process behind."""
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "SKYNET_DATA_DIR": str(data_dir),
        "SKYNET_SEGMENT_DURATION_S": str(DEMO_SEGMENT_S),
        "COLUMNS": "200",
        "PYTHONPATH": str(REPO_ROOT),  # the checkout, whatever the venv's install maps
    }
    created = subprocess.run(
        [SKYNET, "api-key", "create", "alice", "--role", "investigator"],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    alice = created.stdout.strip()
    catalog = session_factory(init_catalog(Settings(data_dir=data_dir).catalog_url))
    port = free_port()
    demo = subprocess.Popen(
        [SKYNET, "demo", "--serve", "--cameras", "1", "--seconds", "10", "--port", str(port)],
        env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    assert demo.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True)
    reader.start()
    spawned: dict[int, str] = {}
    try:
        serving = wait_for(
            lambda: any("ingest goes on" in line for line in lines) or demo.poll() is not None,
            180,
        )
        assert serving and demo.poll() is None, "".join(lines)
        serving_since = datetime.now(UTC)
        text = "".join(lines)
        assert f"data dir: {data_dir.resolve()}" in text
        assert "keeping the cameras, keys, recordings and tracks already stored" in text

        # (a) one data dir: alice's key, made before the demo, is accepted by its API
        statuses_url = f"http://127.0.0.1:{port}/api/v1/cameras/status"

        def frames_sampled() -> int:
            response = httpx.get(statuses_url, headers={"X-API-Key": alice}, timeout=10)
            assert response.status_code == 200, response.text
            (cam1,) = response.json()
            return int(cam1["frames_sampled"]) if cam1["state"] == "online" else -1

        # (c) ingest goes on after the search: frames are analysed, new segments stored
        assert wait_for(lambda: frames_sampled() >= 0, 20)
        first = frames_sampled()
        assert wait_for(lambda: frames_sampled() > first, 20)

        def segments_since_search() -> int:
            with catalog() as session:
                found = segments_between(
                    session, "cam1", serving_since, serving_since + timedelta(hours=1)
                )
            return sum(segment.start_at >= serving_since for segment in found)

        assert wait_for(segments_since_search, 3 * DEMO_SEGMENT_S + 15, poll_s=0.5)

        # (d) SIGTERM stops the RTSP relay and its ffmpeg feeders too
        spawned = children(demo.pid)
        assert any("rtsp_server.py" in cmd for cmd in spawned.values()), spawned
        assert any(cmd.startswith("ffmpeg") for cmd in spawned.values()), spawned
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 0, "".join(lines)
        assert not [pid for pid in spawned if running(pid)]
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
        for pid in spawned:  # what a failed run left behind (each leads its process group)
            if running(pid):
                os.killpg(pid, signal.SIGKILL)
    reader.join(10)
    text = "".join(lines)
    assert "stopped: sample cameras cam1 paused in the catalog" in text
    with catalog() as session:
        assert principal_for_key(session, alice) is not None  # the user's key stays
        demo_keys = re.findall(r"X-API-Key: (skn_\S+?),", text)
        assert len(demo_keys) == 1 and principal_for_key(session, demo_keys[0]) is None
        assert [(spec.id, spec.enabled) for spec in list_cameras(session)] == [("cam1", False)]
        # segments are cut at the first keyframe once the duration has passed (README)
        everything = segments_between(
            session, "cam1", datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC)
        )
    durations_s = sorted(segment.duration_s for segment in everything)
    assert durations_s[-1] <= DEMO_SEGMENT_S + GOP_S + 0.5, durations_s


def test_fresh_removes_only_what_runs_stored(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models")
    sessions = session_factory(init_catalog(settings.catalog_url))
    with sessions() as session:
        key = create_api_key(session, "alice", "viewer")
        session.commit()
    for stored in (settings.objects_dir, settings.vectors_dir, settings.spool_dir):
        (stored / "a").mkdir(parents=True)
        (stored / "a" / "file").write_bytes(b"x")
    (tmp_path / "query.jpg").write_bytes(b"jpeg")
    kept = [tmp_path / "models" / "m.onnx", tmp_path / "sample_streams" / "busy_main.mp4"]
    for path in kept:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"keep")
    settings.signing_key_bytes()

    removed = clear_stored_data(settings)

    assert {path.name for path in removed} >= {"catalog.db", "objects", "vectors", "spool"}
    assert "query.jpg" in {path.name for path in removed}
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "models", "sample_streams", "signing.key",
    ]  # fmt: skip
    assert all(path.read_bytes() == b"keep" for path in kept)
    with session_factory(init_catalog(settings.catalog_url))() as session:
        assert principal_for_key(session, key) is None  # a new, empty catalog
    with pytest.raises(DemoError, match="database or S3"):
        clear_stored_data(settings.model_copy(update={"storage_backend": "s3"}))
