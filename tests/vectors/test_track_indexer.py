"""TrackIndexer on a real SQLite catalog, local object store and exact index: what detect and
ingest hand over (`TrackRecord`, `Segment`) arrives in the catalog, storage and FAISS intact."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from detect.track_record import TrackRecord
from index.catalog import get_track, segments_between, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.rows import TrackRow
from index.catalog.values import CameraSpec, NewTrack
from index.track_indexer import TrackIndexer, context_key, index_file, open_vector_index
from index.vectors import VectorIndex
from ingest.segment import Segment, segment_key
from storage.local import LocalObjectStore
from storage.objectstore import ObjectNotFoundError, ObjectStore
from storage.s3 import S3ObjectStore

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DIM = 8


def catalog_with_gate(tmp_path: Path) -> sessionmaker[Session]:
    sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    with sessions.begin() as session:
        upsert_camera(session, CameraSpec("gate", "Gate", "rtsp://10.0.0.5/main"))
    return sessions


def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)


def gate_track(number: int) -> TrackRecord:
    """A finished track on "gate" with its own embedding and pictures."""
    start = T0 + timedelta(seconds=10 * number)
    embedding = np.random.default_rng(number).standard_normal(DIM).astype(np.float32)
    return TrackRecord(
        camera_id="gate", local_track_id=number, class_name="person", confidence=0.8,
        start_at=start, end_at=start + timedelta(seconds=5), best_shot_at=start,
        best_box=(1.0, 2.0, 30.0, 40.0), thumbnail_jpeg=f"thumb {number}".encode(),
        embedding=embedding / np.linalg.norm(embedding), embedding_version="v1",
        trajectory=[(0.0, 1.0, 2.0, 30.0, 40.0)], context_jpeg=f"context {number}".encode(),
    )  # fmt: skip


def test_tracks_and_segments_reach_catalog_storage_and_index(tmp_path: Path) -> None:
    sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    with sessions.begin() as session:
        upsert_camera(session, CameraSpec("gate", "Gate", "rtsp://10.0.0.5/main"))
    store = LocalObjectStore(tmp_path / "objects", "http://x/objects", b"k" * 32)
    vectors = VectorIndex(8, "v1")
    indexer = TrackIndexer(sessions, store, vectors, tmp_path / "vectors")
    embedding = np.arange(8, dtype=np.float32) / 10
    record = TrackRecord(
        camera_id="gate",
        local_track_id=3,
        class_name="car",
        confidence=0.75,
        start_at=T0,
        end_at=T0 + timedelta(seconds=8),
        best_shot_at=T0 + timedelta(seconds=2),
        best_box=(1.0, 2.0, 30.0, 40.0),
        thumbnail_jpeg=b"thumb",
        embedding=embedding,
        embedding_version="v1",
        trajectory=[(0.0, 1.0, 2.0, 30.0, 40.0)],
        attributes={"colour": "red"},
        context_jpeg=b"context",
        frame_size_px=(640, 360),
    )
    (track_id,) = indexer.index([record])
    with sessions() as session:
        stored = get_track(session, track_id)
    assert stored is not None and stored.thumbnail_key is not None
    new_track = NewTrack.from_record(record, stored.thumbnail_key)
    assert {**vars(stored), "trajectory": list(stored.trajectory)} == {
        **vars(new_track), "id": track_id, "created_at": stored.created_at,
        "trajectory": [tuple(p) for p in new_track.trajectory],
    }  # fmt: skip
    assert store.get(stored.thumbnail_key) == b"thumb"
    assert store.get(context_key(stored.thumbnail_key)) == b"context"
    assert vectors.search(embedding, 1)[0].track_id == track_id

    segment = Segment("gate", T0, T0 + timedelta(seconds=12), segment_key("gate", T0), "0f" * 32, 9)
    indexer.record_segment(segment)
    indexer.record_segment(segment)  # a retried upload records it once
    with sessions() as session:
        assert segments_between(session, "gate", T0, T0 + timedelta(minutes=1)) == [segment]
    assert indexer.tracks_indexed == 1


def test_pictures_are_stored_before_the_catalog_commits_the_rows_naming_them(
    tmp_path: Path,
) -> None:
    """The class docstring's write order: storage, then catalog (it used to commit first)."""
    sessions = catalog_with_gate(tmp_path)
    store = local_store(tmp_path)
    indexer = TrackIndexer(sessions, store, VectorIndex(DIM, "v1"), tmp_path / "vectors")
    missing_at_commit: list[str] = []

    @event.listens_for(sessions, "before_commit")
    def pictures_present(session: Session) -> None:
        for key in session.scalars(select(TrackRow.thumbnail_key)):
            assert key is not None
            missing_at_commit.extend(k for k in (key, context_key(key)) if not store.exists(k))

    ids = indexer.index([gate_track(n) for n in range(3)])
    ids += indexer.index([gate_track(3)])
    assert len(ids) == 4 and missing_at_commit == []


def stored_pictures(sessions: sessionmaker[Session], store: ObjectStore, ids: list[int]) -> int:
    """How many of the tracks' thumbnails and contexts object storage holds, checking bytes."""
    found = 0
    with sessions() as session:
        for track_id in ids:
            track = get_track(session, track_id)
            assert track is not None and track.thumbnail_key is not None
            number = track.local_track_id
            for key, jpeg in ((track.thumbnail_key, f"thumb {number}"),
                              (context_key(track.thumbnail_key), f"context {number}")):  # fmt: skip
                try:
                    assert store.get(key) == jpeg.encode()
                except ObjectNotFoundError:
                    continue
                found += 1
    return found


@pytest.mark.integration
def test_pictures_of_an_s3_outage_survive_a_crash(s3_server, tmp_path: Path) -> None:
    """Tracks indexed while S3 is down keep their rows and their pictures, even when the
    process dies before S3 is back (pictures used to wait in memory and were lost)."""

    def s3() -> S3ObjectStore:
        return S3ObjectStore(
            s3_server.endpoint, s3_server.access_key, s3_server.secret_key, "pictures-test",
            connect_timeout_s=1.0, retries=0,
        )  # fmt: skip

    sessions = catalog_with_gate(tmp_path)
    s3_server.stop()
    try:
        crashed = TrackIndexer(sessions, s3(), VectorIndex(DIM, "v1"), tmp_path / "vectors")
        ids = crashed.index([gate_track(n) for n in range(3)])
        ids += crashed.index([gate_track(3)])  # queues behind the spool, no new timeout
        assert crashed.pictures.pending == 8
    finally:
        s3_server.start()
    del crashed  # killed: neither stop() nor another maintenance round runs

    store = s3()
    restarted = TrackIndexer(sessions, store, VectorIndex(DIM, "v1"), tmp_path / "vectors")
    assert restarted.pictures.pending == 8
    restarted.maintain()
    assert stored_pictures(sessions, store, ids) == 8
    assert restarted.pictures.pending == 0 and not any((tmp_path / "picture_spool").iterdir())


def test_the_vector_index_is_saved_on_a_timer_and_a_crash_re_adds_only_the_newest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It used to be saved only by a clean stop, so every crash rebuilt it from the catalog."""
    sessions = catalog_with_gate(tmp_path)
    directory = tmp_path / "vectors"
    path = index_file(directory, "v1")
    now_s = [1000.0]
    vectors = open_vector_index(sessions, directory, "v1", DIM)
    indexer = TrackIndexer(
        sessions, local_store(tmp_path), vectors, directory, save_every_s=60.0,
        clock=lambda: now_s[0],
    )  # fmt: skip
    ids = indexer.index([gate_track(n) for n in range(5)])
    indexer.maintain()  # nothing saved yet: saved now
    assert len(VectorIndex.load(path, "v1")) == 5
    ids += indexer.index([gate_track(n) for n in range(5, 8)])
    now_s[0] += 30.0
    indexer.maintain()  # changed, but not due
    assert len(VectorIndex.load(path, "v1")) == 5
    now_s[0] += 31.0
    indexer.maintain()
    assert len(VectorIndex.load(path, "v1")) == 8
    now_s[0] += 120.0
    indexer.maintain()  # due, unchanged: the files are not rewritten
    assert len(VectorIndex.load(path, "v1")) == 8 and vectors.unsaved_writes == 0
    ids += indexer.index([gate_track(n) for n in range(8, 10)])  # then the process is killed

    with caplog.at_level(logging.INFO, logger="index.track_indexer"):
        reopened = open_vector_index(sessions, directory, "v1", DIM)
    assert "rebuilding" not in caplog.text
    assert "8 saved, 2 newer tracks added from the catalog" in caplog.text
    assert len(reopened) == 10
    for number, track_id in enumerate(ids):
        assert reopened.search(gate_track(number).embedding, 1)[0].track_id == track_id


def test_a_vehicle_tracks_plate_and_crop_are_stored_with_it(tmp_path: Path) -> None:
    """The plate crop is stored before the catalog commits; the plate row goes in with the
    track (and a re-ingest keeps the first one)."""
    from dataclasses import replace

    from detect.plate_values import PlateRead, TrackPlate
    from index.catalog.plates import get_plate
    from index.track_indexer import plate_crop_key, thumbnail_key

    sessions, store = catalog_with_gate(tmp_path), local_store(tmp_path)
    indexer = TrackIndexer(sessions, store, VectorIndex(DIM, "v1"), tmp_path / "vectors")
    read = PlateRead("吉A12345", (0.9,) * 7, T0, (5.0, 30.0, 25.0, 36.0), "blue", 1, "standard")
    plate = TrackPlate("吉A12345", 0.9, (("吉A12845", 0.4),), (read,), b"plate crop")
    car = replace(gate_track(1), class_name="car", plate=plate)
    (car_id, person_id) = indexer.index([car, gate_track(2)])
    crop = plate_crop_key(thumbnail_key(car))
    assert store.get(crop) == b"plate crop"
    with sessions() as session:
        stored = get_plate(session, car_id)
        assert get_plate(session, person_id) is None
    assert stored is not None
    assert (stored.text, stored.crop_key, stored.alternatives) == (
        "吉A12345", crop, (("吉A12845", 0.4),),
    )  # fmt: skip
    assert stored.reads[0]["box"] == [5.0, 30.0, 25.0, 36.0]
