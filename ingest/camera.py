"""Per-camera ingest: records the main stream into segments and samples frames for analysis."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import av
import numpy as np

from ingest.backoff import Backoff, LoopClock, MonotonicClock, ReconnectBackoff
from ingest.frame import Frame
from ingest.motion import MotionGate
from ingest.recorder import SegmentRecorder, SegmentSink
from ingest.stream import LiveWallClock, StreamError, open_input, redact_credentials

log = logging.getLogger(__name__)

FrameSink = Callable[[Frame], None]
GapSink = Callable[[str, datetime, datetime, str], None]
CameraState = Literal["connecting", "online", "reconnecting", "offline", "stopped"]
LoopName = Literal["record", "analyse"]
OFFLINE_AFTER_FAILURES = 5
RECONNECT_MAX_S = 4.0  # a camera is back within this long of its server
# A connection up this long resets the reconnect backoff (and the failure count); one that
# ends sooner counts as a failure. Longer than a connect plus the first GOP (2 s on the sample
# cameras), shorter than the 3.5 s the RTSP restart test keeps a connection between restarts.
STABLE_CONNECTION_S = 2.0
# The reason of the gap before a (re)started camera's first recording.
RESTART_GAP_REASON = "ingest was not running"
# ... and before a new camera's first keyframe (what the analysis saw there was never recorded).
FIRST_RECORDING_GAP_REASON = "recording had not started"


PLANAR_YUV = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"}
)  # pixel formats whose first plane is full-resolution luma


def luma_of(frame: av.VideoFrame) -> np.ndarray:
    """The brightness of a decoded picture: its Y plane without a copy when it has one."""
    if frame.format.name not in PLANAR_YUV:
        return frame.to_ndarray(format="gray")
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
    return rows[:, : frame.width]


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


class RateMeter:
    """Events per second over the last `window_s` seconds."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque()

    def tick(self) -> None:
        now = time.monotonic()
        self._times.append(now)
        while self._times and now - self._times[0] > self._window_s:
            self._times.popleft()

    def per_second(self) -> float:
        now = time.monotonic()
        recent = [t for t in self._times if now - t <= self._window_s]
        return len(recent) / self._window_s


@dataclass
class CameraCounters:
    """Running counts for status and metrics (each written by one of the camera's threads)."""

    state: CameraState = "connecting"
    packets: int = 0
    frames_decoded: int = 0
    frames_sampled: int = 0
    frames_gated: int = 0
    corrupt_packets: int = 0
    reconnects: int = 0
    failures_in_a_row: int = 0
    record_error: str = ""  # why the main stream's loop is down; "" while it is connected
    analysis_error: str = ""  # likewise for the analysis (sub) stream's loop
    input_rate: RateMeter = field(default_factory=RateMeter)

    @property
    def last_error(self) -> str:
        """What keeps the camera from being fully online: the error of each loop that is not
        connected now, "" once both are (a camera back online shows no old error)."""
        errors = (("record", self.record_error), ("analyse", self.analysis_error))
        return "; ".join(f"{name}: {error}" for name, error in errors if error)

    def set_error(self, loop_name: LoopName, error: str) -> None:
        if loop_name == "record":
            self.record_error = error
        else:
            self.analysis_error = error


class CameraIngest:
    """Two loops per camera, each with its own connection and reconnect backoff.

    The recorder loop remuxes the main stream into segments handed to `segment_sink` and
    reports outages to `gap_sink`; the analysis loop decodes the sub stream (or main when
    there is none), passes moving scenes (and a keep-alive frame every few seconds) at
    `detect_fps / sample_stride()` to `frame_sink` (the stride grows while analysis sheds load).
    Neither loop blocks the other, and neither ever raises.

    `recorded_until` is where the camera's recording stopped before this ingest started (its
    last segment's end, spooled or stored; None for a camera never recorded: the start): the
    first recording then reports that span as a gap, so a restart, even after kill -9, or the
    seconds before a new camera's first keyframe leave no unexplained hole. A recording gap carries
    the main stream's own failure, never the sub stream's.
    """

    def __init__(
        self,
        config: CameraConfig,
        spool_dir: Path,
        segment_duration_s: float,
        segment_sink: SegmentSink,
        frame_sink: FrameSink,
        gap_sink: GapSink,
        sample_stride: Callable[[], float] = lambda: 1.0,
        recorded_until: datetime | None = None,
        clock: LoopClock | None = None,
    ) -> None:
        self.config = config
        self.counters = CameraCounters()
        self._spool_dir = spool_dir
        self._segment_duration_s = segment_duration_s
        self._segment_sink = segment_sink
        self._frame_sink = frame_sink
        self._gap_sink = gap_sink
        self._sample_stride = sample_stride
        self._clock = clock or MonotonicClock()
        self._last_recorded_at = recorded_until
        # Cause of the recording outage in progress (its first failure); record thread only.
        self._gap_reason = RESTART_GAP_REASON if recorded_until is not None else ""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._last_recorded_at is None:  # a new camera: its recording starts at a keyframe
            self._last_recorded_at = datetime.now(UTC)
            self._gap_reason = FIRST_RECORDING_GAP_REASON
        for name, loop in (("record", self._record_once), ("analyse", self._analyse_once)):
            thread = threading.Thread(
                target=self._run,
                args=(name, loop),
                name=f"{name}-{self.config.camera_id}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()
        self.counters.state = "stopped"

    def _run(self, name: LoopName, loop: Callable[[ReconnectBackoff], None]) -> None:
        backoff = Backoff(initial_s=0.5, max_s=RECONNECT_MAX_S)
        reconnects = ReconnectBackoff(backoff, STABLE_CONNECTION_S, self._clock)
        while not self._stop.is_set():
            try:
                loop(reconnects)
                error = "stream ended"
            except (StreamError, av.FFmpegError, OSError) as failure:
                error = str(failure)
            except Exception as failure:  # a camera must never take the process down
                log.error(
                    "camera %s %s loop failed: %s",
                    self.config.camera_id,
                    name,
                    redact_credentials(repr(failure)),
                )
                error = f"internal error: {failure}"
            if self._stop.is_set():
                return
            if reconnects.stable:
                self.counters.failures_in_a_row = 0
            self._note_failure(name, error)
            self._clock.wait_s(reconnects.next_delay_s(), self._stop)

    def _note_failure(self, loop_name: LoopName, error: str) -> None:
        error = redact_credentials(error)
        counters = self.counters
        counters.set_error(loop_name, error)
        counters.reconnects += 1
        counters.failures_in_a_row += 1
        offline = counters.failures_in_a_row >= OFFLINE_AFTER_FAILURES
        counters.state = "offline" if offline else "reconnecting"
        if loop_name == "record" and not self._gap_reason:
            self._gap_reason = error
        log.warning("camera %s %s: %s", self.config.camera_id, loop_name, error)

    def _connected(self, loop_name: LoopName, reconnects: ReconnectBackoff) -> None:
        reconnects.connected()
        self.counters.set_error(loop_name, "")
        self.counters.state = "online"

    def _record_once(self, reconnects: ReconnectBackoff) -> None:
        with open_input(self.config.main_url) as container:
            stream = container.streams.video[0]
            clock = LiveWallClock(stream.time_base)  # type: ignore[arg-type]
            recorder = SegmentRecorder(
                self.config.camera_id,
                stream,
                self._spool_dir / self.config.camera_id,
                self._segment_duration_s,
                self._segment_sink,
            )
            first = True
            try:
                for packet in container.demux(stream):
                    if self._stop.is_set():
                        break
                    if packet.pts is None or packet.dts is None:
                        continue
                    if packet.is_corrupt:
                        self.counters.corrupt_packets += 1
                        continue
                    wall_time = clock.wall_time(packet.pts)
                    if first:
                        self._connected("record", reconnects)
                        first = False
                    self.counters.packets += 1
                    self.counters.input_rate.tick()
                    was_recording = recorder.recording
                    recorder.write(packet, wall_time)
                    if recorder.recording:
                        if not was_recording:  # recording resumes at this keyframe
                            self._report_gap(wall_time)
                        self._last_recorded_at = wall_time
            finally:
                recorder.close()

    def _report_gap(self, resumed_at: datetime) -> None:
        previous = self._last_recorded_at
        if previous is not None and resumed_at > previous:
            # No failure: the recorder cut at a timestamp jump and resumed at the next keyframe.
            reason = self._gap_reason or "stream timestamps jumped"
            self._gap_sink(self.config.camera_id, previous, resumed_at, reason)
        self._gap_reason = ""

    def _analyse_once(self, reconnects: ReconnectBackoff) -> None:
        with open_input(self.config.analysis_url) as container:
            stream = container.streams.video[0]
            clock = LiveWallClock(stream.time_base)  # type: ignore[arg-type]
            gate = MotionGate()
            next_sample_s = 0.0
            connected = False
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return
                if packet.is_corrupt:
                    self.counters.corrupt_packets += 1
                    continue
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    if not connected:
                        connected = True
                        self._connected("analyse", reconnects)
                    self.counters.frames_decoded += 1
                    at_s = clock.seconds(frame.pts)
                    if at_s + 1e-6 < next_sample_s:
                        continue
                    interval_s = self._sample_stride() / self.config.detect_fps  # load shedding
                    next_sample_s = max(next_sample_s + interval_s, at_s)
                    if not gate.should_analyse(luma_of(frame), at_s):
                        self.counters.frames_gated += 1
                        continue
                    self.counters.frames_sampled += 1
                    image = frame.to_ndarray(format="bgr24")  # only for frames that are analysed
                    self._frame_sink(
                        Frame(
                            image,
                            self.config.camera_id,
                            at_s,
                            clock.wall_time(frame.pts),
                            gate.last_mask,
                        )
                    )
