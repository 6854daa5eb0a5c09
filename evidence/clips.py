"""Cutting export clips from recorded segments with ffmpeg (ffmpeg-python).

Two cuts, for two purposes:

- `cut_original`: stream copy (no re-encode, the recorded bits unchanged) through the concat
  demuxer with an in-point in the first segment and an out-point in the last. A copy can only
  start on a keyframe, so it starts at the keyframe at or before the moment (at most one GOP,
  2 s for the project's cameras, early): the cut the recording allows.
- `redacted_frames` + `ClipEncoder`: frame-exact decode of each segment's part (input seek,
  decoded and discarded up to the moment) into BGR frames with their wall-clock times, and an
  H.264 re-encode of the redacted frames — a re-encode is what blurring needs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg
import numpy as np


class ClipError(RuntimeError):
    """ffmpeg could not read or write a clip (message carries ffmpeg's last lines)."""


@dataclass(frozen=True)
class SegmentFile:
    """A recorded segment fetched to local disk, with the wall-clock span it holds."""

    path: Path
    start_at: datetime
    end_at: datetime


@dataclass(frozen=True)
class VideoInfo:
    width_px: int
    height_px: int
    fps: float


def probe_video(path: Path) -> VideoInfo:
    """Size and frame rate of the first video stream of `path`."""
    try:
        info: dict[str, Any] = ffmpeg.probe(str(path), select_streams="v:0")
    except ffmpeg.Error as error:
        raise ClipError(f"ffprobe {path}: {_tail(error.stderr)}") from error
    streams = info.get("streams") or []
    if not streams:
        raise ClipError(f"{path} has no video stream")
    stream = streams[0]
    fps = float(Fraction(stream.get("avg_frame_rate") or stream.get("r_frame_rate") or "0/1"))
    if fps <= 0:
        fps = float(Fraction(stream.get("r_frame_rate") or "25/1"))
    return VideoInfo(int(stream["width"]), int(stream["height"]), fps)


def _tail(stderr: bytes | None, lines: int = 5) -> str:
    text = (stderr or b"").decode(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "no message"


def _parts(
    segments: list[SegmentFile], start_at: datetime, end_at: datetime
) -> Iterator[tuple[SegmentFile, float, float]]:
    """(segment, offset_s, duration_s) of each segment's share of [start_at, end_at)."""
    for segment in segments:
        part_start = max(start_at, segment.start_at)
        part_end = min(end_at, segment.end_at)
        if part_end > part_start:
            offset_s = (part_start - segment.start_at).total_seconds()
            yield segment, offset_s, (part_end - part_start).total_seconds()


def cut_original(
    segments: list[SegmentFile], start_at: datetime, end_at: datetime, out_path: Path
) -> None:
    """Stream-copy [start_at, end_at) of the segments (oldest first) into `out_path` (MP4)."""
    parts = list(_parts(segments, start_at, end_at))
    if not parts:
        raise ClipError(f"no segment covers {start_at.isoformat()} - {end_at.isoformat()}")
    listing = out_path.with_suffix(".concat.txt")
    lines = ["ffconcat version 1.0"]
    for segment, offset_s, duration_s in parts:
        lines += [
            f"file '{segment.path.resolve()}'",
            f"inpoint {offset_s:.3f}",
            f"outpoint {offset_s + duration_s:.3f}",
        ]
    listing.write_text("\n".join(lines) + "\n")
    try:
        (
            ffmpeg.input(str(listing), format="concat", safe=0)
            .output(str(out_path), c="copy", movflags="+faststart", an=None)
            .overwrite_output()
            .run(capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as error:
        raise ClipError(f"stream copy to {out_path.name}: {_tail(error.stderr)}") from error
    finally:
        listing.unlink(missing_ok=True)


def redacted_frames(
    segments: list[SegmentFile], start_at: datetime, end_at: datetime, size: VideoInfo
) -> Iterator[tuple[datetime, np.ndarray]]:
    """Every frame of [start_at, end_at) as (wall-clock time, BGR array of `size`), decoded
    frame-exactly from each segment in turn."""
    frame_bytes = size.width_px * size.height_px * 3
    for segment, offset_s, duration_s in _parts(segments, start_at, end_at):
        process = (
            ffmpeg.input(str(segment.path), ss=f"{offset_s:.3f}", t=f"{duration_s:.3f}")
            .output("pipe:", format="rawvideo", pix_fmt="bgr24", an=None,
                    s=f"{size.width_px}x{size.height_px}", fps_mode="passthrough")
            .global_args("-loglevel", "error")  # a full stderr pipe would stall ffmpeg
            .run_async(pipe_stdout=True, pipe_stderr=True)
        )  # fmt: skip
        assert process.stdout is not None
        part_start = segment.start_at + timedelta(seconds=offset_s)
        index = 0
        try:
            while chunk := process.stdout.read(frame_bytes):
                if len(chunk) < frame_bytes:
                    break
                image = np.frombuffer(chunk, np.uint8).reshape(size.height_px, size.width_px, 3)
                yield part_start + timedelta(seconds=index / size.fps), image.copy()
                index += 1
        finally:
            process.stdout.close()
            stderr = process.stderr.read() if process.stderr else b""
            code = process.wait()
        if code != 0:
            raise ClipError(f"decoding {segment.path.name}: {_tail(stderr)}")


class ClipEncoder:
    """Writes BGR frames to an H.264 MP4 (yuv420p, CRF 20, faststart) through ffmpeg's stdin."""

    def __init__(self, out_path: Path, size: VideoInfo) -> None:
        self.out_path = out_path
        self.frames = 0
        self._process: subprocess.Popen[bytes] = (
            ffmpeg.input("pipe:", format="rawvideo", pix_fmt="bgr24",
                         s=f"{size.width_px}x{size.height_px}", framerate=size.fps)
            .output(str(out_path), vcodec="libx264", pix_fmt="yuv420p", crf=20,
                    preset="veryfast", movflags="+faststart")
            .global_args("-loglevel", "error")  # a full stderr pipe would stall ffmpeg
            .overwrite_output()
            .run_async(pipe_stdin=True, pipe_stderr=True)
        )  # fmt: skip

    def write(self, frame: np.ndarray) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        self.frames += 1

    def close(self) -> None:
        """Finish the file; ClipError when ffmpeg failed or no frame was written."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        stderr = self._process.stderr.read() if self._process.stderr else b""
        if self._process.wait() != 0:
            raise ClipError(f"encoding {self.out_path.name}: {_tail(stderr)}")
        if self.frames == 0:
            raise ClipError(f"{self.out_path.name}: no frame of the recording fell in the span")
