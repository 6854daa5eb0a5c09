"""A camera whose oldest material is under a legal hold (issue #17, on SQLite and a real
PostgreSQL): with more held tracks, segments and events at the front than a batch holds, a run
still deletes the expired material behind them and keeps the held material; held rows do not
use up a batch."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from index import catalog
from index.catalog.retention import (
    file_case_material,
    place_legal_hold,
)
from index.catalog.rows import EventRow, RecordingGapRow, SegmentRow, TrackRow
from index.retention import dry_run, make_plan, run_retention_job
from index.retention_check import check_consistency
from index.vectors import VectorIndex
from storage.local import LocalObjectStore
from tests.retention_support import CONFIG, NOW, Material, populate, set_up_cameras

HELD_DAYS = (40, 38, 36)  # cam-a's oldest: 6 tracks, 3 segments, 3 events, batch of 2
FREE_DAYS = (34, 32)  # expired too, behind the held ones
KEPT_DAYS = (5,)  # inside every tier


def _held_front(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> tuple[Material, str]:
    """Populate both cameras and hold a case filing cam-a's oldest tracks and events."""
    set_up_cameras(sessions)
    material = populate(sessions, store, vectors, NOW, (*HELD_DAYS, *FREE_DAYS, *KEPT_DAYS))
    with sessions() as session:
        case_id = catalog.create_case(session, "long inquiry", "inv")
        file_case_material(
            session, case_id, "inv",
            [t for d in HELD_DAYS for t in material.tracks[("cam-a", d)]],
            [material.events[("cam-a", d)] for d in HELD_DAYS],
        )  # fmt: skip
        place_legal_hold(session, case_id, "court order 3/2026", "admin")
        session.commit()
    return material, case_id


def _exists(sessions: sessionmaker[Session], row: type, row_id: int) -> bool:
    with sessions() as session:
        return session.get(row, row_id) is not None


def _gaps(sessions: sessionmaker[Session], camera_id: str) -> int:
    with sessions() as session:
        statement = select(func.count()).where(RecordingGapRow.camera_id == camera_id)
        return int(session.scalar(statement) or 0)


def test_a_batch_is_filled_with_deletable_rows_past_the_held_ones(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> None:
    material, case_id = _held_front(sessions, store, vectors)
    plan = make_plan(sessions, CONFIG, NOW, CONFIG.batch_rows)
    cam_a = [t for t in plan.tracks if t.camera_id == "cam-a"]
    assert [t.id for t in cam_a] == material.tracks[("cam-a", 34)]
    assert [s.id for s in plan.segments if s.camera_id == "cam-a"] == [
        material.segments[("cam-a", d)] for d in FREE_DAYS
    ]
    assert [e.id for e in plan.events if e.camera_id == "cam-a"] == [
        material.events[("cam-a", d)] for d in FREE_DAYS
    ]
    held = {(h.kind, h.id) for h in plan.held}
    assert {("track", t) for d in HELD_DAYS for t in material.tracks[("cam-a", d)]} <= held
    assert all(h.case_ids == (case_id,) for h in plan.held)


def test_a_run_deletes_the_expired_material_behind_a_held_front(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> None:
    material, case_id = _held_front(sessions, store, vectors)
    would = dry_run(sessions, CONFIG, NOW).as_json()["would_delete"]
    report = run_retention_job(sessions, store, vectors, CONFIG, "test", now=NOW)[1].as_json()
    assert report["deleted"] == would
    expired = len(HELD_DAYS) + len(FREE_DAYS)
    assert report["deleted"]["tracks"] == 2 * len(FREE_DAYS) + 2 * expired  # cam-a + cam-b
    assert report["deleted"]["segments"] == len(FREE_DAYS) + expired
    assert report["deleted"]["events"] == len(FREE_DAYS) + expired
    assert report["held_back"] == [
        {"case_id": case_id, "reason": "legal hold", "segments": 3, "tracks": 6, "events": 3}
    ]
    for days in FREE_DAYS:  # cam-a's expired material behind the hold: gone everywhere
        assert not _exists(sessions, SegmentRow, material.segments[("cam-a", days)])
        assert not store.exists(material.segment_keys[("cam-a", days)])
        assert not _exists(sessions, EventRow, material.events[("cam-a", days)])
        for track in material.tracks[("cam-a", days)]:
            assert not _exists(sessions, TrackRow, track)
            assert not store.exists(material.thumbnails[track])
    for days in (*HELD_DAYS, *KEPT_DAYS):  # held and recent: all still there
        assert _exists(sessions, SegmentRow, material.segments[("cam-a", days)])
        assert store.exists(material.segment_keys[("cam-a", days)])
        assert _exists(sessions, EventRow, material.events[("cam-a", days)])
        for track in material.tracks[("cam-a", days)]:
            assert _exists(sessions, TrackRow, track)
            assert store.exists(material.thumbnails[track])
    held_tracks = [t for d in HELD_DAYS for t in material.tracks[("cam-a", d)]]
    assert set(held_tracks) <= {int(i) for i in vectors.track_ids()}
    assert _gaps(sessions, "cam-a") == len(KEPT_DAYS) and _gaps(sessions, "cam-b") == 1
    assert check_consistency(sessions, store, vectors).total == 0
    again = run_retention_job(sessions, store, vectors, CONFIG, "test", now=NOW)[1].as_json()
    assert again["deleted"]["tracks"] == again["deleted"]["segments"] == 0
