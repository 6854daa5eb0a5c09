"""FootageService (#15) below the API: the re-index job it queues with the segments, the same
job engine analysing the uploaded footage, and the multipart path on a real S3 (Swift)."""

from __future__ import annotations

import dataclasses
import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from index.catalog import get_job, segments_between
from index.catalog.engine import init_catalog, session_factory
from index.catalog.rows import JobRow, TrackRow
from index.footage_ingest import (
    Actor,
    FootageConflictError,
    FootageError,
    FootagePolicy,
    FootageRequest,
    FootageService,
    reindex_analysis,
)
from index.index_versions import IndexVersions
from index.reindex_jobs import ReindexRunner
from index.reindex_units import InProcessExecutor, UnitContext
from models.registry import default_cache_dir
from storage.local import LocalObjectStore
from storage.objectstore import ObjectStore, sha256_of_file
from storage.s3 import S3ObjectStore
from tests.footage_support import VTEST, clip
from tests.servers.swift import S3Endpoint

START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
DETECTOR, EMBEDDER = "nanodet-int8", "mobilenetv2-embedder"
OPS = Actor("ops", "operator", "key:1")


def catalog(root: Path) -> sessionmaker[Session]:
    return session_factory(init_catalog(f"sqlite:///{root / 'catalog.db'}"))


def local_store(root: Path) -> LocalObjectStore:
    return LocalObjectStore(root / "objects", "http://testserver/api/v1/objects", b"k" * 32)


def service(root: Path, store: ObjectStore, part_bytes: int = 256 * 1024) -> FootageService:
    policy = FootagePolicy(work_dir=root / "work", segment_duration_s=4.0, part_bytes=part_bytes)
    return FootageService(catalog(root), store, policy, reindex_analysis(DETECTOR, EMBEDDER))


def send(footage: FootageService, path: Path, label: str, start: datetime) -> str:
    """Start an upload of `path` and send all its parts; the upload's id."""
    request = FootageRequest(path.name, path.stat().st_size, label, sha256_of_file(path)[0],
                             start_time=start)  # fmt: skip
    created = footage.start_upload(request, OPS)
    data = path.read_bytes()
    for number in range(created.part_count):
        part = data[number * created.part_bytes : (number + 1) * created.part_bytes]
        footage.put_part(created.id, number, part)
    return created.id


def upload(footage: FootageService, path: Path, label: str, start: datetime) -> str:
    stored = footage.complete(send(footage, path, label, start), OPS)
    assert stored.state == "stored", stored.error
    return stored.id


def test_stored_footage_is_queued_for_the_reindex_engine_and_refused_footage_is_not(
    tmp_path: Path,
) -> None:
    footage = service(tmp_path, local_store(tmp_path))
    upload_id = upload(footage, clip("mp4", "h264", seconds=6.0), "Witness phone", START)
    stored = footage.upload(upload_id)
    assert stored.report is not None
    job_id = stored.report["analysis_job"]
    with footage.sessions() as session:
        job = get_job(session, job_id)
        segments = segments_between(session, "witness-phone", *ALL_TIME)
    assert job is not None and job.kind == "reindex" and job.state == "queued"
    assert job.params["camera_ids"] == ["witness-phone"]
    assert datetime.fromisoformat(job.params["start"]) == segments[0].start_at == START
    assert datetime.fromisoformat(job.params["end"]) == segments[-1].end_at
    assert (job.params["detector"], job.params["embedder"]) == (DETECTOR, EMBEDDER)

    not_video = tmp_path / "notes.mkv"
    not_video.write_bytes(b"not a video\n" * 100)
    with pytest.raises(FootageError, match="future"):
        footage.start_upload(
            FootageRequest("x.mkv", 10, "Later", start_time=datetime.now(UTC) + timedelta(1)),
            OPS,
        )
    request = FootageRequest(not_video.name, not_video.stat().st_size, "Notes", start_time=START)
    created = footage.start_upload(request, OPS)
    footage.put_part(created.id, 0, not_video.read_bytes())
    assert footage.complete(created.id, OPS).state == "failed"
    with footage.sessions() as session:  # the refused file queued nothing
        assert session.scalar(select(func.count()).select_from(JobRow)) == 1


def test_a_refused_overlapping_upload_leaves_the_stored_footage_whole(tmp_path: Path) -> None:
    """Another file of the same label and start is refused, and the stored footage's segment
    objects keep their bytes (they shared keys: the refused upload overwrote, then deleted
    them, and the stored footage's analysis skipped them as missing)."""
    store = local_store(tmp_path)
    footage = service(tmp_path, store)
    upload(footage, clip("mp4", "h264", seconds=6.0), "Shop 7", START)
    with footage.sessions() as session:
        stored = segments_between(session, "shop-7", *ALL_TIME)
    other = footage.complete(send(footage, clip("mkv", "h264", seconds=8.0), "Shop 7", START), OPS)
    assert other.state == "failed" and other.error is not None and "overlaps" in other.error
    with footage.sessions() as session:
        assert segments_between(session, "shop-7", *ALL_TIME) == stored
    assert [hashlib.sha256(store.get(s.object_key)).hexdigest() for s in stored] == [
        s.sha256 for s in stored
    ]


def test_parts_sent_in_parallel_all_arrive(tmp_path: Path) -> None:
    footage = service(tmp_path, local_store(tmp_path), part_bytes=64 * 1024)
    path = clip("mkv", "h264", seconds=6.0)
    created = footage.start_upload(
        FootageRequest(path.name, path.stat().st_size, "Parallel", start_time=START), OPS
    )
    data = path.read_bytes()

    def put(number: int) -> None:
        part = data[number * created.part_bytes : (number + 1) * created.part_bytes]
        footage.put_part(created.id, number, part)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, range(created.part_count)))
    assert created.part_count >= 4
    assert footage.upload(created.id).missing_parts == ()


def test_an_upload_whose_worker_died_is_taken_over_by_the_next_complete(tmp_path: Path) -> None:
    footage = service(tmp_path, local_store(tmp_path))
    path = clip("mp4", "h264", seconds=6.0)
    request = FootageRequest(path.name, path.stat().st_size, "Taxi 4", start_time=START)
    created = footage.start_upload(request, OPS)
    data = path.read_bytes()
    for number in range(created.part_count):
        part = data[number * created.part_bytes : (number + 1) * created.part_bytes]
        footage.put_part(created.id, number, part)
    footage.begin_processing(created.id)  # ... and the process is killed here
    with pytest.raises(FootageConflictError, match="already processing"):
        footage.complete(created.id, OPS)  # its worker may still be alive
    ten_minutes_on = dataclasses.replace(
        footage, clock=lambda: datetime.now(UTC) + timedelta(minutes=10)
    )
    assert ten_minutes_on.complete(created.id, OPS).state == "stored"


@pytest.mark.slow
def test_the_reindex_engine_analyses_uploaded_footage_like_recorded_segments(
    tmp_path: Path,
) -> None:
    """One code path for two sources: the queued job finds the vtest pedestrians in the
    offline camera's segments, at the footage's own times."""
    footage = service(tmp_path, local_store(tmp_path))
    path = clip("avi", "mpeg4", seconds=8.0, width=768)
    upload_id = upload(footage, path, "Plaza witness", START)
    report = footage.upload(upload_id).report
    assert report is not None
    context = UnitContext(footage.sessions, footage.store, default_cache_dir().resolve())
    versions = IndexVersions(footage.sessions, tmp_path / "vectors")
    runner = ReindexRunner(footage.sessions, InProcessExecutor(context), context, versions)
    assert runner.run_next()
    with footage.sessions() as session:
        job = get_job(session, report["analysis_job"])
        tracks = session.scalars(
            select(TrackRow).where(TrackRow.camera_id == "plaza-witness")
        ).all()
    assert job is not None and job.state == "succeeded", job
    persons = [t for t in tracks if t.class_name == "person"]
    assert len(persons) >= 2  # vtest's first seconds show several pedestrians
    for track in tracks:
        assert START <= track.start_at <= track.end_at <= START + timedelta(seconds=8.5)


@pytest.mark.integration
def test_an_upload_through_a_real_s3_store(s3_server: S3Endpoint, tmp_path: Path) -> None:
    """Parts as S3 objects, the original (over 5 MiB: a multipart upload) and the segments
    in the bucket; the parts gone afterwards."""
    store = S3ObjectStore(
        s3_server.endpoint, s3_server.access_key, s3_server.secret_key,
        bucket="footage-test", region=s3_server.region,
    )  # fmt: skip
    footage = service(tmp_path, store, part_bytes=1024 * 1024)
    path = VTEST  # 8.1 MB (MS-MPEG4 v3 in AVI: transcoded), 79.5 s
    assert path.stat().st_size > 5 * 1024 * 1024  # minio's multipart threshold
    upload_id = upload(footage, path, "Depot", START)
    stored = footage.upload(upload_id)
    assert stored.report is not None
    original = store.stat(stored.report["original_key"])
    assert (original.size_bytes, original.sha256) == (path.stat().st_size, sha256_of_file(path)[0])
    with footage.sessions() as session:
        segments = segments_between(session, "depot", *ALL_TIME)
    assert len(segments) >= 15
    assert abs((segments[-1].end_at - START).total_seconds() - 79.5) < 1.0
    for segment in segments:
        assert store.stat(segment.object_key).sha256 == segment.sha256
    assert store.list(f"footage/uploads/{upload_id}/") == []


@pytest.mark.integration
def test_storage_down_while_completing_keeps_the_parts_for_another_try(
    s3_server: S3Endpoint, tmp_path: Path
) -> None:
    store = S3ObjectStore(
        s3_server.endpoint, s3_server.access_key, s3_server.secret_key,
        bucket="footage-outage", region=s3_server.region,
    )  # fmt: skip
    footage = service(tmp_path, store)
    upload_id = send(footage, clip("mp4", "h264", seconds=6.0), "Tram 2", START)
    s3_server.stop_service("object")  # the proxy answers 503
    try:
        waiting = footage.complete(upload_id, OPS)
    finally:
        s3_server.start()
    assert waiting.state == "receiving" and waiting.missing_parts == ()
    assert waiting.error is not None and "object storage unavailable" in waiting.error
    with footage.sessions() as session:
        assert segments_between(session, "tram-2", *ALL_TIME) == []
    stored = footage.complete(upload_id, OPS)
    assert stored.state == "stored" and stored.error is None
