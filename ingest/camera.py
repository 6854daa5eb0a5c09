"""Per-camera ingest: records the main stream into segments and samples frames for analysis."""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from ingest.frame import Frame
from ingest.recorder import SegmentRecorder, SegmentSink
from ingest.stream import StreamError, WallClock, open_input

log = logging.getLogger(__name__)

FrameSink = Callable[[Frame], None]


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """What ingest needs to know about one camera (credentials stay inside the URLs)."""

    camera_id: str
    main_url: str
    sub_url: str | None = None
    detect_fps: float = 5.0

    @property
    def analysis_url(self) -> str:
        return self.sub_url or self.main_url


@dataclass
class CameraCounters:
    """Running counts for status and metrics (written by the camera's threads only)."""

    packets: int = 0
    frames_decoded: int = 0
    frames_sampled: int = 0
    corrupt_packets: int = 0
    reconnects: int = 0
    last_error: str = ""


class Backoff:
    """Exponential backoff with full jitter, reset after a successful connection."""

    def __init__(self, initial_s: float = 0.5, max_s: float = 30.0) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._attempt = 0

    def next_delay_s(self) -> float:
        ceiling = min(self._max_s, self._initial_s * 2**self._attempt)
        self._attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0


class CameraIngest:
    """Two loops per camera, each with its own connection and reconnect backoff.

    The recorder loop remuxes the main stream into segments handed to `segment_sink`; the
    analysis loop decodes the sub stream (or main when there is none) and passes one frame per
    `1 / detect_fps` seconds of stream time to `frame_sink`. Neither loop ever blocks the other.
    """

    def __init__(
        self,
        config: CameraConfig,
        spool_dir: Path,
        segment_duration_s: float,
        segment_sink: SegmentSink,
        frame_sink: FrameSink,
    ) -> None:
        self.config = config
        self.counters = CameraCounters()
        self._spool_dir = spool_dir
        self._segment_duration_s = segment_duration_s
        self._segment_sink = segment_sink
        self._frame_sink = frame_sink
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for name, loop in (("record", self._record_once), ("analyse", self._analyse_once)):
            thread = threading.Thread(
                target=self._run, args=(loop,), name=f"{name}-{self.config.camera_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()

    def _run(self, loop: Callable[[Backoff], None]) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                loop(backoff)
            except (StreamError, av.FFmpegError, OSError) as error:
                self.counters.last_error = str(error)
                log.warning("camera %s: %s", self.config.camera_id, error)
            if self._stop.is_set():
                return
            self.counters.reconnects += 1
            self._stop.wait(backoff.next_delay_s())

    def _record_once(self, backoff: Backoff) -> None:
        with open_input(self.config.main_url) as container:
            stream = container.streams.video[0]
            clock = WallClock(stream.time_base)  # type: ignore[arg-type]
            recorder = SegmentRecorder(
                self.config.camera_id,
                stream,
                self._spool_dir / self.config.camera_id,
                self._segment_duration_s,
                self._segment_sink,
            )
            try:
                for packet in container.demux(stream):
                    if self._stop.is_set():
                        break
                    if packet.pts is None:
                        continue
                    if packet.is_corrupt:
                        self.counters.corrupt_packets += 1
                        continue
                    backoff.reset()
                    self.counters.packets += 1
                    recorder.write(packet, clock.wall_time(packet.pts))
            finally:
                recorder.close()

    def _analyse_once(self, backoff: Backoff) -> None:
        with open_input(self.config.analysis_url) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            clock = WallClock(stream.time_base)  # type: ignore[arg-type]
            interval_s = 1.0 / self.config.detect_fps
            next_sample_s = 0.0
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return
                if packet.is_corrupt:
                    self.counters.corrupt_packets += 1
                    continue
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    backoff.reset()
                    self.counters.frames_decoded += 1
                    at_s = clock.seconds(frame.pts)
                    if at_s + 1e-6 < next_sample_s:
                        continue
                    next_sample_s = max(next_sample_s + interval_s, at_s)
                    self.counters.frames_sampled += 1
                    self._frame_sink(
                        Frame(
                            image=frame.to_ndarray(format="bgr24"),
                            camera_id=self.config.camera_id,
                            pts_s=at_s,
                            wall_time=clock.wall_time(frame.pts),
                        )
                    )


class LatestFrames:
    """A bounded frame queue shared by all cameras: when full, the oldest frame is dropped."""

    def __init__(self, capacity: int) -> None:
        self._queue: queue.Queue[Frame] = queue.Queue(maxsize=capacity)
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        while True:
            try:
                self._queue.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def get_batch(self, max_size: int, timeout_s: float) -> list[Frame]:
        """Up to `max_size` frames; waits at most `timeout_s` for the first one."""
        try:
            batch = [self._queue.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        while len(batch) < max_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch
