"""Plates in a re-index (#14 × #15; bug: a re-index built its track builder without a plate
reader, so a re-index into the live version, replacing the live tracks of its range, lost every
plate live ingest had read and plate search stopped finding those vehicles).

Real footage and models: the plates bench's traffic clip (sample_streams/plate_traffic.py: a
car with a composited plate, 241 px on the 1080p main stream, 80 px on the 640×360 analysed
size, under the sub stream's 96 px gate: not readable there) recorded by the live recorder,
re-indexed with the real detector, embedder and the live runtime's plate reader.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from detect.plate_match import parse_plate_pattern
from detect.plate_values import PlateRead, TrackPlate
from index.catalog import add_tracks
from index.catalog.plates import get_plate, search_plates, store_plates
from index.catalog.rows import TrackRow
from index.catalog.values import NewTrack, TrackQuery, embedding_to_bytes
from index.index_versions import IndexVersions
from index.reindex_jobs import ReindexRequest, ReindexRunner, reindex_progress, start_reindex
from index.reindex_units import AnalysisSettings, UnitContext
from ingest.segment import Segment
from sample_streams.plate_traffic import build_traffic_clip
from skynet.plate_reading import plate_reading
from skynet.settings import Settings
from tests.index.reindex_support import (
    FOOTAGE_START,
    Archive,
    CountingExecutor,
    archive_with,
    record_segments,
)
from tests.index.test_reindex import DETECTOR, LIVE_EMBEDDER, MODELS_DIR, NEW_EMBEDDER, live_version
from tests.servers.rtsp import sample_cache_dir

pytestmark = pytest.mark.slow  # real 1080p decode, detection and plate reads: ~10 s a job

CAMERA = "traffic"
PLATE = "冀A6118领"
EXACT = parse_plate_pattern(PLATE, "exact")
LIVE_LOCAL_ID = 7


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Path, Segment]]]:
    """The one-car traffic clip's main stream, recorded in 4 s segments."""
    clip = build_traffic_clip(sample_cache_dir(), 16, pick=(5,))
    spool = tmp_path_factory.mktemp("traffic")
    return {CAMERA: record_segments(clip.main_path, spool, CAMERA, clip.duration_s, 4.0)}


@pytest.fixture
def archive(tmp_path: Path, footage: dict[str, list[tuple[Path, Segment]]]) -> Archive:
    return archive_with(tmp_path, footage)


def runner(archive: Archive, plates: bool = True) -> ReindexRunner:
    """A runner whose units read plates as the service configures them (SKYNET_PLATE_*)."""
    reading = plate_reading(Settings(models_dir=MODELS_DIR)) if plates else None
    context = UnitContext(
        archive.sessions, archive.store, MODELS_DIR, AnalysisSettings(plates=reading)
    )
    versions = IndexVersions(archive.sessions, archive.root / "vectors")
    return ReindexRunner(
        archive.sessions, CountingExecutor(context), context, versions, poll_s=0.01
    )


def reindex(archive: Archive, job_runner: ReindexRunner, embedder: str) -> str:
    request = ReindexRequest(
        (CAMERA,), FOOTAGE_START, FOOTAGE_START + timedelta(hours=1), DETECTOR, embedder
    )
    with archive.sessions() as session:
        job_id = start_reindex(session, request, "ops")
        session.commit()
    assert job_runner.run_next()
    return job_id


def plates_read(archive: Archive, job_id: str) -> int:
    with archive.sessions() as session:
        progress = reindex_progress(session, job_id)
    assert progress is not None and progress.job.result is not None
    assert progress.job.state == "succeeded", progress.job
    return int(progress.job.result["plates_read"])


def plate_hits(archive: Archive) -> list[TrackRow]:
    """The tracks a plate search for the car's plate finds (live version only)."""
    with archive.sessions() as session:
        ids = [h.plate.track_id for h in search_plates(session, EXACT, TrackQuery(), 10).hits]
        return list(session.scalars(select(TrackRow).where(TrackRow.id.in_(ids))))


def test_a_reindex_reads_the_plate_from_the_full_resolution_frame(archive: Archive):
    job_id = reindex(archive, runner(archive), NEW_EMBEDDER)

    assert plates_read(archive, job_id) >= 1
    with archive.sessions() as session:
        tracks = session.scalars(select(TrackRow).where(TrackRow.class_name == "car")).all()
        plates = {t.id: get_plate(session, t.id) for t in tracks}
    read = [(t, p) for t, p in ((t, plates[t.id]) for t in tracks) if p is not None]
    assert [p.text for _, p in read] == [PLATE]
    track, plate = read[0]
    assert track.local_track_id < 0 and track.embedding_version != ""  # the job's own track
    # read on the 1080p frame: its boxes are in main-stream pixels, beyond the analysed 640×360
    assert (
        max(r["box"][2] for r in plate.reads) > 640 or max(r["box"][3] for r in plate.reads) > 360
    )
    assert plate.crop_key is not None and archive.store.exists(plate.crop_key)


def test_without_a_plate_reader_the_reindex_reads_no_plates(archive: Archive):
    job_id = reindex(archive, runner(archive, plates=False), NEW_EMBEDDER)

    assert plates_read(archive, job_id) == 0
    with archive.sessions() as session:
        cars = session.scalars(select(TrackRow.id).where(TrackRow.class_name == "car")).all()
        assert cars and all(get_plate(session, i) is None for i in cars)


def live_track_with_plate(archive: Archive, job_runner: ReindexRunner) -> int:
    """The live path's track of the car (positive local id) with the plate live ingest read."""
    version = live_version(archive, job_runner)
    dim = job_runner.context.models(DETECTOR, LIVE_EMBEDDER).embedder.dim
    start = FOOTAGE_START + timedelta(seconds=2)
    vector = np.ones(dim, np.float32) / np.sqrt(dim)
    track = NewTrack(
        camera_id=CAMERA, local_track_id=LIVE_LOCAL_ID, class_name="car", confidence=0.8,
        start_at=start, end_at=start + timedelta(seconds=3), best_shot_at=start,
        best_bbox_xyxy_px=(100.0, 200.0, 180.0, 250.0),
        embedding=embedding_to_bytes(vector), embedding_version=version,
    )  # fmt: skip
    read = PlateRead(PLATE, (0.95,) * len(PLATE), start, (400.0, 800.0, 520.0, 840.0))
    with archive.sessions() as session:
        (track_id,) = add_tracks(session, [track])
        store_plates(session, [(track_id, TrackPlate(PLATE, 0.95, (), (read,)), None)])
        session.commit()
    return track_id


def test_a_reindex_into_the_live_version_keeps_plate_search_finding_the_vehicle(
    archive: Archive,
):
    job_runner = runner(archive)
    live_id = live_track_with_plate(archive, job_runner)
    assert [t.id for t in plate_hits(archive)] == [live_id]

    job_id = reindex(archive, job_runner, LIVE_EMBEDDER)

    with archive.sessions() as session:
        progress = reindex_progress(session, job_id)
        live = select(TrackRow).where(TrackRow.local_track_id == LIVE_LOCAL_ID)
        assert session.scalars(live).first() is None  # the live track was replaced
    assert progress is not None and progress.tracks_replaced == 1
    hits = plate_hits(archive)
    assert len(hits) == 1 and hits[0].local_track_id < 0  # now the re-indexed track's plate
    assert hits[0].class_name == "car" and plates_read(archive, job_id) >= 1
