"""Frames of a recorded main-stream segment at wanted wall times (#14, ingest/segment_frames.py),
on real segments cut by the recorder from the 1080p traffic sample clip."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest

from bench.plates_live_cost import EPOCH
from bench.plates_main_stream import cut_segments
from ingest.segment import Segment
from ingest.segment_frames import SegmentDecodeError, decode_runs, frames_at, segment_size_px
from sample_streams.plate_traffic import build_traffic_clip
from tests.servers.rtsp import sample_cache_dir

pytestmark = pytest.mark.slow  # builds the traffic clip with ffmpeg on a cold cache (≈ 10 s)


@pytest.fixture(scope="module")
def segment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Segment]:
    clip = build_traffic_clip(sample_cache_dir(), 16, pick=(0, 5))
    return cut_segments(clip.main_path, tmp_path_factory.mktemp("spool"), 4.0)[1]


def _all_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def test_close_times_share_one_run_and_far_ones_do_not() -> None:
    assert decode_runs([3.0, 0.5, 1.0, 5.5, 2.2]) == [[1, 2, 4, 0], [3]]
    assert decode_runs([]) == []


def test_each_wanted_time_gets_its_nearest_frame(segment: tuple[Path, Segment]) -> None:
    path, seg = segment
    frames = _all_frames(path)
    offsets_s = [0.0, 0.43, 0.51, 2.98, 3.49]  # 25 fps: frames 0, 11, 13, 75, 87
    wanted = [seg.start_at + timedelta(seconds=s) for s in offsets_s]
    found = frames_at(path, seg.start_at, wanted)
    for offset_s, frame in zip(offsets_s, found, strict=True):
        assert frame is not None and frame.size_px == (1920, 1080)
        index = round(offset_s * 25)
        assert abs((frame.at - seg.start_at).total_seconds() - index / 25) < 1e-6
        assert np.array_equal(frame.image, frames[index])  # the very frame a full decode gives
    from_bytes = frames_at(path.read_bytes(), seg.start_at, wanted[3:4])[0]
    assert from_bytes is not None and np.array_equal(from_bytes.image, frames[round(2.98 * 25)])


def test_a_time_outside_the_segment_has_no_frame(segment: tuple[Path, Segment]) -> None:
    path, seg = segment
    late = seg.end_at + timedelta(seconds=5)
    early = seg.start_at - timedelta(seconds=5)
    assert frames_at(path, seg.start_at, [early, late]) == [None, None]


def test_a_truncated_or_missing_segment_is_a_clear_error(
    segment: tuple[Path, Segment], tmp_path: Path
) -> None:
    path, seg = segment
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    wanted = [seg.start_at + timedelta(seconds=s) for s in (0.2, 3.6)]
    try:
        found = frames_at(cut, seg.start_at, wanted)
    except SegmentDecodeError:
        found = [None, None]
    assert found[1] is None  # past the cut: nothing, and no other exception
    with pytest.raises(SegmentDecodeError):
        frames_at(tmp_path / "gone.mp4", seg.start_at, wanted)
    with pytest.raises(SegmentDecodeError):
        frames_at(b"not a video", seg.start_at, wanted)
    assert seg.start_at > EPOCH


def test_a_segment_size_comes_from_its_header(segment: tuple[Path, Segment]) -> None:
    path, _seg = segment
    assert segment_size_px(path) == segment_size_px(path.read_bytes()) == (1920, 1080)
    with pytest.raises(SegmentDecodeError):
        segment_size_px(b"not a video")
