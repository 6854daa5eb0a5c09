"""Segment recorder on a real H.264 file: contiguous, decodable, keyframe-aligned segments."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import av
import pytest

from ingest.recorder import SegmentRecorder
from ingest.segment import Segment
from ingest.stream import StreamError, WallClock, open_input

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@pytest.fixture(scope="module")
def h264_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "cam.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(VTEST), "-t", "13",
         "-vf", "scale=320:240", "-r", "10", "-c:v", "libx264", "-preset", "ultrafast",
         "-g", "20", str(path)],
        check=True,
    )  # fmt: skip
    return path


def record(source: Path, spool: Path, segment_s: float) -> list[tuple[Path, Segment]]:
    produced: list[tuple[Path, Segment]] = []
    with open_input(str(source)) as container:
        stream = container.streams.video[0]
        clock = WallClock(stream.time_base)  # type: ignore[arg-type]
        recorder = SegmentRecorder(
            "cam1", stream, spool, segment_s, lambda p, s: produced.append((p, s))
        )
        for packet in container.demux(stream):
            if packet.pts is not None:
                recorder.write(packet, clock.wall_time(packet.pts))
        recorder.close()
    return produced


def test_segments_are_contiguous_decodable_and_lose_no_frame(h264_file: Path, tmp_path: Path):
    produced = record(h264_file, tmp_path / "spool", segment_s=4.0)
    assert len(produced) == 4  # 13 s at keyframes every 2 s: 4 + 4 + 4 + 1 (minus one frame)
    for (_, earlier), (_, later) in itertools.pairwise(produced):
        assert later.start_at == earlier.end_at
    total_frames = 0
    for path, segment in produced:
        assert path.stat().st_size == segment.size_bytes
        assert segment.object_key.startswith("cameras/cam1/") and segment.object_key.endswith(
            ".mp4"
        )
        with av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        assert frames[0].key_frame
        total_frames += len(frames)
    with av.open(str(h264_file)) as container:
        assert total_frames == sum(1 for _ in container.decode(video=0))
    assert [round(s.duration_s, 1) for _, s in produced[:3]] == [4.0, 4.0, 4.0]


def test_packets_before_the_first_keyframe_are_dropped(h264_file: Path, tmp_path: Path) -> None:
    produced: list[tuple[Path, Segment]] = []
    with open_input(str(h264_file)) as container:
        stream = container.streams.video[0]
        clock = WallClock(stream.time_base)  # type: ignore[arg-type]
        recorder = SegmentRecorder(
            "c", stream, tmp_path, 100.0, lambda p, s: produced.append((p, s))
        )
        packets = [p for p in container.demux(stream) if p.pts is not None]
        for packet in packets[5:]:  # start mid-GOP, as a camera joined late would
            recorder.write(packet, clock.wall_time(packet.pts))  # type: ignore[arg-type]
        recorder.close()
    with av.open(str(produced[0][0])) as container:
        first = next(container.decode(video=0))
    assert first.key_frame


def test_open_input_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(StreamError, match="cannot open"):
        open_input(str(tmp_path / "missing.mp4"))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 4096)
    with pytest.raises(StreamError):
        open_input(str(garbage))
    with pytest.raises(StreamError, match="cannot open"):
        open_input("rtsp://127.0.0.1:9/none")


def test_timestamps_that_restart_start_a_new_segment(h264_file: Path, tmp_path: Path) -> None:
    """A looping or restarted camera sends DTS that jump back: no error, no overlap."""
    produced: list[tuple[Path, Segment]] = []
    with open_input(str(h264_file)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.pts is not None]
        clock = WallClock(stream.time_base)  # type: ignore[arg-type]
        recorder = SegmentRecorder(
            "cam1", stream, tmp_path, 100.0, lambda p, s: produced.append((p, s))
        )
        for packet in packets[:60] + packets[:60]:  # the second pass restarts at pts 0
            recorder.write(packet, clock.wall_time(packet.pts))  # type: ignore[arg-type]
        recorder.close()
    assert recorder.discontinuities == 1 and clock.discontinuities == 1
    assert len(produced) == 2
    first, second = produced[0][1], produced[1][1]
    assert second.start_at >= first.end_at
    for path, _ in produced:
        with av.open(str(path)) as output:
            assert sum(1 for _ in output.decode(video=0)) >= 40
