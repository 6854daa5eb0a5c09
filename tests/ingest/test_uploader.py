"""Segment uploader: ordered uploads, spooling through a real S3 outage, spool limit, recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.segment import Segment, segment_key
from ingest.uploader import SegmentUploader, write_sidecar
from storage.local import LocalObjectStore
from storage.objectstore import sha256_of_file
from storage.s3 import S3ObjectStore
from tests.waiting import wait_for

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def make_segment(spool: Path, index: int, size_bytes: int = 1000) -> tuple[Path, Segment]:
    start = T0 + timedelta(seconds=10 * index)
    path = spool / "cam1" / f"{index}.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes([index % 256]) * size_bytes)
    segment = Segment(
        "cam1", start, start + timedelta(seconds=10), segment_key("cam1", start),
        sha256_of_file(path)[0], size_bytes,
    )  # fmt: skip
    return path, segment


def test_segments_upload_in_order_and_leave_the_spool(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)
    stored: list[Segment] = []
    uploader = SegmentUploader(store, tmp_path / "spool", 10**9, stored.append)
    uploader.start()
    segments = [make_segment(tmp_path / "spool", i) for i in range(5)]
    for path, segment in segments:
        uploader.submit(path, segment)
    uploader.stop()
    assert stored == [segment for _, segment in segments]
    for path, segment in segments:
        assert store.stat(segment.object_key).sha256 == segment.sha256
        assert not path.exists()
    assert uploader.status("cam1").pending_segments == 0


def test_spool_limit_drops_new_segments_and_raises_the_alert(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)
    uploader = SegmentUploader(store, tmp_path / "spool", 2500, lambda s: None)
    for i in range(4):  # not started: nothing drains, the spool fills up
        uploader.submit(*make_segment(tmp_path / "spool", i))
    status = uploader.status("cam1")
    assert status.pending_segments == 2 and status.dropped_segments == 2
    assert "spool limit" in status.last_error


def test_a_restart_uploads_what_the_previous_run_left(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    left = [make_segment(spool, i) for i in range(3)]
    for path, segment in left:
        write_sidecar(path, segment)
    half_written = spool / "cam1" / "99.mp4.part"
    half_written.write_bytes(b"partial")
    store = LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)
    stored: list[Segment] = []
    uploader = SegmentUploader(store, spool, 10**9, stored.append)
    uploader.start()
    uploader.stop()
    assert stored == [segment for _, segment in left]
    assert not half_written.exists()


@pytest.mark.integration
def test_segments_spooled_during_an_s3_outage_arrive_in_order(s3_server, tmp_path: Path) -> None:
    store = S3ObjectStore(
        s3_server.endpoint, s3_server.access_key, s3_server.secret_key, "uploader-test",
        connect_timeout_s=1.0, retries=0,
    )  # fmt: skip
    stored: list[Segment] = []
    uploader = SegmentUploader(store, tmp_path / "spool", 10**9, stored.append)
    uploader.start()
    first = make_segment(tmp_path / "spool", 0)
    uploader.submit(*first)
    assert wait_for(lambda: len(stored) == 1, 30)
    s3_server.stop()
    try:
        during = [make_segment(tmp_path / "spool", i) for i in range(1, 4)]
        for item in during:
            uploader.submit(*item)
        assert wait_for(lambda: uploader.status("cam1").storage_down, 20)
        assert uploader.status("cam1").pending_segments == 3
        assert len(stored) == 1
    finally:
        s3_server.start()
    assert wait_for(lambda: len(stored) == 4, 60)
    uploader.stop()
    assert stored == [first[1]] + [segment for _, segment in during]
    for _, segment in during:
        assert store.stat(segment.object_key).sha256 == segment.sha256
    assert not uploader.status("cam1").storage_down
