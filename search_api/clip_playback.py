"""Playback of a sighting across every recorded segment it covers (issue #18): the segments
are fetched from object storage and stream-copied into one MP4 (evidence/clips.py's cut, no
re-encode) from the keyframe at or before a short pre-roll to a short post-roll, and the reply
says where in it the sighting begins, so a player can seek there."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import av

from evidence.clips import ClipError, SegmentFile, cut_original, probe_video
from ingest.segment import Segment
from search_api.errors import InvalidInput, NotFound
from storage.objectstore import ObjectStore

PREROLL = timedelta(seconds=2)
POSTROLL = timedelta(seconds=2)
MAX_SPAN = timedelta(minutes=15)  # a longer sighting is an export, not a playback


@dataclass(frozen=True)
class Playback:
    """A built clip: the MP4 file, the wall-clock time of its first frame, where the sighting
    begins in it (seconds), its frame rate, and the segments it was cut from."""

    path: Path
    starts_at: datetime
    seek_s: float
    fps: float
    segment_keys: tuple[str, ...]


def playback_window(start_at: datetime, end_at: datetime) -> tuple[datetime, datetime]:
    """The recorded span to cut for a sighting: with pre- and post-roll; InvalidInput when the
    sighting is longer than MAX_SPAN or ends before it starts."""
    if end_at < start_at:
        raise InvalidInput("end_ms: before start_ms")
    if end_at - start_at > MAX_SPAN:
        raise InvalidInput(f"the span is over {int(MAX_SPAN.total_seconds())} s: export it instead")
    return start_at - PREROLL, end_at + POSTROLL


def keyframe_at_or_before(path: Path, offset_s: float) -> float:
    """Seconds into `path` (from its first shown frame) of the last keyframe at or before
    `offset_s` (0 without one)."""
    found = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first_pts = stream.start_time or 0
        for packet in container.demux(stream):
            if packet.pts is None or packet.time_base is None:
                continue
            at = float((packet.pts - first_pts) * packet.time_base)
            if at > offset_s + 1e-3:
                break
            if packet.is_keyframe:
                found = at
    return found


def build_playback(
    store: ObjectStore,
    segments: list[Segment],
    sighting_at: datetime,
    window: tuple[datetime, datetime],
    work_dir: Path,
) -> Playback:
    """Fetch `segments` (oldest first) into `work_dir` and cut `window` of them into one MP4;
    NotFound when none covers the window."""
    cut_start, cut_end = window
    files = []
    for index, segment in enumerate(segments):
        path = work_dir / f"part{index:04d}.mp4"
        path.write_bytes(store.get(segment.object_key))
        files.append(SegmentFile(path, segment.start_at, segment.end_at))
    covered = [f for f in files if f.end_at > cut_start and f.start_at < cut_end]
    if not covered:
        raise NotFound("no recording covers this sighting")
    first = covered[0]
    inpoint = max(cut_start, first.start_at)
    keyframe_s = keyframe_at_or_before(first.path, (inpoint - first.start_at).total_seconds())
    starts_at = first.start_at + timedelta(seconds=keyframe_s)
    out = work_dir / "playback.mp4"
    try:
        cut_original(covered, inpoint, cut_end, out)
        fps = probe_video(out).fps
    except ClipError as error:
        raise NotFound(f"the recording could not be read: {error}") from error
    seek_s = max(0.0, (sighting_at - starts_at).total_seconds())
    keys = tuple(s.object_key for s, f in zip(segments, files, strict=True) if f in covered)
    return Playback(out, starts_at, seek_s, fps, keys)


def new_work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="skynet-playback-"))
