"""A re-index replaces what its range held for the version it writes (#15; first-user report:
a re-index of cam1 with the live embedder over footage the live path had indexed added its
tracks beside the live ones, and a search of that minute returned both).

Real recorded 1080p segments and models, as tests/index/test_reindex.py; the live path's
tracks are stood in for by rows with positive local ids (what live ingest writes) starting in
each segment, their pictures in the store and their vectors in a live index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from index.catalog import add_tracks
from index.catalog.cases import create_case
from index.catalog.jobs import beat, get_job
from index.catalog.reindex_units import job_units
from index.catalog.retention import file_case_material
from index.catalog.rows import TrackRow
from index.catalog.tracks import matching_tracks
from index.catalog.values import NewTrack, TrackQuery, embedding_to_bytes
from index.reindex_jobs import ReindexRequest, ReindexRunner, reindex_progress, segment_unit
from index.reindex_units import SegmentUnit, UnitContext, UnitResult, process_unit
from index.track_indexer import remove_trackless_vectors
from index.vectors import VectorIndex
from ingest.segment import Segment
from sample_streams.footage import CameraFiles
from tests.index.reindex_support import (
    FOOTAGE_START,
    Archive,
    CountingExecutor,
    archive_with,
    record_segments,
)
from tests.index.test_reindex import (
    LIVE_EMBEDDER,
    NEW_EMBEDDER,
    live_version,
    queue,
    runner_for,
)

pytestmark = pytest.mark.slow  # real 1080p decode + detection: a few seconds per job

RANGE = TrackQuery(
    camera_ids=("cam1",), start=FOOTAGE_START, end=FOOTAGE_START + timedelta(seconds=12)
)


@pytest.fixture(scope="module")
def footage(
    sample_cameras: list[CameraFiles], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[tuple[Path, Segment]]]:
    """cam1: 12 s of the busy sample camera in 4 s segments (3 units)."""
    spool = tmp_path_factory.mktemp("footage")
    return {"cam1": record_segments(sample_cameras[0].main_path, spool, "cam1", 12.0, 4.0)}


@pytest.fixture
def archive(tmp_path: Path, footage: dict[str, list[tuple[Path, Segment]]]) -> Archive:
    return archive_with(tmp_path, footage)


def live_path_tracks(archive: Archive, version: str, dim: int) -> tuple[list[int], VectorIndex]:
    """Two live-path tracks starting in each segment and one before them all (outside every
    unit), their thumbnails stored; their ids and a live index holding their vectors."""
    rng = np.random.default_rng(7)
    starts = [FOOTAGE_START - timedelta(seconds=30)]
    for segment in archive.segments:
        starts += [
            segment.start_at + timedelta(seconds=0.5),
            segment.start_at + timedelta(seconds=1),
        ]
    tracks = []
    for local_id, start in enumerate(starts, 1):
        vector = rng.normal(size=dim).astype(np.float32)
        key = f"thumbnails/cam1/live-{local_id}.jpg"
        archive.store.put_bytes(key, b"\xff\xd8jpeg", "image/jpeg")
        tracks.append(
            NewTrack(
                camera_id="cam1",
                local_track_id=local_id,
                class_name="person",
                confidence=0.9,
                start_at=start,
                end_at=start + timedelta(seconds=2),
                best_shot_at=start + timedelta(seconds=1),
                best_bbox_xyxy_px=(10, 10, 50, 120),
                thumbnail_key=key,
                embedding=embedding_to_bytes(vector / np.linalg.norm(vector)),
                embedding_version=version,
            )
        )
    with archive.sessions() as session:
        ids = add_tracks(session, tracks)
        session.commit()
        rows = session.scalars(select(TrackRow).where(TrackRow.id.in_(ids))).all()
    index = VectorIndex(dim, version)
    index.add(
        [r.id for r in rows], np.stack([np.frombuffer(r.embedding or b"", "<f4") for r in rows])
    )
    return ids, index


def wire_live_index(
    runner: ReindexRunner, index: VectorIndex, sessions: sessionmaker[Session]
) -> None:
    """What the runtime does: a live-version job's replaced vectors leave, its vectors join,
    and vectors without a track are swept when replaced ids were lost."""

    def drop(version: str, ids: tuple[int, ...]) -> None:
        index.remove(list(ids))

    runner._on_superseded = drop
    runner._on_vectors = lambda version, ids, vectors: index.add(list(ids), vectors)
    runner._on_stale = lambda version: remove_trackless_vectors(sessions, index)


def with_live_tracks(archive: Archive, runner: ReindexRunner) -> tuple[list[int], VectorIndex]:
    """The live version recorded, the live path's tracks stored (live_path_tracks) and their
    index wired to `runner`."""
    live = live_version(archive, runner)
    dim = runner.context.models("nanodet-int8", LIVE_EMBEDDER).embedder.dim
    old_ids, index = live_path_tracks(archive, live, dim)
    wire_live_index(runner, index, archive.sessions)
    return old_ids, index


class Crash(Exception):
    """The runner's process dying (raised by the executor's hook after a unit reported)."""


def killed_after(
    archive: Archive, reported: int
) -> tuple[ReindexRunner, list[int], VectorIndex, str]:
    """A live-version job whose runner ("dead") dies once `reported` units have reported: the
    runner, the live tracks' ids, the live index and the job id."""

    def die(n: int) -> None:
        if n == reported:
            raise Crash

    first = runner_for(archive, die, runner_id="dead")
    old_ids, index = with_live_tracks(archive, first)
    job_id = queue(archive, LIVE_EMBEDDER)
    with pytest.raises(Crash):
        first.run_next()
    return first, old_ids, index, job_id


def take_over(archive: Archive, index: VectorIndex) -> ReindexRunner:
    """The dead runner's lease expires; another runner, wired to the same live index."""
    with archive.sessions() as session:
        beat(session, "dead", datetime.now(UTC) - timedelta(minutes=5))
        session.commit()
    second = runner_for(archive, runner_id="alive")
    wire_live_index(second, index, archive.sessions)
    return second


def commit_unit_unreported(archive: Archive, job_id: str, n: int, context: UnitContext) -> None:
    """A worker commits the job's n-th unit (its tracks replace the segment's) and dies before
    its result reaches the runner: the ids it replaced are lost with it."""
    with archive.sessions() as session:
        job = get_job(session, job_id)
        assert job is not None
        record = job_units(session, job_id)[n]
    unit = segment_unit(record, ReindexRequest.from_params(job.params))
    result = process_unit(unit, context)
    assert result.state == "done" and len(result.superseded_ids) == 2


def in_catalog(archive: Archive) -> set[int]:
    with archive.sessions() as session:
        return set(session.scalars(select(TrackRow.id)))


def replaced(archive: Archive, job_id: str) -> int:
    """The job's `tracks_replaced` as `skynet jobs show` and the API report it."""
    with archive.sessions() as session:
        progress = reindex_progress(session, job_id)
    assert progress is not None and progress.job.result is not None
    assert progress.job.result["tracks_replaced"] == progress.tracks_replaced
    return progress.tracks_replaced


def searched(archive: Archive) -> list[TrackRow]:
    """What an attribute search of cam1 over the footage returns (live version only)."""
    with archive.sessions() as session:
        ids = [m.track_id for m in matching_tracks(session, RANGE)]
        return list(session.scalars(select(TrackRow).where(TrackRow.id.in_(ids))).all())


def test_a_live_version_job_replaces_the_live_tracks_of_its_segments(archive: Archive):
    runner = runner_for(archive)
    old_ids, index = with_live_tracks(archive, runner)
    before_range, in_segments = old_ids[0], old_ids[1:]
    with archive.sessions() as session:  # an investigator filed one live track under a case
        case_id = create_case(session, "bag theft", "ana")
        file_case_material(session, case_id, "ana", track_ids=[in_segments[0]])
        session.commit()

    first_id = queue(archive, LIVE_EMBEDDER)
    assert runner.run_next()
    assert replaced(archive, first_id) == len(in_segments) - 1  # all but the filed one

    rows = searched(archive)
    job_rows = [r for r in rows if r.local_track_id < 0]
    assert len(job_rows) >= 3  # the busy scene: people in every segment
    assert {r.id for r in rows} == {r.id for r in job_rows} | {in_segments[0]}  # once each
    with archive.sessions() as session:
        left = set(session.scalars(select(TrackRow.id).where(TrackRow.id.in_(old_ids))))
    assert left == {before_range, in_segments[0]}  # outside every unit; filed under a case
    assert set(index.track_ids().tolist()) == {before_range, in_segments[0]} | {
        r.id for r in job_rows
    }
    assert not archive.store.exists("thumbnails/cam1/live-3.jpg")  # a deleted track's picture
    assert archive.store.exists("thumbnails/cam1/live-1.jpg")  # the kept ones' stay
    assert archive.store.exists("thumbnails/cam1/live-2.jpg")

    # the same range again with the same version: the first job's tracks give way in turn
    first_job = {r.id for r in job_rows}
    second_id = queue(archive, LIVE_EMBEDDER)
    assert runner_for(archive).run_next()
    assert replaced(archive, second_id) == len(first_job)
    again = [r for r in searched(archive) if r.local_track_id < 0]
    assert len(again) == len(job_rows) and not first_job & {r.id for r in again}
    spans = [(r.start_at, r.end_at, r.bbox_x1) for r in again]
    assert len(spans) == len(set(spans))  # no person twice


def test_a_job_killed_mid_way_leaves_each_segment_wholly_old_or_new_and_resumes(
    archive: Archive,
):
    _first, old_ids, index, job_id = killed_after(archive, 2)
    third = archive.segments[2]
    rows = searched(archive)
    new_units = {r.start_at < third.start_at for r in rows if r.local_track_id < 0}
    old_in = [r for r in rows if r.local_track_id > 0 and r.start_at >= FOOTAGE_START]
    assert new_units == {True}  # the two done segments hold the job's tracks only
    assert {r.id for r in old_in} == set(old_ids[-2:])  # the third still its live ones only

    assert take_over(archive, index).run_next()
    rows = searched(archive)
    assert all(r.local_track_id < 0 for r in rows)  # every segment replaced, none twice
    spans = [(r.start_at, r.end_at, r.bbox_x1) for r in rows]
    assert len(spans) == len(set(spans))
    assert set(index.track_ids().tolist()) == {old_ids[0]} | {r.id for r in rows}
    assert replaced(archive, job_id) == len(old_ids) - 1  # counted once across the take-over


def test_a_live_cameras_last_minutes_are_left_out_and_the_job_says_so(archive: Archive):
    """The live path writes a track when it ends: one still open that started in a live
    camera's last minutes would land beside the job's. A job leaves segments that ended less
    than the settle time before it was queued (here: the third) and their live tracks alone."""
    first = runner_for(archive)
    old_ids, index = with_live_tracks(archive, first)
    job_id = queue(archive, LIVE_EMBEDDER)
    with archive.sessions() as session:
        job = get_job(session, job_id)
    assert job is not None
    second_end = archive.segments[1].end_at  # the cut just after it: the third is unsettled
    settle_s = (job.created_at - second_end).total_seconds() - 0.001
    runner = ReindexRunner(
        archive.sessions, first.executor, first.context, first.versions, poll_s=0.01,
        live_settle_s=settle_s,
    )  # fmt: skip
    wire_live_index(runner, index, archive.sessions)
    assert runner.run_next()

    with archive.sessions() as session:
        progress = reindex_progress(session, job_id)
    assert progress is not None and progress.job.result is not None
    result = progress.job.result
    assert (progress.units.total, progress.units.done) == (2, 2)
    assert datetime.fromisoformat(result["live_until"]) - second_end < timedelta(seconds=0.01)
    assert result["live_segments_left_out"] == 1
    assert progress.tracks_replaced == 4  # the live tracks of the first two segments only
    third = [r for r in searched(archive) if r.start_at >= archive.segments[2].start_at]
    assert {r.id for r in third} == set(old_ids[-2:])  # the third segment's live tracks stay
    assert set(old_ids[-2:]) <= set(index.track_ids().tolist())


class LosesFirstResult(CountingExecutor):
    """Commits the first unit it is given and loses the result (a Ray actor that died after
    the commit), then runs every unit, as Ray resubmits a dead actor's batch: the first comes
    back `already_done`."""

    lost = False

    def run(
        self,
        units: Sequence[SegmentUnit],
        on_done: Callable[[UnitResult], None],
        admit: Callable[[], bool],
    ) -> None:
        if not self.lost:
            self.lost = True
            assert process_unit(units[0], self.context).state == "done"
        super().run(units, on_done, admit)


def test_vectors_a_lost_result_replaced_leave_the_live_index_with_the_round(archive: Archive):
    """A Ray actor that dies after committing a unit: the batch comes back `already_done`, its
    new vectors are read from the catalog, and the live tracks it replaced are swept at once
    (before: they stayed in the live index until the next retention run or a restart)."""
    first = runner_for(archive)
    old_ids, index = with_live_tracks(archive, first)
    executor = LosesFirstResult(first.context)
    runner = ReindexRunner(archive.sessions, executor, first.context, first.versions, poll_s=0.01)
    wire_live_index(runner, index, archive.sessions)
    queue(archive, LIVE_EMBEDDER)
    assert runner.run_next()

    assert [r.state for r in executor.results] == ["already_done", "done", "done"]
    job_tracks = {r.id for r in searched(archive) if r.local_track_id < 0}
    assert set(index.track_ids().tolist()) == {old_ids[0]} | job_tracks
    assert set(index.track_ids().tolist()) <= in_catalog(archive)


def test_a_resumed_job_sweeps_what_its_earlier_runs_replaced(archive: Archive):
    """A runner that died after a unit's commit but before its report: the job taken over
    starts by sweeping the live index, so the tracks that unit replaced leave it."""
    first, old_ids, index, job_id = killed_after(archive, 1)
    commit_unit_unreported(archive, job_id, 1, first.context)  # by the dying runner's worker
    assert set(old_ids[3:5]) <= set(index.track_ids().tolist())

    assert take_over(archive, index).run_next()
    held = set(index.track_ids().tolist())
    assert not held & set(old_ids[1:])  # every replaced live track's vector left
    assert held <= in_catalog(archive)  # and no vector without a track


def test_a_shadow_version_job_leaves_the_live_tracks_until_the_switch(archive: Archive):
    runner = runner_for(archive)
    old_ids, index = with_live_tracks(archive, runner)

    queue(archive, NEW_EMBEDDER, switch=False)
    assert runner.run_next()
    assert {r.id for r in searched(archive)} == set(old_ids[1:])  # live ones only, all there
    assert set(index.track_ids().tolist()) == set(old_ids)  # the live index untouched

    new = runner.context.models("nanodet-int8", NEW_EMBEDDER).embedding_version
    runner.versions.switch(new)
    rows = searched(archive)
    assert rows and {r.embedding_version for r in rows} == {new}  # one version, no mix
    with archive.sessions() as session:  # the old version's tracks kept, as its history
        kept = set(session.scalars(select(TrackRow.id).where(TrackRow.id.in_(old_ids))))
    assert kept == set(old_ids)
