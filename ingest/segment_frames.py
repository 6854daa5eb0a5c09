"""Full-resolution frames of a recorded main-stream segment at wanted wall times (issue #14).

The live path never decodes the main stream; a deferred plate read decodes only what it needs
of one closed segment: the wanted times are grouped into runs no more than `RUN_GAP_S` apart,
and each run is one pass — seek to the keyframe before its first time, decode forward to the
frame nearest its last. A frame's wall time is the segment's start plus its PTS (the recorder
writes each segment from its first keyframe at PTS 0). Decoding uses one thread: the reads run
beside the live analysis, which must keep its cores.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import av
import av.container
import numpy as np

# Wanted times closer than this share one decode pass (decoding 1080p forward costs 5-9 ms a
# frame here; seeking costs at most a GOP, 2 s on the sample cameras).
RUN_GAP_S = 2.0
# A frame further than this from a wanted time is not its frame (the time fell in a hole).
MAX_OFFSET_S = 0.25


class SegmentDecodeError(RuntimeError):
    """The segment could not be opened or decoded (missing, truncated, not video)."""


@dataclass(frozen=True)
class DecodedFrame:
    """A full-resolution BGR frame and the wall time it shows."""

    image: np.ndarray
    at: datetime

    @property
    def size_px(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])


def decode_runs(wanted_s: Sequence[float], gap_s: float = RUN_GAP_S) -> list[list[int]]:
    """Indices of `wanted_s` grouped into runs (sorted by time) decoded in one pass each."""
    order = sorted(range(len(wanted_s)), key=lambda i: wanted_s[i])
    runs: list[list[int]] = []
    for i in order:
        if runs and wanted_s[i] - wanted_s[runs[-1][-1]] <= gap_s:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def segment_size_px(source: Path | bytes) -> tuple[int, int]:
    """The (W, H) of a segment's video, from its header alone (no decode)."""
    try:
        with av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "r") as c:
            if not c.streams.video:
                raise SegmentDecodeError("segment has no video track")
            context = c.streams.video[0].codec_context
            return int(context.width), int(context.height)
    except (av.FFmpegError, OSError) as error:
        raise SegmentDecodeError(f"segment not readable: {error}") from error


def frames_at(
    source: Path | bytes,
    start_at: datetime,
    wanted: Sequence[datetime],
    max_offset_s: float = MAX_OFFSET_S,
) -> list[DecodedFrame | None]:
    """For each wanted wall time, the segment's frame nearest to it (None: none within
    `max_offset_s`). `source` is the segment file or its bytes; `start_at` its start.
    SegmentDecodeError when the file cannot be opened or its stream breaks before a wanted time
    (a truncated file yields the frames before the cut and None after it)."""
    wanted_s = [(t - start_at).total_seconds() for t in wanted]
    nearest: list[_Nearest | None] = [None] * len(wanted)
    try:
        handle = av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "r")
    except (av.FFmpegError, OSError) as error:
        raise SegmentDecodeError(f"segment not readable: {error}") from error
    failure: Exception | None = None
    with handle as container:
        if not container.streams.video:
            raise SegmentDecodeError("segment has no video track")
        stream = container.streams.video[0]
        stream.thread_count = 1
        for run in decode_runs(wanted_s):
            try:
                held = _decode_run(container, stream, [wanted_s[i] for i in run], max_offset_s)
            except (av.FFmpegError, OSError) as error:
                failure = error  # a later run may still be readable (a damaged GOP)
                continue
            for i, frame in zip(run, held, strict=True):
                nearest[i] = frame
    if failure is not None and all(n is None for n in nearest):
        raise SegmentDecodeError(f"segment breaks: {failure}") from failure
    return [
        None if n is None else DecodedFrame(n.image, start_at + timedelta(seconds=n.at_s))
        for n in nearest
    ]


@dataclass(frozen=True)
class _Nearest:
    image: np.ndarray
    at_s: float


def _decode_run(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    times_s: list[float],
    max_offset_s: float,
) -> list[_Nearest | None]:
    """Seek before `times_s[0]` (sorted), decode forward past `times_s[-1]`: each time's
    nearest frame within `max_offset_s`, converted to BGR once chosen."""
    time_base = stream.time_base
    if time_base is None:
        raise SegmentDecodeError("segment stream has no time base")
    container.seek(max(0, int((times_s[0] - max_offset_s) / time_base)), stream=stream)
    best: list[tuple[float, av.VideoFrame] | None] = [None] * len(times_s)
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        at_s = float(frame.pts * time_base)
        for k, t in enumerate(times_s):
            held = best[k]
            offset = abs(at_s - t)
            if offset <= max_offset_s and (held is None or offset < abs(held[0] - t)):
                best[k] = (at_s, frame)
        if at_s > times_s[-1] + max_offset_s:
            break
    return [
        None if held is None else _Nearest(held[1].to_ndarray(format="bgr24"), held[0])
        for held in best
    ]
