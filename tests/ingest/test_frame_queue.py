"""The frame queue between decoders and analysis threads, and the worker's parallel threads."""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from detect.detections import Detections
from detect.detector import TileGrid
from detect.track_record import TrackRecord
from detect.worker import AnalysisWorker
from ingest.camera import CameraConfig, CameraIngest
from ingest.frame import Frame
from ingest.frame_queue import MAX_SAMPLE_STRIDE, LatestFrames
from tests.waiting import wait_for

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _frame(camera_id: str, index: int) -> Frame:
    image = np.full((36, 64, 3), index % 256, np.uint8)
    return Frame(image, camera_id, index / 5, T0 + timedelta(seconds=index / 5))


def test_full_queue_drops_the_oldest_frame_and_counts_it() -> None:
    frames = LatestFrames(capacity=3)
    for index in range(5):
        frames.put(_frame("a" if index < 2 else "b", index))
    assert frames.dropped == {"a": 2}
    assert [f.pts_s for f in frames.get_batch(8, timeout_s=0.0)] == [0.4, 0.6, 0.8]


def test_a_claimed_camera_goes_to_no_other_consumer_until_released() -> None:
    frames = LatestFrames(capacity=16)
    for index in range(3):
        frames.put(_frame("a", index))
        frames.put(_frame("b", index))
    first = frames.get_batch(2, timeout_s=0.0)
    assert [(f.camera_id, f.pts_s) for f in first] == [("a", 0.0), ("b", 0.0)]
    assert frames.get_batch(2, timeout_s=0.05) == []  # both cameras are claimed
    frames.release(first[:1])
    second = frames.get_batch(4, timeout_s=0.0)
    assert [(f.camera_id, f.pts_s) for f in second] == [("a", 0.2), ("a", 0.4)]  # in order
    frames.release(first[1:])
    assert [f.pts_s for f in frames.get_batch(4, timeout_s=0.0)] == [0.2, 0.4]  # camera b
    assert len(frames) == 0


def test_a_waiting_consumer_wakes_when_a_camera_is_released() -> None:
    frames = LatestFrames(capacity=4)
    frames.put(_frame("a", 0))
    frames.put(_frame("a", 1))
    held = frames.get_batch(1, timeout_s=0.0)
    got: list[Frame] = []
    waiter = threading.Thread(target=lambda: got.extend(frames.get_batch(1, timeout_s=5.0)))
    waiter.start()
    frames.release(held)
    waiter.join(timeout=5.0)
    assert [f.pts_s for f in got] == [0.2]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        LatestFrames(capacity=0)


class _OverlapDetector:
    """Finds nothing; records how many calls ran at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self.most_at_once = 0

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        time.sleep(0.05)  # long enough for the other thread to start its own call
        with self._lock:
            self._running -= 1
        return [Detections.empty() for _ in images]

    def tiled(self, grid: TileGrid) -> None:
        return None  # declares no tiling capability


class _NoEmbedder:
    embedding_version = "none"

    def embed(self, crops: list[np.ndarray], class_names: list[str]) -> np.ndarray:
        return np.zeros((len(crops), 4), np.float32)


def test_two_analysis_threads_detect_at_once_and_analyse_every_frame() -> None:
    frames = LatestFrames(capacity=64)
    detector = _OverlapDetector()
    records: list[TrackRecord] = []
    worker = AnalysisWorker(frames, detector, _NoEmbedder(), records.extend, batch_size=2,
                            threads=2)  # fmt: skip
    for index in range(10):
        for camera_id in ("a", "b", "c", "d"):
            frames.put(_frame(camera_id, index))
    worker.start()
    assert wait_for(lambda: worker.frames_analysed == 40, timeout_s=20.0)
    worker.stop()
    assert detector.most_at_once == 2
    assert set(worker.lag_s) == {"a", "b", "c", "d"}
    assert frames.dropped == {}


def test_worker_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="threads"):
        AnalysisWorker(LatestFrames(4), _OverlapDetector(), _NoEmbedder(), print, threads=0)


class _SteppedClock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def test_drops_widen_the_sample_stride_and_quiet_windows_narrow_it() -> None:
    clock = _SteppedClock()
    frames = LatestFrames(capacity=2, shed_window_s=1.0, clock=clock)
    for index in range(41):  # nobody consumes: most frames are dropped; windows end at 1, 2, 3, 4 s
        clock.now_s = index * 0.1
        frames.put(_frame("a", index))
    assert frames.sample_stride == pytest.approx(1.5**4)  # each window widens by at most 1.5
    assert frames.sample_stride <= MAX_SAMPLE_STRIDE
    frames.release(frames.get_batch(8, timeout_s=0.0))  # drained: the next puts drop nothing
    strides = []
    for index in range(41, 81):  # consumed as they come: each window narrows the stride
        clock.now_s = index * 0.1
        frames.put(_frame("a", index))
        frames.release(frames.get_batch(4, timeout_s=0.0))
        strides.append(frames.sample_stride)
    assert strides == sorted(strides, reverse=True)
    assert sorted(set(strides), reverse=True) == pytest.approx(
        [1.5**4, 1.5**4 * 0.6, 1.5**4 * 0.6**2, 1.5**4 * 0.6**3, 1.0]
    )
    assert frames.dropped == {"a": 39}


def test_a_camera_samples_detect_fps_divided_by_the_stride(sample_cameras) -> None:
    """The analysis loop of a real camera (the sample sub stream, read as a file) takes
    5 of every 25 decoded frames, and half as many while the stride is 2."""
    path = str(sample_cameras[0].sub_path)

    def sampled_share(stride: float) -> float:
        """(sampled + gated) / decoded frames over the first 500 decoded."""
        sampled: list[Frame] = []
        ingest = CameraIngest(
            CameraConfig(f"stride-{stride:g}", main_url=path, sub_url=path),
            spool_dir=Path(tempfile.mkdtemp(prefix="stride-")),
            segment_duration_s=10.0,
            segment_sink=lambda path, segment: path.unlink(),
            frame_sink=sampled.append,
            gap_sink=lambda *args: None,
            sample_stride=lambda: stride,
        )
        ingest.start()
        assert wait_for(lambda: ingest.counters.frames_decoded >= 500, timeout_s=60)
        ingest.stop()
        counters = ingest.counters
        return (counters.frames_sampled + counters.frames_gated) / counters.frames_decoded

    assert sampled_share(1.0) == pytest.approx(1 / 5, rel=0.1)
    assert sampled_share(2.0) == pytest.approx(1 / 10, rel=0.1)


class _OnePerson:
    """Sees one person in the middle of every frame."""

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        box = np.array([[20, 5, 40, 30]], np.float32)
        return [
            Detections(box, np.array([0.9], np.float32), np.array([0], np.int64)) for _ in images
        ]

    def tiled(self, grid: TileGrid) -> None:
        return None  # declares no tiling capability


def test_quiet_means_no_frame_offered_not_no_frame_analysed() -> None:
    """An overloaded camera (frames offered, none analysed lately) keeps its tracks; a camera
    that offers nothing for twice the track age has them finished."""
    frames = LatestFrames(capacity=4)
    records: list[TrackRecord] = []
    worker = AnalysisWorker(frames, _OnePerson(), _NoEmbedder(), records.extend,
                            track_max_age_s=0.25)  # fmt: skip
    worker.process([_frame("a", index) for index in range(3)])  # one open track
    time.sleep(0.6)  # longer than 2 x 0.25 s since camera a's last analysed frame
    frames.put(_frame("a", 3))  # ... but it just offered one, still waiting in the queue
    worker.end_quiet_cameras()
    assert records == []
    time.sleep(0.6)
    worker.end_quiet_cameras()
    assert [r.camera_id for r in records] == ["a"]
