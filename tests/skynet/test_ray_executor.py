"""Re-index jobs on a real local Ray cluster (head + two worker nodes, each a `ray start`
process, stopped by pid): the same job code (`ReindexRunner`) with the Ray executor gives the
same tracks as in-process, and a Ray worker killed in the middle of its batch loses and doubles
no segment.

The footage is real: the first 16 s of the 1080p "busy" sample camera (vtest.avi, people
walking) cut into 4 s segments by the live recorder, stored and catalogued as recordings.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from index.catalog import get_job
from index.catalog.reindex_units import get_unit, job_units
from index.catalog.tracks import matching_track_ids, tracks_by_ids
from index.catalog.values import TrackQuery
from index.index_versions import IndexVersions
from index.reindex_jobs import ReindexRequest, ReindexRunner, start_reindex
from index.reindex_units import UNIT_TRACK_ID_SPAN, AnalysisSettings, InProcessExecutor
from ingest.segment import Segment
from models.build import ensure_models
from models.registry import default_cache_dir
from sample_streams.footage import CameraFiles
from skynet.executors import reindex_executor
from skynet.ray_executor import RayExecutor, unit_context
from skynet.settings import Settings
from tests.index.reindex_support import FOOTAGE_START, archive_with, record_segments
from tests.servers.ray_cluster import RayCluster

pytestmark = pytest.mark.slow  # a Ray cluster (~12 s to start) and real 1080p analysis

CAMERA = "cam1"
FOOTAGE_S = 16.0
SEGMENT_S = 4.0
BATCH_UNITS = 2  # 4 units: one batch of 2 per actor, one actor per worker node
Footage = dict[str, list[tuple[Path, Segment]]]
TracksBySegment = dict[str, Counter[str]]


@dataclass
class QueuedJob:
    """A catalogued archive, a re-index job queued over it and the runner that will run it."""

    job_id: str
    sessions: sessionmaker[Session]
    runner: ReindexRunner


@pytest.fixture(scope="module")
def models_dir() -> Path:
    settings = Settings()
    cache = default_cache_dir().resolve()
    ensure_models(cache, [settings.detector_model, settings.embedder_model])
    return cache


@pytest.fixture(scope="module")
def footage(sample_cameras: list[CameraFiles], tmp_path_factory: pytest.TempPathFactory) -> Footage:
    spool = tmp_path_factory.mktemp("footage")
    recorded = record_segments(sample_cameras[0].main_path, spool, CAMERA, FOOTAGE_S, SEGMENT_S)
    assert len(recorded) == FOOTAGE_S / SEGMENT_S
    return {CAMERA: recorded}


def queue_job(
    data_dir: Path, models_dir: Path, footage: Footage, ray_address: str = ""
) -> QueuedJob:
    """Catalogue `footage` where the settings put the catalog and the local object store, queue
    a re-index of it, and make the runner with the executor the settings choose."""
    settings = Settings(
        data_dir=data_dir, models_dir=models_dir, ray_address=ray_address,
        ray_batch_units=BATCH_UNITS,
    )  # fmt: skip
    archive = archive_with(data_dir, footage)  # data_dir/catalog.db and data_dir/objects
    context = unit_context(settings, AnalysisSettings())
    versions = IndexVersions(archive.sessions, settings.vectors_dir)
    executor = reindex_executor(settings, context)
    runner = ReindexRunner(archive.sessions, executor, context, versions, poll_s=0.01)
    request = ReindexRequest(
        (CAMERA,), FOOTAGE_START, FOOTAGE_START + timedelta(minutes=5), settings.detector_model,
        settings.embedder_model,
    )  # fmt: skip
    with archive.sessions() as session:
        job_id = start_reindex(session, request, "ops")
        session.commit()
    return QueuedJob(job_id, archive.sessions, runner)


def run_to_end(job: QueuedJob) -> None:
    assert job.runner.run_next()
    with job.sessions() as session:
        record = get_job(session, job.job_id)
    assert record is not None and record.state == "succeeded", record


def tracks_per_segment(job: QueuedJob) -> TracksBySegment:
    """Per recorded segment (object key): the job's tracks by class (a re-indexed track's local
    id names its unit)."""
    with job.sessions() as session:
        keys = {unit.unit_id: unit.object_key for unit in job_units(session, job.job_id)}
        out: TracksBySegment = {key: Counter() for key in keys.values()}
        ids = matching_track_ids(session, TrackQuery(camera_ids=(CAMERA,)))
        for track in tracks_by_ids(session, ids):
            out[keys[-track.local_track_id // UNIT_TRACK_ID_SPAN]][track.class_name] += 1
    return out


@pytest.fixture(scope="module")
def in_process(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path, footage: Footage
) -> TracksBySegment:
    """The reference: the same job run by the in-process executor (no SKYNET_RAY_ADDRESS)."""
    job = queue_job(tmp_path_factory.mktemp("in-process"), models_dir, footage)
    assert isinstance(job.runner.executor, InProcessExecutor)
    run_to_end(job)
    tracks = tracks_per_segment(job)
    assert sum(sum(c.values()) for c in tracks.values()) >= len(tracks)  # people walk by
    return tracks


@pytest.fixture
def ray_job(
    ray_cluster: RayCluster, tmp_path: Path, models_dir: Path, footage: Footage
) -> Iterator[tuple[QueuedJob, RayExecutor]]:
    job = queue_job(tmp_path, models_dir, footage, ray_cluster.address)
    executor = job.runner.executor
    assert isinstance(executor, RayExecutor)
    try:
        yield job, executor
    finally:
        executor.close()


def test_ray_job_gives_the_in_process_tracks(
    ray_job: tuple[QueuedJob, RayExecutor], in_process: TracksBySegment
) -> None:
    job, executor = ray_job
    run_to_end(job)
    assert executor.actor_count == 2  # one per worker node's CPU
    pids = set(executor.actor_pids.values())
    assert len(pids) == 2 and os.getpid() not in pids  # the units ran in two Ray workers
    with job.sessions() as session:
        assert {u.state for u in job_units(session, job.job_id)} == {"done"}
    assert tracks_per_segment(job) == in_process


def _kill_mid_batch(executor: RayExecutor, job: QueuedJob, killed: list[int]) -> None:
    """SIGKILL the actor working on the first unit of its batch once that unit's attempt began
    and before it finished, so the actor dies with work left."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for pid, unit_ids in executor.in_flight().items():
            with job.sessions() as session:
                first = get_unit(session, unit_ids[0])
            if first is not None and first.state == "pending" and first.attempts == 1:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.02)


def test_a_ray_worker_killed_mid_job_loses_and_doubles_no_segment(
    ray_job: tuple[QueuedJob, RayExecutor], in_process: TracksBySegment
) -> None:
    job, executor = ray_job
    killed: list[int] = []
    killer = threading.Thread(target=_kill_mid_batch, args=(executor, job, killed))
    killer.start()
    try:
        run_to_end(job)
    finally:
        killer.join()
    assert len(killed) == 1 and executor.actor_deaths == 1
    assert killed[0] not in executor.actor_pids.values()  # its slot got a new actor
    with job.sessions() as session:
        checkpoints = job_units(session, job.job_id)
    assert len({c.recording_id for c in checkpoints}) == len(checkpoints) == FOOTAGE_S / SEGMENT_S
    assert {c.state for c in checkpoints} == {"done"}
    assert 2 in {c.attempts for c in checkpoints}  # the unit it died in: redone once
    assert tracks_per_segment(job) == in_process  # nothing lost, nothing stored twice


def test_stopping_the_service_leaves_the_ray_cluster(
    ray_cluster: RayCluster, tmp_path: Path, models_dir: Path, footage: Footage
) -> None:
    import ray

    from skynet.reindex_service import ReindexService

    archive = archive_with(tmp_path, footage)
    settings = Settings(data_dir=tmp_path, models_dir=models_dir, ray_address=ray_cluster.address)
    service = ReindexService(settings, archive.sessions, archive.store)
    assert isinstance(service.runner.executor, RayExecutor) and ray.is_initialized()
    service.stop()
    assert not ray.is_initialized()  # a serve process does not keep its cluster connection
