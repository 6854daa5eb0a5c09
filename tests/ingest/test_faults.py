"""Fault tests against real servers: RTSP restarts, an S3 outage, SIGKILL of the ingest process."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from index.catalog import gaps_between, list_cameras, segments_between, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.rows import TrackRow
from index.catalog.values import CameraSpec, embedding_from_bytes
from index.track_indexer import index_file
from index.vectors import VectorIndex
from ingest.camera import FIRST_RECORDING_GAP_REASON, RESTART_GAP_REASON
from ingest.segment import Segment
from sample_streams.footage import CameraFiles
from sample_streams.server import RtspServer, StreamUrls
from skynet.demo import free_port
from skynet.runtime import Runtime
from skynet.settings import Settings
from storage.local import LocalObjectStore
from storage.objectstore import ObjectStore
from tests.servers.rtsp import RunningRtsp, sample_cache_dir
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
START = datetime.now(UTC) - timedelta(minutes=1)


def assert_contiguous(segments: list[Segment], gap_spans: list[tuple[datetime, datetime]]) -> None:
    """Segments and recorded gaps tile the recorded period: nothing is missing unexplained."""
    spans = sorted([(s.start_at, s.end_at) for s in segments] + gap_spans)
    for (_, earlier_end), (later_start, _) in itertools.pairwise(spans):
        assert abs((later_start - earlier_end).total_seconds()) < 0.05, (earlier_end, later_start)


def assert_stored(store: ObjectStore, segments: list[Segment]) -> None:
    for segment in segments:
        stored = store.stat(segment.object_key)
        assert (stored.sha256, stored.size_bytes) == (segment.sha256, segment.size_bytes)


@pytest.fixture
def own_rtsp(
    sample_cameras: list[CameraFiles],
) -> Iterator[tuple[RtspServer, dict[str, StreamUrls]]]:
    server = RtspServer(sample_cache_dir())
    urls = server.start(sample_cameras[:1])
    try:
        yield server, urls
    finally:
        server.stop()


def test_rtsp_server_restarts_lose_only_the_outages(own_rtsp, tmp_path: Path) -> None:
    server, urls = own_rtsp
    runtime = Runtime.build(Settings(data_dir=tmp_path, segment_duration_s=2.0, camera_poll_s=0.5))
    runtime.start()
    try:
        runtime.add_camera(CameraSpec("cam1", "cam1", urls["cam1"].main, urls["cam1"].sub))
        ingest = runtime.cameras["cam1"]
        assert wait_for(lambda: ingest.counters.state == "online", 15)
        time.sleep(3)
        for _ in range(10):
            before = ingest.counters.packets
            server.restart()
            back_at = time.monotonic()
            assert wait_for(lambda: ingest.counters.packets > before + 25, 8)  # noqa: B023
            assert time.monotonic() - back_at < 5.0 + 1.0  # back within 5 s (+ 1 s of packets)
            time.sleep(2.5)
    finally:
        runtime.stop()
    with runtime.sessions() as session:
        segments = segments_between(session, "cam1", START, datetime.now(UTC))
        gaps = gaps_between(session, "cam1", START, datetime.now(UTC))
    first, *outages = gaps  # the moment before the first keyframe, then one per restart
    assert first.reason == FIRST_RECORDING_GAP_REASON
    assert len(outages) == 10
    assert all((g.end_at - g.start_at).total_seconds() < 8 for g in gaps)
    assert_contiguous(segments, [(g.start_at, g.end_at) for g in gaps])
    assert_stored(runtime.store, segments)
    assert ingest.counters.reconnects >= 10


def test_an_s3_outage_loses_no_segment(own_rtsp, s3_server, tmp_path: Path) -> None:
    _server, urls = own_rtsp
    settings = Settings(
        data_dir=tmp_path, segment_duration_s=2.0, storage_backend="s3",
        s3_endpoint=s3_server.endpoint, s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key, s3_bucket="outage-test",
    )  # fmt: skip
    runtime = Runtime.build(settings)
    runtime.start()
    try:
        runtime.add_camera(CameraSpec("cam1", "cam1", urls["cam1"].main, urls["cam1"].sub))
        assert wait_for(lambda: runtime.indexer.segments_stored >= 2, 30)
        s3_server.stop()
        try:
            time.sleep(30)
            spooled = runtime.uploader.status("cam1")
            assert spooled.storage_down and spooled.pending_segments >= 5
        finally:
            s3_server.start()
        assert wait_for(lambda: runtime.uploader.status("cam1").pending_segments <= 1, 90)
    finally:
        runtime.stop()
    with runtime.sessions() as session:
        segments = segments_between(session, "cam1", START, datetime.now(UTC))
        gaps = gaps_between(session, "cam1", START, datetime.now(UTC))
    assert [g.reason for g in gaps] == [FIRST_RECORDING_GAP_REASON]  # no outage of its own
    assert len(segments) >= 8
    assert_contiguous(segments, [(g.start_at, g.end_at) for g in gaps])
    assert_stored(runtime.store, segments)
    assert runtime.uploader.status("cam1").dropped_segments == 0


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "SKYNET_DATA_DIR": str(data_dir),
        "SKYNET_MODELS_DIR": str(REPO / "var" / "models"),
        "SKYNET_API_PORT": str(port),
        "SKYNET_SEGMENT_DURATION_S": "2",
        "SKYNET_CAMERA_POLL_S": "0.5",
        "SKYNET_VECTOR_SAVE_INTERVAL_S": "1",
    }
    log = (data_dir / "serve.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "skynet", "serve"], env=env, stdout=log, stderr=log, cwd=REPO
    )


def test_sigkill_and_restart_leave_catalog_storage_and_faiss_agreeing(
    rtsp_server: RunningRtsp,
    tmp_path: Path,
) -> None:
    sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    with sessions() as session:
        for camera_id, stream in rtsp_server.urls.items():
            upsert_camera(session, CameraSpec(camera_id, camera_id, stream.main, stream.sub))
        session.commit()

    def segment_count() -> int:
        with sessions() as session:
            return sum(
                len(segments_between(session, c.id, START, datetime.now(UTC)))
                for c in list_cameras(session)
            )

    def index_saved() -> bool:
        return any((tmp_path / "vectors").glob("*.faiss"))

    first = serve(tmp_path, free_port())
    try:
        assert wait_for(lambda: segment_count() >= 6, 60), (tmp_path / "serve.log").read_text()
        assert wait_for(index_saved, 60)  # while running, not only at a clean stop
        time.sleep(1.3)  # mid-segment
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    killed_at = segment_count()
    second = serve(tmp_path, free_port())
    try:
        assert wait_for(lambda: segment_count() >= killed_at + 6, 60)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0, (tmp_path / "serve.log").read_text()

    assert "rebuilding" not in (tmp_path / "serve.log").read_text()  # the saved index was used
    store = LocalObjectStore(tmp_path / "objects", "http://unused", b"s" * 32)
    with sessions() as session:
        now = datetime.now(UTC)
        segments = [
            s for c in list_cameras(session) for s in segments_between(session, c.id, START, now)
        ]
        for camera in list_cameras(session):  # the outage of the kill is a gap, nothing else
            gaps = gaps_between(session, camera.id, START, now)
            assert [g.reason for g in gaps].count(RESTART_GAP_REASON) == 1, gaps
            camera_segments = [s for s in segments if s.camera_id == camera.id]
            assert_contiguous(camera_segments, [(g.start_at, g.end_at) for g in gaps])
        tracks = session.query(TrackRow.id, TrackRow.embedding_version, TrackRow.embedding).all()
    assert_stored(store, segments)
    stored_keys = {o.key for o in store.list("cameras/")}
    assert stored_keys == {s.object_key for s in segments}  # spool re-uploads what was in flight
    assert not list((tmp_path / "spool").rglob("*.mp4"))
    versions = {version for _, version, _ in tracks}
    assert len(versions) == 1 and tracks
    version = versions.pop()
    assert version is not None
    index = VectorIndex.load(index_file(tmp_path / "vectors", version), version)
    assert len(index) == len(tracks)  # no duplicate, no missing track
    for track_id, _, blob in tracks:
        assert blob is not None
        hits = index.search(embedding_from_bytes(blob), 5)
        # its own vector is the best match; the looping sample stream can show the same frames
        # again after the restart, so another track may tie with it exactly
        best = [hit.track_id for hit in hits if hit.score >= hits[0].score - 1e-5]
        assert track_id in best, (track_id, hits)
