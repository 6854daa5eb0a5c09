"""The archive path (issue #15): decode only what analysis of a stored segment needs.

Not the live path replayed. A stored segment (the main stream, e.g. 1080p H.264 at 25 fps with
a keyframe every 2 s) is read in two passes over its bytes in memory:

1. Activity scan, bitstream first: the packets are demuxed, not decoded, and each GOP's
   (keyframe to keyframe) mean inter-frame bytes are compared with its keyframe's bytes. An
   encoder spends almost nothing on a still scene (26 of 330 793 bytes a frame on the sample's
   empty street) and a few percent of a keyframe on a moving one (5-6 % with pedestrians), so
   when every GOP is clearly still (< `quiet_bytes_ratio`) or clearly moving (≥
   `moving_bytes_ratio`) the bitstream decides, at no decode cost. Otherwise (sensor noise,
   rain: ratios in between) the keyframes are decoded (`skip_frame="NONKEY"`, ~50× cheaper than
   a full decode, see /work/shared/ARCHITECTURE.md) and each is compared, small and blurred,
   with the previous one. A GOP is *active* when it moved (bitstream), or motion was seen at its
   opening or closing keyframe (pixels), and once every `keepalive_s` of wall time anyway, so
   that objects standing still are seen now and then.
2. Active runs: the decoder seeks to the first keyframe of each run of active GOPs and decodes
   on packet by packet (P-frames need their predecessors) up to each GOP's last sample at
   `active_fps`; the rest of the GOP's packets are dropped undecoded when the stream has no
   B-frames (nothing decoded later refers to them: the next GOP opens with a keyframe), ~18 %
   of a 2 s GOP at 2.5 fps. The samples are scaled by FFmpeg (swscale AREA, in C) to the
   analysed size — the live sub-stream's 640×360 by default, so detections, tracks and zones
   are alike on both paths — and handed on as `Frame`s whose wall time is the segment's start
   plus the frame's presentation time. Samples are the first frames at or after ticks every
   1 / `active_fps` s from each run's first keyframe, so a read of a segment's tail only
   (`frames(scan, from_s)`: a neighbour's warm-up, index/reindex_boundaries.py) yields exactly
   the frames a whole read yields there. `sampled` hands each on with its decoded picture at
   the recorded resolution (`FullFrame`, converted to BGR only when asked: the re-index's plate
   reads, index/reindex_plates.py).

What does not help on H.264 Baseline (the sample cameras' x264 ultrafast, and many cameras'
main streams): `skip_frame="NONREF"` (every P-frame is a reference), `skip_loop_filter`
(deblocking is off in the stream); decoder threads add CPU per frame on a loaded machine,
and a job's units in flight already use the cores (bench/reindex_tune.py measures them).

Quiet GOPs cost one keyframe decode each and nothing else. A segment that cannot be opened,
has no keyframe or breaks while decoding raises `ArchiveError` (the caller reports and skips it).
"""

from __future__ import annotations

import bisect
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import av
import av.container
import cv2
import numpy as np

from ingest.frame import Frame


class ArchiveError(RuntimeError):
    """A stored segment that cannot be analysed: unreadable, truncated or corrupt."""


class FullFrame:
    """An analysed frame's decoded picture at the recorded (full) resolution, converted to BGR
    on first use only (a 1080p conversion costs a few ms; most frames never need it)."""

    def __init__(self, frame: av.VideoFrame) -> None:
        self._frame = frame
        self._image: np.ndarray | None = None

    @property
    def size_px(self) -> tuple[int, int]:
        """(W, H) of the recorded frame."""
        return (int(self._frame.width), int(self._frame.height))

    def image(self) -> np.ndarray:
        if self._image is None:
            self._image = self._frame.to_ndarray(format="bgr24")
        return self._image


@dataclass(frozen=True, slots=True)
class ArchiveSettings:
    """How a stored segment is sampled.

    `frame_size_px` (W, H): the analysed frame size; `active_fps`: frames analysed per second
    within active GOPs (the live path analyses 5 fps of every moving second); motion between
    keyframes counts when `changed_fraction` of the `motion_width_px`-wide blurred pixels differ
    by more than `pixel_delta`. `skip_gop_tails`: a stream without B-frames is not decoded past
    a GOP's last sample (the next keyframe needs nothing before it); `interpolation`: swscale's
    scaler for the analysed frames (AREA: 0.8 ms a 1080p frame here, the default BILINEAR 1-2 ms).
    """

    frame_size_px: tuple[int, int] = (640, 360)
    active_fps: float = 2.5
    motion_width_px: int = 160
    pixel_delta: int = 18
    changed_fraction: float = 0.002
    keepalive_s: float = 30.0
    decoder_threads: int = 1
    quiet_bytes_ratio: float = 0.002
    moving_bytes_ratio: float = 0.02
    skip_gop_tails: bool = True
    interpolation: str = "AREA"  # swscale's scaler to the analysed size

    def __post_init__(self) -> None:
        width_px, height_px = self.frame_size_px
        if width_px < 32 or height_px < 32 or width_px % 2 or height_px % 2:
            raise ValueError(f"frame_size_px must be even and ≥ 32, got {self.frame_size_px}")
        if not 0.0 < self.active_fps <= 30.0:
            raise ValueError(f"active_fps must be in (0, 30], got {self.active_fps}")
        if self.keepalive_s <= 0 or self.decoder_threads < 1:
            raise ValueError("keepalive_s must be positive and decoder_threads ≥ 1")
        if not 0.0 <= self.quiet_bytes_ratio <= self.moving_bytes_ratio:
            raise ValueError("need 0 ≤ quiet_bytes_ratio ≤ moving_bytes_ratio")


@dataclass(frozen=True, slots=True)
class KeyframeScan:
    """Pass 1: keyframe times (s from the segment start, as PTS) and which GOPs are active.

    GOP i runs from keyframe i to keyframe i + 1 (the last one to the segment's end)."""

    keyframe_pts: tuple[int, ...]
    keyframe_s: tuple[float, ...]
    active: tuple[bool, ...]

    def active_runs(self) -> list[tuple[int, int]]:
        """(first GOP, GOP after the last) of each run of consecutive active GOPs."""
        runs: list[tuple[int, int]] = []
        start: int | None = None
        for index, active in enumerate((*self.active, False)):
            if active and start is None:
                start = index
            elif not active and start is not None:
                runs.append((start, index))
                start = None
        return runs


@dataclass
class ArchiveStats:
    """What reading one segment cost: keyframes scanned, frames decoded, frames handed on."""

    keyframes: int = 0
    keyframes_decoded: int = 0  # 0 when the bitstream decided
    active_gops: int = 0
    decoded_frames: int = 0
    analysed_frames: int = field(default=0)
    skipped_packets: int = 0  # GOP tails after the last sample, never decoded


@dataclass(slots=True)
class _GopBytes:
    keyframe_pts: int
    keyframe_s: float
    key_bytes: int
    inter_bytes: int = 0
    inter_frames: int = 0

    @property
    def motion_ratio(self) -> float:
        """Mean inter-frame bytes over keyframe bytes (0 for a GOP of one frame)."""
        if not self.inter_frames:
            return 0.0
        return self.inter_bytes / self.inter_frames / max(self.key_bytes, 1)


def _run_end_s(scan: KeyframeScan, after: int) -> float:
    """Where a run ending before GOP `after` ends (s; the last GOP runs to the segment's end)."""
    return scan.keyframe_s[after] if after < len(scan.keyframe_s) else float("inf")


def _tick_after(origin_s: float, at_s: float, step_s: float) -> float:
    """The first of the ticks origin_s + k·step_s after `at_s` (a frame 1 µs short of a tick
    is on it): the next sample is the first frame at or after it."""
    return origin_s + (math.floor((at_s - origin_s) / step_s + 1e-6) + 1) * step_s


def _open(data: bytes) -> av.container.InputContainer:
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, OSError, ValueError) as error:
        raise ArchiveError(f"cannot open segment: {error}") from error
    if not container.streams.video:
        container.close()
        raise ArchiveError("segment has no video track")
    return container


class ArchiveReader:
    """Reads one stored segment (its bytes) the archive way; `frames` yields analysed frames."""

    def __init__(
        self, data: bytes, camera_id: str, start_at: datetime, settings: ArchiveSettings
    ) -> None:
        self._data = data
        self._camera_id = camera_id
        self._start_at = start_at
        self.settings = settings
        self.stats = ArchiveStats()

    def scan(self) -> KeyframeScan:
        """Pass 1: mark the active GOPs, from the bitstream when it is clear, else from the
        decoded keyframes."""
        gops = self._gop_bytes()
        pts = tuple(g.keyframe_pts for g in gops)
        seconds = tuple(g.keyframe_s for g in gops)
        ratios = [g.motion_ratio for g in gops]
        quiet, moving = self.settings.quiet_bytes_ratio, self.settings.moving_bytes_ratio
        if all(r < quiet or r >= moving for r in ratios):
            moved_gops = [r >= moving for r in ratios]
            keepalive = self._keepalives(list(seconds))
            active = [m or k for m, k in zip(moved_gops, keepalive, strict=True)]
        else:
            active = self._active_gops(list(seconds), self._keyframe_motion(len(gops)))
        self.stats.keyframes = len(gops)
        self.stats.active_gops = sum(active)
        return KeyframeScan(pts, seconds, tuple(active))

    def _gop_bytes(self) -> list[_GopBytes]:
        """Each GOP's keyframe and inter-frame bytes, from the packets alone."""
        gops: list[_GopBytes] = []
        with _open(self._data) as container:
            stream = container.streams.video[0]
            time_base = stream.time_base
            try:
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.pts is None or time_base is None:
                        continue
                    if packet.is_keyframe:
                        at_s = float(packet.pts * time_base)
                        gops.append(_GopBytes(int(packet.pts), at_s, packet.size))
                    elif gops:
                        gops[-1].inter_bytes += packet.size
                        gops[-1].inter_frames += 1
            except av.FFmpegError as error:
                raise ArchiveError(f"segment breaks after GOP {len(gops)}: {error}") from error
        if not gops:
            raise ArchiveError("segment holds no keyframe")
        return gops

    def _keyframe_motion(self, expected: int) -> list[bool]:
        """Per keyframe: did it differ from the previous one (pixels, small and blurred)?"""
        moved: list[bool] = []
        previous: np.ndarray | None = None
        with _open(self._data) as container:
            stream = container.streams.video[0]
            stream.codec_context.skip_frame = "NONKEY"
            stream.thread_type = "AUTO"
            try:
                for frame in container.decode(stream):
                    if frame.pts is None or frame.time is None:
                        continue
                    small = self._small_luma(frame)
                    moved.append(previous is not None and self._moved(previous, small))
                    previous = small
            except av.FFmpegError as error:
                raise ArchiveError(f"segment breaks at keyframe {len(moved)}: {error}") from error
        self.stats.keyframes_decoded = len(moved)
        if len(moved) != expected:
            raise ArchiveError(f"{len(moved)} of {expected} keyframes decode")
        return moved

    def frames(self, scan: KeyframeScan, from_s: float = 0.0) -> Iterator[Frame]:
        """Pass 2: the frames to analyse, at `active_fps` within the active runs, in order.

        With `from_s` (s from the segment start) only the GOPs ending after it are decoded,
        from the keyframe at or before it: a neighbour's warm-up reads a segment's tail. The
        samples are those a whole read yields (each run's sampling is in phase with its first
        keyframe), so two units reading one segment see the same frames."""
        for frame, _full in self.sampled(scan, from_s):
            yield frame

    def sampled(
        self, scan: KeyframeScan, from_s: float = 0.0
    ) -> Iterator[tuple[Frame, FullFrame]]:
        """`frames`, each with its decoded full-resolution picture (converted only if asked)."""
        runs = [run for run in scan.active_runs() if _run_end_s(scan, run[1]) > from_s]
        if not runs:
            return
        with _open(self._data) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = self.settings.decoder_threads
            # Without B-frames no packet after a GOP's last sample is needed by an earlier one.
            skip_tails = self.settings.skip_gop_tails and not stream.codec_context.has_b_frames
            for first, after in runs:
                begin = max(first, bisect.bisect_right(scan.keyframe_s, from_s + 1e-6) - 1)
                container.seek(scan.keyframe_pts[begin], backward=True, stream=stream)
                yield from self._decode_run(
                    container, stream, scan, (first, begin, after), skip_tails
                )

    def _decode_run(
        self,
        container: av.container.InputContainer,
        stream: av.VideoStream,
        scan: KeyframeScan,
        gops: tuple[int, int, int],
        skip_tails: bool,
    ) -> Iterator[tuple[Frame, FullFrame]]:
        """Decode GOPs begin..after-1 of the run first..after-1 (`gops`) packet by packet,
        sampling the first frame at or after each tick (every 1 / `active_fps` s from the run's
        first keyframe); with `skip_tails`, the packets of a GOP after its last sample are not
        decoded at all."""
        first, begin, after = gops
        origin_s, start_s = scan.keyframe_s[first], scan.keyframe_s[begin]
        end_s = _run_end_s(scan, after)
        step_s = 1.0 / self.settings.active_fps
        time_base = stream.time_base
        next_s = origin_s + math.ceil((start_s - origin_s) / step_s - 1e-6) * step_s
        gop_end_s, tail = end_s, False
        try:
            for packet in container.demux(stream):
                if packet.is_keyframe and packet.pts is not None and time_base is not None:
                    at_s = float(packet.pts * time_base)
                    if at_s >= end_s - 1e-6 and self.settings.decoder_threads == 1:
                        return  # one thread holds no frame back: the run is out
                    if at_s < end_s - 1e-6:
                        gop = bisect.bisect_right(scan.keyframe_s, at_s + 1e-6)
                        gop_end_s = scan.keyframe_s[gop] if gop < len(scan.keyframe_s) else end_s
                        tail = False
                elif tail and packet.size:
                    self.stats.skipped_packets += 1
                    continue
                for frame in stream.codec_context.decode(packet):
                    if frame.time is None:
                        continue
                    at_s = float(frame.time)
                    if at_s >= end_s:
                        return
                    self.stats.decoded_frames += 1
                    if at_s + 1e-6 < next_s or at_s < start_s - 1e-6:
                        continue
                    next_s = _tick_after(origin_s, at_s, step_s)
                    tail = skip_tails and next_s >= gop_end_s - 1e-6
                    yield self._frame(frame, at_s), FullFrame(frame)
        except av.FFmpegError as error:
            raise ArchiveError(f"segment breaks at {next_s:.2f} s: {error}") from error

    def _frame(self, frame: av.VideoFrame, at_s: float) -> Frame:
        width_px, height_px = self.settings.frame_size_px
        image = frame.reformat(
            width=width_px, height=height_px, format="bgr24",
            interpolation=self.settings.interpolation,
        )  # fmt: skip
        self.stats.analysed_frames += 1
        return Frame(
            image=image.to_ndarray(),
            camera_id=self._camera_id,
            pts_s=at_s,
            wall_time=self._start_at + timedelta(seconds=at_s),
        )

    def _small_luma(self, frame: av.VideoFrame) -> np.ndarray:
        width_px = self.settings.motion_width_px
        height_px = max(2, round(frame.height * width_px / max(frame.width, 1)))
        luma = frame.reformat(width=width_px, height=height_px, format="gray").to_ndarray()
        return cv2.GaussianBlur(luma, (5, 5), 0).astype(np.int16)

    def _moved(self, previous: np.ndarray, current: np.ndarray) -> bool:
        changed = np.count_nonzero(np.abs(current - previous) > self.settings.pixel_delta)
        return bool(changed / current.size >= self.settings.changed_fraction)

    def _active_gops(self, seconds: list[float], moved: list[bool]) -> list[bool]:
        """GOP i is active when keyframe i or i + 1 saw motion, or a keepalive falls in it."""
        keepalive = self._keepalives(seconds)
        active: list[bool] = []
        for index in range(len(seconds)):
            closing = moved[index + 1] if index + 1 < len(moved) else False
            active.append(moved[index] or closing or keepalive[index])
        return active

    def _keepalives(self, seconds: list[float]) -> list[bool]:
        """Per GOP: does a multiple of `keepalive_s` of wall time fall within it (in phase
        across segments, so a quiet camera is looked at once per `keepalive_s`)?"""
        keepalive_s = self.settings.keepalive_s
        epoch_s = self._start_at.timestamp()
        gop_s = seconds[1] - seconds[0] if len(seconds) > 1 else 2.0
        due: list[bool] = []
        for index, at_s in enumerate(seconds):
            previous_s = seconds[index - 1] if index else at_s - gop_s
            due.append((epoch_s + previous_s) // keepalive_s != (epoch_s + at_s) // keepalive_s)
        return due
