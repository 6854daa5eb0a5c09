"""What a re-index unit's commit supersedes (#15): the other tracks of its camera and version
starting in its segment, not its own, not another version's or camera's, not those a case's
material, a hop decision (either end) or a watchlist hit names (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from detect.plate_match import parse_plate_pattern
from index.catalog import add_tracks, reindex_supersede, upsert_camera
from index.catalog.cases import create_case
from index.catalog.hops import HopPair, NewHopDecision, decide_hop
from index.catalog.reindex_supersede import supersede_segment_tracks
from index.catalog.retention import file_case_material
from index.catalog.rows import TrackRow
from index.catalog.values import CameraSpec, NewTrack, embedding_to_bytes
from index.catalog.watchlist_rows import WatchlistHitRow
from index.catalog.watchlists import add_plate_entry, create_watchlist

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=1)
OWN = (-199_999, -100_001)  # unit 1's local ids


def track(camera: str, local_id: int, start_s: float, version: str = "v1") -> NewTrack:
    start = START + timedelta(seconds=start_s)
    return NewTrack(
        camera_id=camera,
        local_track_id=local_id,
        class_name="person",
        confidence=0.8,
        start_at=start,
        end_at=start + timedelta(seconds=3),
        best_shot_at=start,
        best_bbox_xyxy_px=(0, 0, 10, 20),
        thumbnail_key=f"thumbnails/{camera}/{local_id}.jpg",
        embedding=embedding_to_bytes(np.ones(4, np.float32) / 2),
        embedding_version=version,
    )


def test_a_unit_supersedes_only_its_versions_other_tracks_starting_in_its_segment(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(reindex_supersede, "IDS_PER_STATEMENT", 3)  # several chunks
    with sessions() as session:
        for camera in ("cam1", "cam2"):
            upsert_camera(session, CameraSpec(id=camera, name=camera, main_url="rtsp://10.0.0.9/m"))
        ids = add_tracks(
            session,
            [
                track("cam1", 1, 0.0),  # 0 live, at the segment's start: superseded
                track("cam1", 2, 59.9),  # 1 live, last moment: superseded
                track("cam1", -300_001, 10.0),  # 2 another job's, same version: superseded
                track("cam1", 3, -5.0),  # 3 started in the segment before: its unit's
                track("cam1", 4, 60.0),  # 4 starts at the segment's end: the next unit's
                track("cam1", 5, 5.0, "v2"),  # 5 another version
                track("cam2", 6, 5.0),  # 6 another camera
                track("cam1", -100_001, 5.0),  # 7 the unit's own (a redo)
                track("cam1", 7, 20.0),  # 8 filed under a case
                track("cam1", 8, 30.0),  # 9 a hop decision's first track
                track("cam1", 9, 31.0),  # 10 a hop decision's second track
                track("cam1", 10, 40.0),  # 11 a watchlist hit
            ],
        )
        case_id = create_case(session, "case", "ana")
        file_case_material(session, case_id, "ana", track_ids=[ids[8]])
        decide_hop(session, NewHopDecision(HopPair(case_id, ids[9], ids[10]), "confirmed", "ana"))
        watchlist = create_watchlist(
            session, "plates", case_id, "stolen car", START + timedelta(days=400), "ana", START
        )
        entry = add_plate_entry(session, watchlist.id, parse_plate_pattern("京A12345"))
        session.add(
            WatchlistHitRow(
                watchlist_id=watchlist.id, entry_id=entry.id, track_id=ids[11], camera_id="cam1",
                at=START, score=1.0, outbox_id=1,
            )
        )  # fmt: skip
        superseded = supersede_segment_tracks(session, "cam1", "v1", START, END, OWN)
        session.commit()
        left = set(session.scalars(select(TrackRow.id)))
    assert superseded.deleted_ids == tuple(sorted([ids[0], ids[1], ids[2]]))
    assert superseded.kept_ids == tuple(sorted([ids[8], ids[9], ids[10], ids[11]]))
    assert set(superseded.thumbnail_keys) == {
        "thumbnails/cam1/1.jpg", "thumbnails/cam1/2.jpg", "thumbnails/cam1/-300001.jpg"
    }  # fmt: skip
    assert left == set(ids) - {ids[0], ids[1], ids[2]}


def test_nothing_to_supersede_changes_nothing(sessions: sessionmaker[Session]):
    with sessions() as session:
        upsert_camera(session, CameraSpec(id="cam1", name="cam1", main_url="rtsp://10.0.0.9/m"))
        superseded = supersede_segment_tracks(session, "cam1", "v1", START, END, OWN)
    assert superseded.deleted_ids == () and superseded.kept_ids == ()
