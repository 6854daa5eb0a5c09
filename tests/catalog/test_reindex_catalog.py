"""Re-index catalog (#15) on SQLite and a real PostgreSQL: units and their checkpoints, job
claim by priority / pause / resume / cancel, index versions, searches on the live version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from detect.plate_match import parse_plate_pattern
from detect.plate_values import TrackPlate
from index.catalog import (
    NewTrack,
    TrackQuery,
    add_segment,
    add_tracks,
    count_candidate_tracks,
    create_job,
    get_job,
    matching_track_ids,
    upsert_camera,
)
from index.catalog.plates import count_plates, search_plates, store_plates
from index.catalog.reindex import (
    add_index_version,
    add_replaced_tracks,
    add_unit_count,
    cancel_job,
    claim_job,
    claimable_reindex_jobs,
    index_versions,
    live_index_version,
    pause_job,
    record_job_run,
    resume_job,
    retire_index_version,
    switch_live_version,
)
from index.catalog.reindex_units import (
    begin_unit_attempt,
    finish_unit,
    job_units,
    plan_units,
    skip_unit,
    unit_progress,
    unsettled_live_segments,
)
from index.catalog.tracks import (
    camera_track_embeddings,
    tracks_ending_between,
    tracks_starting_between,
)
from index.catalog.values import CameraSpec
from ingest.segment import Segment

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def segment(camera_id: str, offset_s: int, length_s: int = 10) -> Segment:
    start = T0 + timedelta(seconds=offset_s)
    return Segment(
        camera_id, start, start + timedelta(seconds=length_s),
        f"cameras/{camera_id}/{offset_s}.mp4", f"{offset_s:064x}", 1000,
    )  # fmt: skip


@pytest.fixture
def planned(sessions: sessionmaker[Session]) -> str:
    """cam1: 3 segments in the window, 1 after it; cam2: 1 segment; a job over cam1."""
    with sessions() as session:
        for camera_id in ("cam1", "cam2"):
            upsert_camera(session, CameraSpec(camera_id, camera_id, "rtsp://10.0.0.9/m"))
        for offset_s in (0, 10, 20, 100):
            add_segment(session, segment("cam1", offset_s))
        add_segment(session, segment("cam2", 0))
        job_id = create_job(session, "reindex", {"priority": 1})
        assert plan_units(session, job_id, ["cam1"], T0, T0 + timedelta(seconds=30)) == 3
        assert plan_units(session, job_id, ["cam1"], T0, T0 + timedelta(seconds=30)) == 3
        session.commit()
    return job_id


def test_a_unit_is_checkpointed_once_done_or_skipped(
    sessions: sessionmaker[Session], planned: str
) -> None:
    with sessions() as session:
        first, second, third = job_units(session, planned)
        assert [u.object_key for u in (first, second, third)] == [
            "cameras/cam1/0.mp4", "cameras/cam1/10.mp4", "cameras/cam1/20.mp4",
        ]  # fmt: skip
        assert begin_unit_attempt(session, first.unit_id) == 1
        assert begin_unit_attempt(session, first.unit_id) == 2
        assert finish_unit(session, first.unit_id, 4, 10.0)
        assert not finish_unit(session, first.unit_id, 4, 10.0)  # a second worker loses
        assert begin_unit_attempt(session, first.unit_id) == 0  # done: nothing to attempt
        assert skip_unit(session, second.unit_id, "corrupt: sha256 differs", 10.0)
        assert not finish_unit(session, second.unit_id, 1, 10.0)
        session.commit()
        progress = unit_progress(session, planned)
        assert (progress.total, progress.done, progress.skipped, progress.pending) == (3, 1, 1, 1)
        assert progress.footage_s == pytest.approx(30.0)
        assert progress.finished_footage_s == pytest.approx(20.0)
        assert progress.tracks == 4
        assert [u.unit_id for u in job_units(session, planned, "pending")] == [third.unit_id]
        assert job_units(session, planned, "skipped")[0].error == "corrupt: sha256 differs"


def test_a_live_cameras_segments_after_live_until_are_left_out_footage_never(
    sessions: sessionmaker[Session],
) -> None:
    until = T0 + timedelta(seconds=20)
    with sessions() as session:
        upsert_camera(session, CameraSpec("cam1", "cam1", "rtsp://10.0.0.9/m"))
        upsert_camera(session, CameraSpec("dvr", "Shop DVR", "", kind="offline"))
        for offset_s in (0, 10, 20, 30):  # cam1's end at 10, 20 (= live_until: in), 30, 40
            add_segment(session, segment("cam1", offset_s))
            add_segment(session, segment("dvr", offset_s))
        job_id = create_job(session, "reindex", {})
        window = (["cam1", "dvr"], T0, T0 + timedelta(minutes=1))
        assert plan_units(session, job_id, *window, live_until=until) == 6
        assert plan_units(session, job_id, *window, live_until=until) == 6  # same cut, again
        assert unsettled_live_segments(session, *window, until) == 2
        assert unsettled_live_segments(session, ["dvr"], T0, T0 + timedelta(minutes=1), T0) == 0
        planned = {(u.camera_id, u.end_at) for u in job_units(session, job_id)}
        assert {end for camera, end in planned if camera == "cam1"} == {
            T0 + timedelta(seconds=10), until
        }  # fmt: skip
        assert len([camera for camera, _ in planned if camera == "dvr"]) == 4
        everything = create_job(session, "reindex", {})
        assert plan_units(session, everything, *window) == 8  # no cut: every segment


def test_replaced_tracks_count_with_their_unit_and_outlive_the_runners_reports(
    sessions: sessionmaker[Session], planned: str
) -> None:
    with sessions() as session:
        first, second, _third = job_units(session, planned)
        assert claim_job(session, planned, "r1")
        session.commit()
    with sessions() as session:  # a unit's transaction that commits
        assert finish_unit(session, first.unit_id, 2, 10.0)
        add_replaced_tracks(session, planned, 3)
        add_unit_count(session, planned, "plates_read", 2)  # its tracks' plates (#14)
        session.commit()
    with sessions() as session:  # one that loses its checkpoint and rolls back: not counted
        assert finish_unit(session, second.unit_id, 1, 10.0)
        add_replaced_tracks(session, planned, 5)
        add_unit_count(session, planned, "plates_read", 1)
        session.rollback()
    with sessions() as session:
        assert record_job_run(session, planned, "r1", 0.3, {"units_done": 1})  # a report
        add_replaced_tracks(session, planned, 0)  # nothing replaced: nothing written
        session.commit()
        job = get_job(session, planned)
        assert job is not None
        assert job.result == {"units_done": 1, "tracks_replaced": 3, "plates_read": 2}
        stale = {"units_done": 1, "tracks_replaced": 0}  # a report made from an older read
        assert finish_unit(session, second.unit_id, 1, 10.0)
        add_replaced_tracks(session, planned, 4)
        session.commit()
        assert record_job_run(session, planned, "r1", 0.6, stale)
        session.commit()
        job = get_job(session, planned)
        assert job is not None
        assert job.result == {"units_done": 1, "tracks_replaced": 7, "plates_read": 2}
        with pytest.raises(ValueError, match="negative"):
            add_replaced_tracks(session, planned, -1)
        with pytest.raises(ValueError, match="not a unit count"):
            add_unit_count(session, planned, "units_done", 1)


def test_jobs_are_claimed_by_priority_and_paused_resumed_cancelled(
    sessions: sessionmaker[Session], planned: str
) -> None:
    with sessions() as session:
        urgent = create_job(session, "reindex", {"priority": 5})
        create_job(session, "search:track", {})
        queued = [job.id for job in claimable_reindex_jobs(session, "r1")]
        assert queued == [urgent, planned]
        assert claim_job(session, urgent, "r1")
        assert not claim_job(session, urgent, "r2")  # running, held by r1
        assert record_job_run(session, urgent, "r1", 0.5, {"eta_s": 12.0})
        assert pause_job(session, urgent)
        assert not record_job_run(session, urgent, "r1", 0.6, {})  # paused: not r1's any more
        assert [job.id for job in claimable_reindex_jobs(session, "r1")] == [planned]
        assert not pause_job(session, urgent)
        assert resume_job(session, urgent)
        assert claim_job(session, urgent, "r2")  # the next runner goes on with it
        assert cancel_job(session, urgent) and not cancel_job(session, urgent)
        assert not resume_job(session, urgent)
        session.commit()
        job = get_job(session, urgent)
        assert job is not None and job.state == "cancelled" and job.progress == 0.5


def test_one_live_version_switched_atomically_and_retired_only_when_not_live(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        add_index_version(session, "v1", "nanodet-int8@448x256", "float", 1472, "live")
        with pytest.raises(ValueError, match="another index version is live"):
            add_index_version(session, "v2", "d", "int8", 1472, "live")
        add_index_version(session, "v2", "d", "int8", 1472, "building", "job-1")
        assert add_index_version(session, "v2", "x", "y", 1, "building").embedder == "int8"
        assert (live_index_version(session) or pytest.fail()).version == "v1"
        previous = switch_live_version(session, "v2")
        assert previous is not None and previous.version == "v1"
        assert {v.version: v.state for v in index_versions(session)} == {
            "v1": "kept", "v2": "live",
        }  # fmt: skip
        with pytest.raises(ValueError, match="is live"):
            retire_index_version(session, "v2")
        assert retire_index_version(session, "v1").state == "retired"
        with pytest.raises(ValueError, match="retired"):
            switch_live_version(session, "v1")
        with pytest.raises(LookupError):
            switch_live_version(session, "v9")
        session.commit()


def test_searches_read_only_the_live_versions_tracks(sessions: sessionmaker[Session]) -> None:
    def person(local_id: int, version: str | None) -> NewTrack:
        return NewTrack(
            "cam1", local_id, "person", 0.9, T0, T0 + timedelta(seconds=5), T0,
            (0.0, 0.0, 10.0, 20.0), embedding=None if version is None else bytes(16),
            embedding_version=version,
        )  # fmt: skip

    query = TrackQuery(class_names=("person",))
    with sessions() as session:
        upsert_camera(session, CameraSpec("cam1", "cam1", "rtsp://10.0.0.9/m"))
        ids = add_tracks(session, [person(1, "v1"), person(-100001, "v2"), person(2, None)])
        assert count_candidate_tracks(session, query) == 3  # no versions registered yet
        add_index_version(session, "v1", "d", "float", 4, "live")
        add_index_version(session, "v2", "d", "int8", 4, "building")
        assert set(matching_track_ids(session, query)) == {ids[0], ids[2]}
        switch_live_version(session, "v2")
        assert set(matching_track_ids(session, query)) == {ids[1], ids[2]}
        assert count_candidate_tracks(session, query) == 2
        session.commit()


def test_plate_and_hop_searches_read_only_the_live_versions_tracks(
    sessions: sessionmaker[Session],
) -> None:
    """The same car, tracked live (v1) and again by a re-index (v2), with its plate read twice:
    plate search and the hop candidates see one version's track, never both."""

    def car(local_id: int, version: str) -> NewTrack:
        return NewTrack(
            "cam1", local_id, "car", 0.9, T0, T0 + timedelta(seconds=5), T0,
            (0.0, 0.0, 10.0, 20.0), embedding=np.arange(4, dtype="<f4").tobytes(),
            embedding_version=version,
        )  # fmt: skip

    pattern = parse_plate_pattern("吉A12345")
    with sessions() as session:
        upsert_camera(session, CameraSpec("cam1", "cam1", "rtsp://10.0.0.9/m"))
        live_id, shadow_id = add_tracks(session, [car(1, "v1"), car(-100001, "v2")])
        store_plates(
            session, [(i, TrackPlate("吉A12345", 0.9), None) for i in (live_id, shadow_id)]
        )
        add_index_version(session, "v1", "d", "float", 4, "live")
        add_index_version(session, "v2", "d", "int8", 4, "building")
        window = (T0 - timedelta(seconds=1), T0 + timedelta(seconds=1))
        for live in (live_id, shadow_id):
            hits = search_plates(session, pattern, TrackQuery(), 10)
            assert [h.plate.track_id for h in hits.hits] == [live] and hits.total == 1
            assert count_plates(session, TrackQuery()) == 1
            assert [
                s.track_id for s in tracks_starting_between(session, "cam1", "car", *window)
            ] == [live]
            ended = tracks_ending_between(session, "cam1", "car", T0, T0 + timedelta(seconds=6))
            assert [s.track_id for s in ended] == [live]
            switch_live_version(session, "v2")
        # one re-index unit's vectors (local ids −(unit × 10⁵ + n)), as the driver reads them
        ids, vectors = camera_track_embeddings(session, "cam1", "v2", -199999, -100001)
        assert ids.tolist() == [shadow_id] and vectors.shape == (1, 4)
        assert camera_track_embeddings(session, "cam1", "v2", -299999, -200001)[0].size == 0
        session.commit()
