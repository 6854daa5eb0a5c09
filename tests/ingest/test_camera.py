"""CameraIngest on real streams: reconnect backoff, gap reasons, status errors after an outage."""

from __future__ import annotations

import subprocess
import threading
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from ingest.camera import (
    FIRST_RECORDING_GAP_REASON,
    RECONNECT_MAX_S,
    CameraConfig,
    CameraIngest,
)
from ingest.segment import Segment
from sample_streams.footage import CameraFiles
from sample_streams.server import RtspServer
from tests.servers.rtsp import sample_cache_dir
from tests.waiting import wait_for

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
REFUSED_URL = "rtsp://127.0.0.1:9/none"  # nothing listens: every connect is refused at once


@pytest.fixture(scope="module")
def one_second_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One GOP of real H.264 (10 frames): as a camera URL, a stream that ends right after
    connecting, with a keyframe, so every connection records a segment."""
    path = tmp_path_factory.mktemp("clip") / "one_second.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(VTEST), "-t", "1", "-vf", "scale=320:240",
         "-r", "10", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", str(path)],
        check=True,
    )  # fmt: skip
    return path


class SteppedClock:
    """A LoopClock on which each thread has its own time, moved on only by that thread's waits
    (the two loops of a camera are independent); each wait also sleeps 1/100 of its length for
    real, so the loops keep their relative pace without the test taking their time."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.waits: dict[str, list[float]] = defaultdict(list)  # thread name -> waits, in order

    def now_s(self) -> float:
        return float(getattr(self._local, "now_s", 0.0))

    def wait_s(self, seconds: float, stop: threading.Event) -> None:
        self._local.now_s = self.now_s() + seconds
        with self._lock:
            self.waits[threading.current_thread().name].append(seconds)
        stop.wait(seconds / 100)


def test_a_stream_that_ends_right_after_connecting_backs_off_and_its_gaps_say_why(
    one_second_clip: Path, tmp_path: Path
) -> None:
    """It used to reconnect ~2.4 times a second (the first packet reset the backoff), writing a
    gap row and a segment each time, and the gaps carried the sub stream's error."""
    clock = SteppedClock()
    segments: list[Segment] = []
    gap_reasons: list[str] = []

    def keep(path: Path, segment: Segment) -> None:
        path.unlink()
        segments.append(segment)

    def gap(_camera_id: str, _start: datetime, _end: datetime, reason: str) -> None:
        gap_reasons.append(reason)

    config = CameraConfig("flap", str(one_second_clip), sub_url=REFUSED_URL)
    ingest = CameraIngest(
        config, tmp_path, 10.0, keep, lambda _frame: None, gap, clock=clock
    )  # fmt: skip
    ingest.start()
    try:
        assert wait_for(lambda: len(clock.waits["record-flap"]) >= 10, 60)
    finally:
        ingest.stop()

    record_waits = clock.waits["record-flap"][:10]
    for attempt, wait_s in enumerate(record_waits):  # doubles from 0.5 s to the cap, jittered
        ceiling = min(RECONNECT_MAX_S, 0.5 * 2**attempt)
        assert ceiling / 2 <= wait_s <= ceiling, (attempt, record_waits)
    # Ten reconnects (each a gap row and a segment) now take >= 15.75 s, not ~4 s.
    assert sum(record_waits) >= 0.25 + 0.5 + 1.0 + 7 * 2.0
    first, *reconnected = gap_reasons  # the seconds before the first keyframe, then outages
    assert first == FIRST_RECORDING_GAP_REASON
    assert len(segments) >= 9 and len(reconnected) >= 9
    assert len(reconnected) <= len(clock.waits["record-flap"])  # one per reconnect at most
    assert set(reconnected) == {"stream ended"}  # the main stream's cause, never the sub's
    assert ingest.counters.analysis_error.startswith("cannot open stream")


@pytest.mark.integration
@pytest.mark.slow
def test_a_camera_back_online_shows_no_old_error(
    sample_cameras: list[CameraFiles], tmp_path: Path
) -> None:
    server = RtspServer(sample_cache_dir())
    urls = server.start(sample_cameras[:1])["cam1"]
    ingest = CameraIngest(
        CameraConfig("cam1", urls.main, urls.sub), tmp_path, 2.0,
        lambda path, _segment: path.unlink(), lambda _frame: None, lambda *_gap: None,
    )  # fmt: skip
    counters = ingest.counters
    try:
        ingest.start()
        assert wait_for(lambda: counters.packets > 0 and counters.frames_decoded > 0, 15)
        server.stop()
        assert wait_for(lambda: counters.record_error and counters.analysis_error, 15)
        assert "record: " in counters.last_error and "analyse: " in counters.last_error
        server.start(sample_cameras[:1])
        packets, frames = counters.packets, counters.frames_decoded
        assert wait_for(lambda: counters.packets > packets and counters.frames_decoded > frames, 15)
        assert wait_for(lambda: counters.last_error == "", 5), counters.last_error
        assert counters.state == "online"
    finally:
        ingest.stop()
        server.stop()
