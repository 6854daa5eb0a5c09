"""Re-index jobs (#15) over real recorded 1080p segments: shadow version, switch, crash resume,
pause / resume / cancel, corrupt segments, searches on the live version only, retire."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from index.catalog import get_job
from index.catalog.jobs import beat
from index.catalog.reindex import (
    cancel_job,
    claim_job,
    index_versions,
    live_index_version,
    pause_job,
    resume_job,
)
from index.catalog.reindex_units import job_units, plan_units, unit_progress
from index.catalog.rows import TrackRow
from index.index_versions import IndexVersions, SwitchRefused
from index.reindex_jobs import (
    ReindexRequest,
    ReindexRunner,
    reindex_progress,
    segment_unit,
    start_reindex,
)
from index.reindex_units import (
    InProcessExecutor,
    SegmentUnit,
    UnitContext,
    UnitResult,
    process_unit,
)
from index.track_indexer import index_file
from index.vectors import VectorIndex
from ingest.segment import Segment
from models.registry import default_cache_dir
from sample_streams.footage import CameraFiles
from tests.index.reindex_support import (
    FOOTAGE_START,
    Archive,
    CountingExecutor,
    archive_with,
    record_segments,
)

LIVE_EMBEDDER = "mobilenetv2-embedder"
NEW_EMBEDDER = "mobilenetv2-embedder-int8"
DETECTOR = "nanodet-int8"
MODELS_DIR = default_cache_dir().resolve()

pytestmark = pytest.mark.slow  # real 1080p decode + detection: a few seconds per job


@pytest.fixture(scope="module")
def footage(
    sample_cameras: list[CameraFiles], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[tuple[Path, Segment]]]:
    """cam1: 12 s of the busy sample camera's main stream in 4 s segments (3 units)."""
    spool = tmp_path_factory.mktemp("footage")
    return {"cam1": record_segments(sample_cameras[0].main_path, spool, "cam1", 12.0, 4.0)}


@pytest.fixture
def archive(tmp_path: Path, footage: dict[str, list[tuple[Path, Segment]]]) -> Archive:
    return archive_with(tmp_path, footage)


def runner_for(
    archive: Archive,
    hook: Callable[[int], None] = lambda n: None,
    switched: list[str] | None = None,
    runner_id: str | None = None,
) -> ReindexRunner:
    context = UnitContext(archive.sessions, archive.store, MODELS_DIR)
    versions = IndexVersions(archive.sessions, archive.root / "vectors")
    if switched is not None:
        versions.listen(lambda version: switched.append(version.version))
    executor = CountingExecutor(context, hook)
    return ReindexRunner(
        archive.sessions, executor, context, versions, runner_id=runner_id, poll_s=0.01
    )


def live_version(archive: Archive, runner: ReindexRunner) -> str:
    """Record the live path's version (float embedder) as live, as the runtime does."""
    models = runner.context.models(DETECTOR, LIVE_EMBEDDER)
    versions = runner.versions
    versions.ensure_live(
        models.embedding_version, models.detector_version, LIVE_EMBEDDER, models.embedder.dim
    )
    VectorIndex(models.embedder.dim, models.embedding_version).save(
        index_file(versions.vectors_dir, models.embedding_version)
    )
    return models.embedding_version


def queue(archive: Archive, embedder: str = NEW_EMBEDDER, switch: bool = True) -> str:
    request = ReindexRequest(
        ("cam1",), FOOTAGE_START, FOOTAGE_START + timedelta(hours=1), DETECTOR, embedder,
        switch=switch,
    )  # fmt: skip
    with archive.sessions() as session:
        job_id = start_reindex(session, request, "ops")
        session.commit()
    return job_id


def tracks_by_unit(archive: Archive) -> dict[int, int]:
    """Re-indexed tracks per unit id (their local ids are −(unit × 10⁵ + tracker id))."""
    with archive.sessions() as session:
        local_ids = session.scalars(
            select(TrackRow.local_track_id).where(TrackRow.local_track_id < 0)
        ).all()
    counts: dict[int, int] = {}
    for local_id in local_ids:
        unit_id = -local_id // 100_000
        counts[unit_id] = counts.get(unit_id, 0) + 1
    return counts


def test_reindex_builds_a_shadow_version_then_switches_it_live(archive: Archive):
    switched: list[str] = []
    seen_live: list[str | None] = []

    def during(n: int) -> None:  # while the job runs, searches still see the old version
        with archive.sessions() as session:
            live = live_index_version(session)
            seen_live.append(None if live is None else live.version)

    runner = runner_for(archive, during, switched)
    old = live_version(archive, runner)
    job_id = queue(archive)
    assert runner.run_next()

    new = runner.context.models(DETECTOR, NEW_EMBEDDER).embedding_version
    assert seen_live == [old, old, old]  # every unit done while the old version was live
    assert switched == [new]
    with archive.sessions() as session:
        progress = reindex_progress(session, job_id)
        assert progress is not None and progress.job.state == "succeeded"
        assert progress.units.total == 3 and progress.units.done == 3
        assert progress.job.result is not None and progress.job.result["switched"] is True
        assert progress.footage_per_wall_s is not None and progress.footage_per_wall_s > 0
        live = live_index_version(session)
        assert live is not None and live.version == new
        states = {v.version: v.state for v in index_versions(session)}
        assert states == {old: "kept", new: "live"}
        rows = session.scalars(select(TrackRow).where(TrackRow.embedding_version == new)).all()
    assert len(rows) >= 3  # the busy scene: people walk through every segment
    assert {r.detector_version for r in rows} == {f"{DETECTOR}@448x256"}
    assert all(r.local_track_id < 0 for r in rows)
    assert all(archive.store.exists(r.thumbnail_key) for r in rows if r.thumbnail_key)
    shadow = VectorIndex.load(index_file(archive.root / "vectors", new), new)
    assert len(shadow) == len(rows)
    hit = shadow.search(np.frombuffer(rows[0].embedding or b"", "<f4"), 1)
    assert hit[0].track_id == rows[0].id


def test_a_runner_that_dies_mid_job_is_taken_over_with_no_unit_lost_or_doubled(
    archive: Archive,
):
    class Crash(Exception):
        pass

    def die_after_two(n: int) -> None:
        if n == 2:
            raise Crash  # the runner's thread dies between units: its job stays "running"

    first = runner_for(archive, die_after_two, runner_id="dead")
    job_id = queue(archive)
    with pytest.raises(Crash):
        first.run_next()
    with archive.sessions() as session:
        assert unit_progress(session, job_id).done == 2
        job = get_job(session, job_id)
        assert job is not None and job.state == "running"
        beat(session, "dead", datetime.now(UTC) - timedelta(minutes=5))  # its lease expires
        session.commit()
    done_before = tracks_by_unit(archive)

    second = runner_for(archive, runner_id="alive")
    assert second.run_next()  # takes the orphan over and finishes the third unit only
    assert second.executor.finished == 1  # type: ignore[attr-defined]
    with archive.sessions() as session:
        units = job_units(session, job_id)
        job = get_job(session, job_id)
    assert job is not None and job.state == "succeeded"
    assert [u.state for u in units] == ["done"] * 3
    after = tracks_by_unit(archive)
    assert {k: after[k] for k in done_before} == done_before  # the first two not redone
    # a done unit run again (a duplicate task) is a no-op
    request = ReindexRequest.from_params(job.params)
    unit = units[0]
    again = process_unit(
        SegmentUnit(
            unit.unit_id, job_id, unit.recording_id, unit.camera_id, unit.object_key,
            unit.sha256, unit.size_bytes, unit.start_at, unit.end_at, request.detector,
            request.embedder,
        ),
        second.context,
    )  # fmt: skip
    assert again.state == "already_done"
    assert tracks_by_unit(archive) == after


def test_pause_resume_and_cancel_act_between_units(archive: Archive):
    job_id = queue(archive, switch=False)

    def pause_after_one(n: int) -> None:
        if n == 1:
            with archive.sessions() as session:
                assert pause_job(session, job_id)
                session.commit()

    runner = runner_for(archive, pause_after_one)
    assert runner.run_next()
    with archive.sessions() as session:
        assert (get_job(session, job_id) or pytest.fail()).state == "paused"
        assert unit_progress(session, job_id).done == 1
        assert not runner.run_next()  # a paused job is nobody's to run
        assert resume_job(session, job_id)
        session.commit()
    resumed = runner_for(archive)
    assert resumed.run_next()
    with archive.sessions() as session:
        assert (get_job(session, job_id) or pytest.fail()).state == "succeeded"
        assert unit_progress(session, job_id).done == 3
        assert live_index_version(session) is None  # switch=False: nothing made live

    other = queue(archive, embedder=LIVE_EMBEDDER)

    def cancel_after_one(n: int) -> None:
        if n == 1:
            with archive.sessions() as session:
                assert cancel_job(session, other)
                session.commit()

    cancelled = runner_for(archive, cancel_after_one)
    assert cancelled.run_next()
    with archive.sessions() as session:
        assert (get_job(session, other) or pytest.fail()).state == "cancelled"
        assert unit_progress(session, other).done == 1
        assert not cancel_job(session, other)  # already ended


def test_a_truncated_or_corrupt_segment_is_reported_and_skipped(archive: Archive):
    truncated, corrupt, _ = archive.segments
    store = archive.store
    store.put_bytes(
        truncated.object_key, store.get(truncated.object_key)[: truncated.size_bytes // 2]
    )
    data = bytearray(store.get(corrupt.object_key))
    data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)
    store.put_bytes(corrupt.object_key, bytes(data))

    job_id = queue(archive, switch=False)
    assert runner_for(archive).run_next()
    with archive.sessions() as session:
        progress = reindex_progress(session, job_id)
    assert progress is not None and progress.job.state == "succeeded"
    assert (progress.units.done, progress.units.skipped) == (1, 2)
    reasons = dict(progress.skipped)
    assert reasons[truncated.object_key].startswith("truncated")
    assert reasons[corrupt.object_key].startswith("corrupt")


def test_retire_removes_an_old_versions_index_but_never_the_live_one(archive: Archive):
    runner = runner_for(archive)
    old = live_version(archive, runner)
    queue(archive)
    assert runner.run_next()
    versions = runner.versions
    new = (versions.live() or pytest.fail()).version
    with pytest.raises(ValueError, match="live"):
        versions.retire(new)
    assert index_file(versions.vectors_dir, old).exists()
    retired = versions.retire(old)
    assert retired.state == "retired" and retired.retired_at is not None
    assert not list(versions.vectors_dir.glob(index_file(versions.vectors_dir, old).name + "*"))
    with pytest.raises(ValueError, match="retired"):
        versions.switch(old)
    with archive.sessions() as session:
        count = session.scalar(select(func.count(TrackRow.id)))
    assert count  # the retired version's tracks stay as history (none were live-path tracks)


def test_in_process_executor_runs_units_on_its_threads_and_stops_when_not_admitted(
    archive: Archive,
):
    job_id = queue(archive, switch=False)
    runner = runner_for(archive)
    with archive.sessions() as session:
        assert claim_job(session, job_id, runner.runner_id)
        plan_units(session, job_id, ["cam1"], FOOTAGE_START, FOOTAGE_START + timedelta(hours=1))
        session.commit()
        units = job_units(session, job_id)
        request = ReindexRequest.from_params((get_job(session, job_id) or pytest.fail()).params)
    executor = InProcessExecutor(runner.context, threads=2)
    results: list[UnitResult] = []
    admitted = threading.Semaphore(2)  # two units admitted, then the job "pauses"
    executor.run(
        [segment_unit(u, request) for u in units], results.append,
        lambda: admitted.acquire(blocking=False),
    )  # fmt: skip
    assert sorted(r.state for r in results) == ["done", "done"]
    with archive.sessions() as session:
        assert unit_progress(session, job_id).done == 2


def test_units_another_worker_finished_reach_the_live_index_from_the_catalog(archive: Archive):
    """A unit done by a worker that did not report it (a Ray actor dying after its commit)
    comes back `already_done` with no vectors: the runner reads them back from the catalog, so
    every track of a re-index into the live version reaches the live index."""
    added: dict[int, np.ndarray] = {}

    def into_live(version: str, ids: tuple[int, ...], vectors: np.ndarray) -> None:
        added.update(zip(ids, vectors, strict=True))

    job_id = ""

    def another_worker_finishes_the_rest(n: int) -> None:
        if n == 1:  # the other units are still pending in the executor's list: finish them
            with archive.sessions() as session:  # elsewhere (two: a unit whose people all
                rest = job_units(session, job_id)[1:]  # came from the one before owns none)
                job = get_job(session, job_id)
            assert job is not None and {u.state for u in rest} == {"pending"}
            for record in rest:
                unit = segment_unit(record, ReindexRequest.from_params(job.params))
                assert process_unit(unit, runner.context).state == "done"

    runner = runner_for(archive, another_worker_finishes_the_rest)
    runner._on_vectors = into_live
    live = live_version(archive, runner)
    job_id = queue(archive, LIVE_EMBEDDER)
    assert runner.run_next()
    with archive.sessions() as session:
        rows = session.scalars(select(TrackRow).where(TrackRow.embedding_version == live)).all()
        units = job_units(session, job_id)
    assert [u.state for u in units] == ["done"] * 3 and len(rows) >= 3
    assert set(added) == {r.id for r in rows}  # the other worker's units' tracks included
    elsewhere = {u.unit_id for u in units[1:]}
    elsewhere_tracks = [r for r in rows if -r.local_track_id // 100_000 in elsewhere]
    assert elsewhere_tracks
    for row in elsewhere_tracks:
        assert np.array_equal(added[row.id], np.frombuffer(row.embedding or b"", "<f4"))


def test_a_guarded_runtime_refuses_a_switch_it_cannot_embed_into(archive: Archive):
    """Live ingest embeds with the float embedder: a re-index with the int8 one succeeds, but
    its version stays a shadow, with the reason in the job's result."""
    runner = runner_for(archive)
    old = live_version(archive, runner)
    runner.versions.guard_live_ingest(old, LIVE_EMBEDDER)
    job_id = queue(archive, NEW_EMBEDDER)
    assert runner.run_next()
    with archive.sessions() as session:
        job = get_job(session, job_id)
        live = live_index_version(session)
        states = {v.version: v.state for v in index_versions(session)}
    assert job is not None and job.state == "succeeded" and job.result is not None
    assert job.result["switched"] is False
    assert f"SKYNET_EMBEDDER_MODEL='{NEW_EMBEDDER}'" in job.result["switch_refused"]
    assert live is not None and live.version == old
    new = runner.context.models(DETECTOR, NEW_EMBEDDER).embedding_version
    assert states == {old: "live", new: "building"}  # built, not switched
    with pytest.raises(SwitchRefused, match="restart with"):
        runner.versions.switch(new)
    runner.versions.guard_live_ingest(new, NEW_EMBEDDER)  # restarted with the int8 embedder
    assert runner.versions.switch(new).version == new
