"""The archive path (#15) on real recorded 1080p segments: quiet GOPs are never decoded, moving
ones are sampled at `active_fps`, the pixel scan agrees with the bitstream, bad bytes refused."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.archive import ArchiveError, ArchiveReader, ArchiveSettings
from ingest.segment import Segment
from sample_streams.footage import build_variant
from tests.index.reindex_support import FOOTAGE_START, record_segments
from tests.servers.rtsp import sample_cache_dir

Recorded = list[tuple[Path, Segment]]


@pytest.fixture(scope="module")
def typical(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """The typical sample camera's first 64 s: an empty street for 60 s, then people."""
    files = build_variant("typical", sample_cache_dir())
    spool = tmp_path_factory.mktemp("typical")
    return record_segments(files.main_path, spool, "cam1", 64.0, 8.0)


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    files = build_variant("busy", sample_cache_dir())
    return record_segments(files.main_path, tmp_path_factory.mktemp("busy"), "cam1", 8.0, 8.0)


def reader(recorded: tuple[Path, Segment], **settings: Any) -> ArchiveReader:
    path, segment = recorded
    return ArchiveReader(path.read_bytes(), "cam1", segment.start_at, ArchiveSettings(**settings))


def test_a_quiet_street_is_decided_from_the_bitstream_and_never_decoded(typical: Recorded):
    quiet = [reader(recorded, keepalive_s=3600.0) for recorded in typical[1:6]]  # 8-48 s
    for archive in quiet:
        scan = archive.scan()
        assert scan.active == (False,) * 4
        assert list(archive.frames(scan)) == []
        assert archive.stats.keyframes_decoded == 0 and archive.stats.decoded_frames == 0
    # the last segment holds the people (from 60 s): its moving GOPs are analysed
    last = reader(typical[-1], keepalive_s=3600.0)
    scan = last.scan()
    assert scan.active[-2:] == (True, True) and not scan.active[0]


def test_a_keepalive_looks_at_a_quiet_scene_once_per_period_in_phase_across_segments(
    typical: Recorded,
):
    active = [reader(recorded, keepalive_s=16.0).scan().active for recorded in typical[:7]]
    looked = [i for i, gops in enumerate(active) if any(gops)]
    assert looked == [0, 2, 4, 6]  # wall times 0, 16, 32, 48 s: one GOP each
    assert all(sum(gops) == 1 for i, gops in enumerate(active) if i in looked)


def test_moving_gops_are_sampled_at_the_active_rate_with_wall_times(busy: Recorded):
    archive = reader(busy[0], active_fps=2.5)
    scan = archive.scan()
    assert all(scan.active)
    frames = list(archive.frames(scan))
    _path, segment = busy[0]
    assert 19 <= len(frames) <= 21  # 8 s at 2.5 fps
    # every frame of a moving GOP up to its last sample is decoded, its tail is not
    assert archive.stats.decoded_frames + archive.stats.skipped_packets >= 190
    assert 150 <= archive.stats.decoded_frames <= 175
    assert {frame.image.shape for frame in frames} == {(360, 640, 3)}
    assert frames[0].wall_time == segment.start_at
    steps = [b.pts_s - a.pts_s for a, b in itertools.pairwise(frames)]
    assert all(abs(step - 0.4) < 0.05 for step in steps)
    assert frames[-1].wall_time - frames[0].wall_time == timedelta(seconds=frames[-1].pts_s)


def test_skipping_gop_tails_hands_on_the_same_frames(busy: Recorded):
    whole = reader(busy[0], active_fps=2.5, skip_gop_tails=False)
    tails = reader(busy[0], active_fps=2.5)
    threads = reader(busy[0], active_fps=2.5, decoder_threads=2)
    expected = list(whole.frames(whole.scan()))
    for other in (tails, threads):
        got = list(other.frames(other.scan()))
        assert [f.pts_s for f in got] == [f.pts_s for f in expected]
        assert all(np.array_equal(a.image, b.image) for a, b in zip(got, expected, strict=True))
    assert whole.stats.skipped_packets == 0 < tails.stats.skipped_packets
    assert tails.stats.decoded_frames < whole.stats.decoded_frames


@pytest.mark.parametrize("active_fps", [2.5, 2.2])  # 2.2: ticks fall between frames
def test_a_tail_read_hands_on_the_frames_a_whole_read_hands_on_there(
    busy: Recorded, active_fps: float
):
    """A neighbour's warm-up reads a segment from 5 s: decoding starts at the keyframe before
    (4 s), the samples are the whole read's (same times, same pixels), nothing before is."""
    whole = reader(busy[0], active_fps=active_fps)
    tail = reader(busy[0], active_fps=active_fps)
    expected = [f for f in whole.frames(whole.scan()) if f.pts_s >= 4.0 - 1e-6]
    got = list(tail.frames(tail.scan(), from_s=5.0))
    assert [f.pts_s for f in got] == [f.pts_s for f in expected] and len(got) >= 8
    assert all(np.array_equal(a.image, b.image) for a, b in zip(got, expected, strict=True))
    assert tail.stats.decoded_frames < 0.6 * whole.stats.decoded_frames  # 2 GOPs of 4


def test_the_pixel_scan_finds_the_moving_gops_the_bitstream_finds(
    typical: Recorded, busy: Recorded
):
    for recorded in (typical[2], typical[-1], busy[0]):
        by_bytes = reader(recorded, keepalive_s=3600.0)
        by_pixels = reader(
            recorded, keepalive_s=3600.0, quiet_bytes_ratio=0.0, moving_bytes_ratio=1.0
        )
        pixels, bytes_ = by_pixels.scan().active, by_bytes.scan().active
        # keyframes only show motion at GOP edges: the pixel scan also takes the GOP before
        assert all(p or not b for p, b in zip(pixels, bytes_, strict=True))
        assert sum(pixels) - sum(bytes_) <= 1
        assert by_pixels.stats.keyframes_decoded == by_pixels.stats.keyframes


def test_bytes_that_are_no_video_are_refused():
    with pytest.raises(ArchiveError, match="cannot open"):
        ArchiveReader(b"not a video" * 100, "cam1", FOOTAGE_START, ArchiveSettings()).scan()
    with pytest.raises(ValueError, match="active_fps"):
        ArchiveSettings(active_fps=0)
