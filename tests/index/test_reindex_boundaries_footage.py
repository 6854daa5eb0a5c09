"""Tracks across a segment cut on real footage (#15): 16 s of the busy 1080p sample camera
(vtest.avi, people walking) cut into two 8 s segments by the live recorder and re-indexed by the
real job runner, detector, tracker and embedder — once with every track cut at the boundary (the
old behaviour), once with warm-up and look-ahead, and once killed between the two units and
resumed by another runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from index.catalog import get_job
from index.catalog.reindex import pause_job, resume_job
from index.catalog.reindex_units import job_units
from index.catalog.rows import TrackRow
from index.index_versions import IndexVersions
from index.reindex_jobs import ReindexRequest, ReindexRunner, start_reindex
from index.reindex_units import UNIT_TRACK_ID_SPAN, AnalysisSettings, UnitContext
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

pytestmark = pytest.mark.slow  # real 1080p decode + detection of 16 s, three jobs

DETECTOR = "nanodet-int8"
EMBEDDER = "mobilenetv2-embedder"
MODELS_DIR = default_cache_dir().resolve()
SEGMENT_S = 8.0
CUT = FOOTAGE_START + timedelta(seconds=SEGMENT_S)
Footage = dict[str, list[tuple[Path, Segment]]]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Stored:
    """A stored track: its owner unit, class, span, local id and boxes by wall time."""

    unit_id: int
    local_track_id: int
    class_name: str
    start_at: datetime
    end_at: datetime
    boxes: tuple[tuple[datetime, Box], ...]

    def box_at(self, at: datetime) -> Box | None:
        near = [box for t, box in self.boxes if abs((t - at).total_seconds()) < 0.05]
        return near[0] if near else None


@pytest.fixture(scope="module")
def footage(sample_cameras: list[CameraFiles], tmp_path_factory: pytest.TempPathFactory) -> Footage:
    spool = tmp_path_factory.mktemp("footage")
    recorded = record_segments(sample_cameras[0].main_path, spool, "cam1", 2 * SEGMENT_S, SEGMENT_S)
    assert [s.start_at for _, s in recorded] == [FOOTAGE_START, CUT]
    return {"cam1": recorded}


def runner(
    archive: Archive, analysis: AnalysisSettings, hook: Callable[[int], None] = lambda n: None
) -> ReindexRunner:
    context = UnitContext(archive.sessions, archive.store, MODELS_DIR, analysis)
    versions = IndexVersions(archive.sessions, archive.root / "vectors")
    return ReindexRunner(
        archive.sessions, CountingExecutor(context, hook), context, versions, poll_s=0.01
    )


def queue(archive: Archive) -> str:
    request = ReindexRequest(
        ("cam1",), FOOTAGE_START, FOOTAGE_START + timedelta(hours=1), DETECTOR, EMBEDDER,
        switch=False,
    )  # fmt: skip
    with archive.sessions() as session:
        job_id = start_reindex(session, request, "ops")
        session.commit()
    return job_id


def stored(row: TrackRow) -> Stored:
    boxes = tuple(
        (row.start_at + timedelta(seconds=p[0]), (p[1], p[2], p[3], p[4])) for p in row.trajectory
    )
    unit_id = -row.local_track_id // UNIT_TRACK_ID_SPAN
    return Stored(unit_id, row.local_track_id, row.class_name, row.start_at, row.end_at, boxes)


def stored_tracks(archive: Archive) -> list[Stored]:
    with archive.sessions() as session:
        rows = session.scalars(select(TrackRow).order_by(TrackRow.start_at, TrackRow.id)).all()
    return [stored(row) for row in rows]


def reindexed(tmp_path: Path, footage: Footage, analysis: AnalysisSettings) -> list[Stored]:
    archive = archive_with(tmp_path, footage)
    job_id = queue(archive)
    assert runner(archive, analysis).run_next()
    with archive.sessions() as session:
        assert (get_job(session, job_id) or pytest.fail()).state == "succeeded"
        assert [u.state for u in job_units(session, job_id)] == ["done", "done"]
    return stored_tracks(archive)


@pytest.fixture(scope="module")
def cut_per_segment(tmp_path_factory: pytest.TempPathFactory, footage: Footage) -> list[Stored]:
    return reindexed(tmp_path_factory.mktemp("cut"), footage, AnalysisSettings(boundaries=None))


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory, footage: Footage) -> list[Stored]:
    return reindexed(tmp_path_factory.mktemp("joined"), footage, AnalysisSettings())


def iou(a: Box, b: Box) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def doubles(tracks: list[Stored]) -> list[tuple[Stored, Stored]]:
    """Pairs of tracks of two units holding the same detection in one frame (IoU ≥ 0.95: the
    detector's NMS leaves no two boxes above 0.6)."""
    out = []
    for a in tracks:
        for b in tracks:
            if a.unit_id >= b.unit_id or a.class_name != b.class_name:
                continue
            for at, box in b.boxes:
                other = a.box_at(at)
                if other is not None and iou(box, other) >= 0.95:
                    out.append((a, b))
                    break
    return out


def spanning(tracks: list[Stored]) -> list[Stored]:
    return [t for t in tracks if t.start_at < CUT < t.end_at]


def test_cut_per_segment_people_in_view_at_the_cut_are_split_in_two(
    cut_per_segment: list[Stored],
):
    assert not spanning(cut_per_segment)
    units = sorted({t.unit_id for t in cut_per_segment})
    near_cut = CUT - timedelta(seconds=0.5)
    assert [t for t in cut_per_segment if t.unit_id == units[0] and t.end_at >= near_cut]
    assert [t for t in cut_per_segment if t.unit_id == units[1] and t.start_at <= CUT + timedelta(
        seconds=1.0
    )]  # fmt: skip


def test_a_person_crossing_the_cut_is_one_track_of_the_first_unit(
    cut_per_segment: list[Stored], joined: list[Stored]
):
    first_unit = min(t.unit_id for t in joined)
    by_local_id = {t.local_track_id: t for t in joined}
    ending_at_cut = [
        t for t in cut_per_segment
        if t.unit_id == first_unit and t.end_at >= CUT - timedelta(seconds=0.5)
    ]  # fmt: skip
    continued = []
    for before in ending_at_cut:  # unit 1 sees the same frames up to the cut either way
        whole = by_local_id[before.local_track_id]
        assert whole.start_at == before.start_at and whole.end_at >= before.end_at
        continued += [whole] if whole.end_at > CUT + timedelta(seconds=0.4) else []
    assert continued, "no track followed across the cut"
    assert all(t.unit_id == first_unit for t in spanning(joined))
    assert not doubles(joined)  # nobody is held by two units' tracks in one frame
    second_cut = [t for t in cut_per_segment if t.unit_id != first_unit]
    second_joined = [t for t in joined if t.unit_id != first_unit]
    assert len(second_joined) < len(second_cut)  # the continuations are the first unit's


def test_a_job_killed_between_the_two_units_resumes_to_the_same_tracks(
    tmp_path: Path, footage: Footage, joined: list[Stored]
):
    class Crash(Exception):
        pass

    def die_after_one(n: int) -> None:
        if n == 1:
            raise Crash  # the runner dies after the first unit's commit

    archive = archive_with(tmp_path, footage)
    job_id = queue(archive)
    with pytest.raises(Crash):
        runner(archive, AnalysisSettings(), die_after_one).run_next()
    first = stored_tracks(archive)
    assert first and spanning(first)  # the first unit's tracks are whole already
    with archive.sessions() as session:
        assert [u.state for u in job_units(session, job_id)] == ["done", "pending"]
        assert pause_job(session, job_id) and resume_job(session, job_id)
        session.commit()
    second = runner(archive, AnalysisSettings())
    assert second.run_next()
    assert second.executor.finished == 1  # type: ignore[attr-defined]
    resumed = stored_tracks(archive)
    assert not doubles(resumed)
    assert sorted(map(identity, resumed)) == sorted(map(identity, joined))


def identity(track: Stored) -> tuple[int, datetime, datetime, str]:
    return track.local_track_id, track.start_at, track.end_at, track.class_name
