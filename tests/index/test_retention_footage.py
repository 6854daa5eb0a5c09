"""Uploaded footage originals under retention (issues #15, #17): the real upload flow (parts,
ffprobe, stream copy into segments of an offline camera) into a local store and a real S3
(Swift); a retention run deletes an original once its footage is past the offline camera's
segment tier, like the segments cut from it, keeps newer ones and ones a legal hold reaches
into, notes the deletion on the upload, and leaves no orphan."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from index import catalog
from index.catalog import NewTrack, segments_between
from index.catalog.engine import init_catalog, session_factory
from index.catalog.retention import (
    file_case_material,
    place_legal_hold,
)
from index.catalog.retention_footage import DELETED_AT
from index.footage_ingest import Actor, FootagePolicy, FootageRequest, FootageService
from index.retention import RetentionConfig, dry_run, run_retention_job
from index.retention_check import check_consistency
from storage.local import LocalObjectStore
from storage.objectstore import ObjectStore, sha256_of_file
from storage.s3 import S3ObjectStore
from tests.footage_support import clip
from tests.retention_support import DEFAULT_POLICY

CONFIG = RetentionConfig(DEFAULT_POLICY)  # one round a run (the default batch)
OPS = Actor("ops", "operator", "key:1")
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
CAMERA = "shop-dvr"  # the offline camera the label "Shop DVR" becomes


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects", "http://testserver/objects", b"k" * 32)
        return
    s3 = request.getfixturevalue("s3_server")
    yield S3ObjectStore(
        s3.endpoint, s3.access_key, s3.secret_key, bucket=f"rf-{uuid.uuid4().hex[:12]}",
        region=s3.region,
    )  # fmt: skip


@pytest.fixture
def footage(tmp_path: Path, store: ObjectStore) -> FootageService:
    sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    policy = FootagePolicy(work_dir=tmp_path / "work", segment_duration_s=2.0)
    return FootageService(sessions, store, policy)


def _upload(footage: FootageService, start: datetime) -> tuple[str, str]:
    """Upload a 6 s clip as the Shop DVR's footage from `start`: (upload id, original key)."""
    path = clip("mp4", seconds=6.0)
    request = FootageRequest(
        path.name, path.stat().st_size, "Shop DVR", sha256_of_file(path)[0], start_time=start
    )
    created = footage.start_upload(request, OPS)
    footage.put_part(created.id, 0, path.read_bytes())
    stored = footage.complete(created.id, OPS)
    assert stored.state == "stored" and stored.report is not None, stored.error
    assert stored.camera_id == CAMERA
    return stored.id, str(stored.report["original_key"])


def _segments(sessions: sessionmaker[Session], start: datetime) -> list[str]:
    with sessions() as session:
        found = segments_between(session, CAMERA, start, start + timedelta(seconds=10))
    return [s.object_key for s in found]


def test_an_original_goes_with_its_offline_cameras_tier(
    footage: FootageService, store: ObjectStore
) -> None:
    now = datetime.now(UTC)
    old_start, new_start = now - timedelta(days=40), now - timedelta(days=2)
    old_id, old_key = _upload(footage, old_start)
    new_id, new_key = _upload(footage, new_start)
    sessions = footage.sessions
    old_segments, new_segments = _segments(sessions, old_start), _segments(sessions, new_start)
    assert len(old_segments) >= 2 and store.exists(old_key)
    assert check_consistency(sessions, store, None).total == 0  # originals are named now
    planned = dry_run(sessions, CONFIG, now).as_json()["would_delete"]
    assert planned["footage_originals"] == 1 and planned["segments"] == len(old_segments)
    report = run_retention_job(sessions, store, None, CONFIG, "test", now=now)[1].as_json()
    assert report["deleted"]["footage_originals"] == 1
    assert report["per_group"]["*"]["footage_originals"] == 1
    assert not store.exists(old_key) and not any(store.exists(k) for k in old_segments)
    assert store.exists(new_key) and all(store.exists(k) for k in new_segments)
    assert DELETED_AT in (footage.upload(old_id).report or {})  # the upload says so
    assert DELETED_AT not in (footage.upload(new_id).report or {})
    assert check_consistency(sessions, store, None).total == 0
    again = run_retention_job(sessions, store, None, CONFIG, "test", now=now)[1].as_json()
    assert again["deleted"]["footage_originals"] == again["deleted"]["objects"] == 0


def test_a_hold_reaching_into_the_footage_keeps_its_original(
    footage: FootageService, store: ObjectStore
) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(days=40)
    upload_id, original = _upload(footage, start)
    sessions = footage.sessions
    segments = _segments(sessions, start)
    with sessions() as session:  # a person seen 1-2 s into the footage, filed under a case
        track_id = catalog.add_track(
            session,
            NewTrack(
                camera_id=CAMERA, local_track_id=1, class_name="person", confidence=0.9,
                start_at=start + timedelta(seconds=1), end_at=start + timedelta(seconds=1.5),
                best_shot_at=start + timedelta(seconds=1),
                best_bbox_xyxy_px=(1.0, 2.0, 30.0, 60.0),
            ),
        )  # fmt: skip
        case_id = catalog.create_case(session, "shoplifting", "inv")
        file_case_material(session, case_id, "inv", [track_id])
        place_legal_hold(session, case_id, "court order", "admin")
        session.commit()
    report = run_retention_job(sessions, store, None, CONFIG, "test", now=now)[1].as_json()
    assert report["deleted"]["footage_originals"] == 0
    held = report["held_back"]
    assert held and held[0]["case_id"] == case_id and held[0]["footage_originals"] == 1
    assert store.exists(original) and DELETED_AT not in (footage.upload(upload_id).report or {})
    assert store.exists(segments[0])  # the segment the held track was seen in
    assert not any(store.exists(k) for k in segments[1:])  # the rest went
    assert check_consistency(sessions, store, None).total == 0
