"""Retention and legal hold (issue #17) over a populated catalog (SQLite and a real
PostgreSQL), a local object store (and a real S3, Swift) and a vector index: the dry run
changes nothing and reports right, a run deletes old material everywhere and keeps new and
held material with no orphans, settings below the floor are refused, and a run cut short
between steps is completed by the next one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from index import catalog
from index.catalog.retention import (
    DEFAULT_TIER,
    RetentionFloors,
    RetentionPolicyError,
    RetentionTier,
    file_case_material,
    held_material,
    place_legal_hold,
    release_legal_hold,
    retention_policy,
    set_retention_tier,
)
from index.catalog.retention_plan import clips_deleted
from index.catalog.rows import EventRow, JobRow, SegmentRow, TrackRow
from index.retention import (
    JOB_KIND,
    RetentionReport,
    RetentionScheduler,
    delete_objects,
    delete_rows,
    dry_run,
    make_plan,
    run_retention_job,
)
from index.retention_check import check_consistency
from index.vectors import VectorIndex
from storage.local import LocalObjectStore
from storage.objectstore import ObjectStore
from storage.s3 import S3ObjectStore
from tests.retention_support import (
    CONFIG,
    DEFAULT_POLICY,
    GROUP,
    NOW,
    Material,
    populate,
    set_up_cameras,
)
from tests.servers.swift import S3Endpoint


def _setup(
    sessions: sessionmaker[Session], store: ObjectStore, vectors: VectorIndex
) -> tuple[Material, str]:
    """Populate, give the traffic group a 3-day tier and hold a case filing one 20-day track
    of cam-a and the 40-day event of cam-b."""
    set_up_cameras(sessions)
    material = populate(sessions, store, vectors, NOW)
    with sessions() as session:
        set_retention_tier(session, RetentionTier(GROUP, 3, 3, 3), RetentionFloors(), "admin")
        case_id = catalog.create_case(session, "hit and run", "inv")
        held_track = material.tracks[("cam-a", 20)][0]
        file_case_material(session, case_id, "inv", [held_track], [material.events[("cam-b", 40)]])
        place_legal_hold(session, case_id, "court order 17/2026", "admin")
        session.commit()
    return material, case_id


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    with sessions() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(row)) or 0)
            for row in (SegmentRow, TrackRow, EventRow)
        )


def _run(
    sessions: sessionmaker[Session], store: ObjectStore, vectors: VectorIndex
) -> RetentionReport:
    """A retention run as of NOW, as the scheduler and the API start it (a job row)."""
    return run_retention_job(sessions, store, vectors, CONFIG, "test", now=NOW)[1]


def _exists(sessions: sessionmaker[Session], row: type, row_id: int) -> bool:
    with sessions() as session:
        return session.get(row, row_id) is not None


def test_dry_run_reports_and_deletes_nothing(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> None:
    _material, case_id = _setup(sessions, store, vectors)
    objects_before = {o.key for o in store.list()}
    report = dry_run(sessions, CONFIG, NOW).as_json()
    assert report["would_delete"] == {
        "segments": 3, "segment_bytes": report["would_delete"]["segment_bytes"], "tracks": 7,
        "events": 3, "recording_gaps": 5, "footage_originals": 0, "objects": 20,
    }  # fmt: skip
    assert report["would_delete"]["segment_bytes"] > 0
    assert report["held_back"] == [
        {"case_id": case_id, "reason": "legal hold", "segments": 2, "tracks": 1, "events": 1}
    ]
    assert report["per_group"] == {
        GROUP: {"segments": 2, "tracks": 5, "events": 3},
        "*": {"segments": 1, "tracks": 2},
    }
    assert report["audit"]["deleted"] == 0
    assert {o.key for o in store.list()} == objects_before
    assert _counts(sessions) == (8, 16, 8)
    assert len(vectors) == 16


def test_run_deletes_old_material_everywhere_keeps_new_and_held(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> None:
    material, _case_id = _setup(sessions, store, vectors)
    report = _run(sessions, store, vectors).as_json()
    assert report["deleted"]["segments"] == 3
    assert report["deleted"]["tracks"] == 7
    assert report["deleted"]["events"] == 3
    assert report["vectors_removed"] == 7
    assert report["tracks_flagged_clip_deleted"] == 2
    seg, tracks, events = material.segments, material.tracks, material.events
    gone_segments = [("cam-a", 40), ("cam-a", 5), ("cam-b", 20)]
    for key in gone_segments:
        assert not _exists(sessions, SegmentRow, seg[key])
        assert not store.exists(material.segment_keys[key])
    for key in [("cam-a", 20), ("cam-b", 40), ("cam-a", 1), ("cam-b", 5), ("cam-b", 1)]:
        assert _exists(sessions, SegmentRow, seg[key]), key  # new, or holding held material
        assert store.exists(material.segment_keys[key])
    held_track, other = tracks[("cam-a", 20)]
    assert _exists(sessions, TrackRow, held_track)
    assert store.exists(material.thumbnails[held_track])
    assert not _exists(sessions, TrackRow, other)
    assert not store.exists(material.thumbnails[other])
    assert _exists(sessions, EventRow, events[("cam-b", 40)])
    assert all(store.exists(k) for k in material.event_keys[events[("cam-b", 40)]])
    assert not _exists(sessions, EventRow, events[("cam-a", 20)])
    assert not any(store.exists(k) for k in material.event_keys[events[("cam-a", 20)]])
    kept_ids = set(vectors.track_ids().tolist())
    assert held_track in kept_ids and other not in kept_ids
    with sessions() as session:
        # cam-b's 20-day tracks outlive their segment: flagged, so the API says so
        assert clips_deleted(session, tracks[("cam-b", 20)] + [held_track]) == set(
            tracks[("cam-b", 20)]
        )
    with sessions() as session:  # gaps go with their camera's segments
        gaps = catalog.gaps_between(session, "cam-a", NOW - timedelta(days=41), NOW)
        gaps_b = catalog.gaps_between(session, "cam-b", NOW - timedelta(days=41), NOW)
    assert [round((NOW - g.start_at).days) for g in gaps] == [0]  # the 1-day-old one
    assert len(gaps_b) == 2  # 5 and 1 days old (segments kept 10 days)
    assert report["deleted"]["recording_gaps"] == 5
    orphans = check_consistency(sessions, store, vectors)
    assert orphans.total == 0, orphans.examples
    again = _run(sessions, store, vectors).as_json()
    assert again["deleted"]["segments"] == again["deleted"]["tracks"] == 0


def test_released_hold_lets_the_next_run_delete(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> None:
    material, case_id = _setup(sessions, store, vectors)
    _run(sessions, store, vectors)
    with sessions() as session:
        released = release_legal_hold(session, case_id, "admin")
        assert released is not None and released.released_at is not None
        assert release_legal_hold(session, case_id, "admin") is None  # released already
        session.commit()
    report = _run(sessions, store, vectors).as_json()
    assert report["held_back"] == []
    assert report["deleted"] == {
        "segments": 2, "segment_bytes": report["deleted"]["segment_bytes"], "tracks": 1,
        "events": 1, "recording_gaps": 0, "footage_originals": 0, "objects": 5,
    }  # fmt: skip
    assert not _exists(sessions, TrackRow, material.tracks[("cam-a", 20)][0])
    assert check_consistency(sessions, store, vectors).total == 0


def test_views_and_watchlist_hits_under_a_held_case_are_held(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> None:
    set_up_cameras(sessions)
    material = populate(sessions, store, vectors, NOW, days_back=(40,))
    viewed = material.tracks[("cam-a", 40)][1]
    with sessions() as session:
        case_id = catalog.create_case(session, "c", "inv")
        catalog.append_audit(
            session, principal="inv", role="investigator", action="view_track",
            case_id=case_id, target=f"track:{viewed}",
        )  # fmt: skip
        place_legal_hold(session, case_id, "preserve", "admin")
        session.commit()
        assert held_material(session).tracks == {viewed: (case_id,)}
    _run(sessions, store, vectors)
    assert _exists(sessions, TrackRow, viewed)
    assert _exists(sessions, SegmentRow, material.segments[("cam-a", 40)])
    assert check_consistency(sessions, store, vectors).total == 0


def test_settings_below_the_floor_are_refused_and_change_nothing(
    sessions: sessionmaker[Session],
) -> None:
    set_up_cameras(sessions)
    floors = RetentionFloors(segments_days=7, audit_days=365)
    with sessions() as session:
        set_retention_tier(session, RetentionTier(GROUP, 10, 10, 10), floors, "admin")
        session.commit()
    bad = [
        (RetentionTier(GROUP, 6, 10, 10), None, "below the legal floor of 7 days"),
        (RetentionTier(DEFAULT_TIER, 30, 30, 30), 364, "audit_days: 364 days is below"),
        (RetentionTier(GROUP, 10, 0, 10), None, "tracks_days: 0 days"),
        (RetentionTier(GROUP, 10, 10, 10), 400, "default tier only"),
    ]
    for tier, audit_days, message in bad:
        with sessions() as session, pytest.raises(RetentionPolicyError, match=message):
            set_retention_tier(session, tier, floors, "admin", audit_days=audit_days)
    with sessions() as session:
        policy = retention_policy(session, DEFAULT_POLICY)
    assert policy.tier_for(GROUP) == RetentionTier(GROUP, 10, 10, 10)
    assert policy.tier_for(None) == DEFAULT_POLICY.tiers[0]
    assert policy.audit_days == 365


def test_a_run_cut_short_between_steps_is_completed_by_the_next(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> None:
    _setup(sessions, store, vectors)
    # crash 1: objects deleted, the catalog transaction never ran
    plan = make_plan(sessions, CONFIG, NOW, None)
    delete_objects(store, plan)
    broken = check_consistency(sessions, store, vectors)
    assert broken.rows_missing_objects == 13  # 3 segments, 7 thumbnails, 3 event pictures
    # crash 2: a later round deleted rows but stopped before the vector index
    plan = make_plan(sessions, CONFIG, NOW, None)
    deleted = delete_rows(sessions, plan)
    assert len(deleted.track_ids) == 7
    assert check_consistency(sessions, store, vectors).vectors_without_track == 7
    report = _run(sessions, store, vectors).as_json()
    assert report["vectors_removed"] == 7
    assert check_consistency(sessions, store, vectors).total == 0
    assert _counts(sessions) == (5, 9, 5)


def test_a_run_is_a_visible_job_and_the_scheduler_runs_daily(
    sessions: sessionmaker[Session], store: LocalObjectStore, vectors: VectorIndex
) -> None:
    _setup(sessions, store, vectors)
    scheduler = RetentionScheduler(sessions, store, lambda: vectors, CONFIG, 24 * 3600.0)
    assert scheduler.due(NOW)
    run_retention_job(sessions, store, vectors, CONFIG, "admin", dry=True)
    assert scheduler.due(NOW)  # a dry run is not a run
    job_id = scheduler.run_if_due() or ""
    with sessions() as session:
        job = catalog.get_job(session, job_id)
        kinds = session.scalars(select(JobRow.kind)).all()
    assert job is not None and job.kind == JOB_KIND and job.state == "succeeded"
    assert job.result is not None and "deleted" in job.result
    assert kinds == [JOB_KIND, JOB_KIND]
    assert scheduler.run_if_due() is None  # not due again within the day
    assert not scheduler.due(datetime.now(UTC) + timedelta(hours=23))
    assert scheduler.due(datetime.now(UTC) + timedelta(hours=25))


@pytest.mark.integration
def test_retention_against_a_real_s3(
    sessions: sessionmaker[Session], s3_server: S3Endpoint, vectors: VectorIndex
) -> None:
    s3 = S3ObjectStore(
        s3_server.endpoint, s3_server.access_key, s3_server.secret_key,
        bucket=f"ret-{uuid.uuid4().hex[:12]}", region=s3_server.region,
    )  # fmt: skip
    material, _case_id = _setup(sessions, s3, vectors)
    before = len(s3.list())
    dry = dry_run(sessions, CONFIG, NOW).as_json()
    assert len(s3.list()) == before
    report = _run(sessions, s3, vectors).as_json()
    assert report["deleted"]["objects"] == dry["would_delete"]["objects"] == 20
    assert len(s3.list()) == before - 20
    assert not s3.exists(material.segment_keys[("cam-a", 40)])
    assert s3.exists(material.segment_keys[("cam-b", 40)])  # held by the case's event
    assert check_consistency(sessions, s3, vectors).total == 0
