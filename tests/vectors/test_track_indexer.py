"""TrackIndexer on a real SQLite catalog, local object store and exact index: what detect and
ingest hand over (`TrackRecord`, `Segment`) arrives in the catalog, storage and FAISS intact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from detect.track_record import TrackRecord
from index.catalog import get_track, segments_between, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.values import CameraSpec, NewTrack
from index.track_indexer import TrackIndexer, context_key
from index.vectors import VectorIndex
from ingest.segment import Segment, segment_key
from storage.local import LocalObjectStore

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


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
