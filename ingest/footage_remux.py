"""Cutting a probed footage file into ≈ segment_duration_s MP4 segments, time-stamped from the
footage's start time, exactly like a live camera's recorded segments (issue #15).

H.264, H.265 and MPEG-4 Part 2 are stream-copied (no decode, no quality loss; cuts fall on the
first keyframe after each `segment_duration_s`); other codecs are transcoded to H.264 with a
keyframe forced at every cut. Only the first video stream is kept (live segments carry no
audio either). What ffmpeg could not read (a truncated or damaged file) is reported as damage
and the decodable part kept; a cut segment ffprobe cannot read back is skipped and reported.
"""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import ffmpeg

from ingest.footage_probe import FootageFileError, FootageProbe, probe_footage
from ingest.segment import Segment, footage_segment_key
from storage.objectstore import sha256_of_file

MAX_DAMAGE_LINES = 10
# The file is reported truncated when its segments end this much before the duration its
# header states (a few frames' slack: headers round, and the last GOP may be cut short).
TRUNCATION_SLACK_S = 2.0
SEGMENT_LIST = "segments.csv"


@dataclass(frozen=True)
class CutFootage:
    """The segment files cut from one footage file (oldest first), with what was damaged."""

    segments: tuple[tuple[Path, Segment], ...]
    damage: tuple[str, ...]
    transcoded: bool

    @property
    def covered_s(self) -> float:
        return sum(segment.duration_s for _path, segment in self.segments)


def cut_command(
    source: Path, probe: FootageProbe, out_dir: Path, segment_duration_s: float
) -> list[str]:
    """The ffmpeg command line that writes `out_dir/NNNNNN.mp4` and `out_dir/segments.csv`."""
    video = ffmpeg.input(str(source), fflags="+genpts")["v:0"]
    options: dict[str, Any] = {
        "an": None, "sn": None, "dn": None,
        "f": "segment", "segment_time": f"{segment_duration_s:g}", "segment_format": "mp4",
        "segment_format_options": "movflags=+faststart", "reset_timestamps": 1,
        "segment_list": str(out_dir / SEGMENT_LIST), "segment_list_type": "csv",
    }  # fmt: skip
    if probe.stream_copy:
        options["vcodec"] = "copy"
        if probe.video_codec == "mpeg4":
            options["bsf:v"] = "mpeg4_unpack_bframes"
        if probe.video_codec == "hevc":
            options["tag:v"] = "hvc1"  # the tag browsers and QuickTime play
    else:
        options.update(
            vcodec="libx264", preset="veryfast", crf=23, pix_fmt="yuv420p",
            force_key_frames=f"expr:gte(t,n_forced*{segment_duration_s:g})",
        )  # fmt: skip
    output = ffmpeg.output(video, str(out_dir / "%06d.mp4"), **options)
    command: list[str] = output.global_args("-nostdin", "-v", "error").compile()
    return command


def cut_footage(
    source: Path,
    probe: FootageProbe,
    out_dir: Path,
    camera_id: str,
    upload_id: str,
    start_at: datetime,
    segment_duration_s: float,
    timeout_s: float | None = None,
) -> CutFootage:
    """Cut `source` into segment files under `out_dir` (made empty first by the caller), keyed
    as upload `upload_id`'s segments.

    Raises FootageFileError when nothing decodable comes out; subprocess.TimeoutExpired past
    `timeout_s`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    command = cut_command(source, probe, out_dir, segment_duration_s)
    finished = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    errors = [
        line.strip()
        for line in finished.stderr.decode("utf-8", "replace").splitlines()
        if line.strip()
    ]
    damage = [f"ffmpeg: {line}" for line in errors[:MAX_DAMAGE_LINES]]
    if len(errors) > MAX_DAMAGE_LINES:
        damage.append(f"ffmpeg: … {len(errors) - MAX_DAMAGE_LINES} more errors")
    segments: list[tuple[Path, Segment]] = []
    listed = _segment_list(out_dir / SEGMENT_LIST)
    for index, (name, offset_s, end_s) in enumerate(listed):
        path = out_dir / name
        # A segment lasts until the next one starts (as a live segment ends at the next cut);
        # the muxer's own end is the last frame's, short of a reordered (B-frame) stream's.
        if index + 1 < len(listed):
            end_s = max(end_s, listed[index + 1][1])
        span_s = end_s - offset_s
        if span_s <= 0 or not _readable(path):
            damage.append(f"segment at {offset_s:.1f} s ({span_s:.1f} s) unreadable: skipped")
            path.unlink(missing_ok=True)
            continue
        begin = start_at + timedelta(seconds=offset_s)
        sha256, size_bytes = sha256_of_file(path)
        segment = Segment(
            camera_id, begin, begin + timedelta(seconds=span_s),
            footage_segment_key(camera_id, begin, upload_id), sha256, size_bytes,
        )  # fmt: skip
        segments.append((path, segment))
    if not segments:
        tail = "; ".join(errors[-3:]) or "no video packets"
        raise FootageFileError(f"no decodable video in the file: {tail}")
    cut = CutFootage(tuple(segments), tuple(damage), transcoded=not probe.stream_copy)
    if probe.duration_s is not None and cut.covered_s < probe.duration_s - TRUNCATION_SLACK_S:
        damage.append(
            f"truncated or damaged: {cut.covered_s:.1f} s of the {probe.duration_s:.1f} s the "
            "file's header states could be read; the readable part was kept"
        )
        cut = CutFootage(cut.segments, tuple(damage), cut.transcoded)
    return cut


def _segment_list(path: Path) -> list[tuple[str, float, float]]:
    """(file name, start s, end s) per written segment, from the segment muxer's CSV list
    (times count from the file's first timestamp)."""
    if not path.exists():
        return []
    with path.open(newline="") as stream:
        return [(row[0], float(row[1]), float(row[2])) for row in csv.reader(stream) if row]


def _readable(path: Path) -> bool:
    try:
        probe = probe_footage(path)
    except (FootageFileError, OSError):
        return False
    return probe.duration_s is None or probe.duration_s > 0
