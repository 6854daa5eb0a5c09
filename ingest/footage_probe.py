"""Probing an uploaded footage file with ffprobe (ffmpeg-python): what it holds, and whether it
can become recorded segments at all (issue #15)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ffmpeg

# Codecs an MP4 segment carries as they are (stream copy, no re-encode); anything else is
# transcoded to H.264. MPEG-4 Part 2 from AVI may pack B-frames (DivX): unpacked on the way.
STREAM_COPY_CODECS = frozenset({"h264", "hevc", "mpeg4"})
PROBE_TIMEOUT_S = 60.0
_ERROR_TAIL_CHARS = 300


class FootageFileError(ValueError):
    """The file cannot become footage: empty, not video, no video stream, unreadable."""


@dataclass(frozen=True)
class FootageProbe:
    """What ffprobe read from a file: container, its first video stream, duration and the
    recording time the file states (`creation_time`), if any."""

    format_name: str
    video_codec: str
    width: int
    height: int
    frame_rate: float
    duration_s: float | None
    creation_time: datetime | None
    audio_streams: int

    @property
    def stream_copy(self) -> bool:
        """True when segments can carry the video as it is (no re-encode)."""
        return self.video_codec in STREAM_COPY_CODECS

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["creation_time"] = (
            None if self.creation_time is None else self.creation_time.isoformat()
        )
        document["stream_copy"] = self.stream_copy
        return document


def probe_footage(path: Path) -> FootageProbe:
    """Probe `path`; FootageFileError (with a message for the operator) when it is empty, not
    a video file ffprobe can read, or has no video stream."""
    if path.stat().st_size == 0:
        raise FootageFileError("the file is empty (0 bytes): it holds no video")
    try:
        # `-v error`: ffprobe's stderr then holds its complaint only, not its version banner
        document = ffmpeg.probe(str(path), timeout=PROBE_TIMEOUT_S, v="error")
    except ffmpeg.Error as error:
        raise FootageFileError(
            "not a video file ffprobe can read (damaged, or another kind of file): "
            + _probe_complaint(error.stderr or b"", path)
        ) from error
    streams = document.get("streams", [])
    video = [s for s in streams if s.get("codec_type") == "video" and not _is_picture(s)]
    if not video:
        kinds = sorted({str(s.get("codec_type")) for s in streams}) or ["none"]
        raise FootageFileError(f"the file has no video stream (streams: {', '.join(kinds)})")
    stream = video[0]
    container = document.get("format", {})
    return FootageProbe(
        format_name=str(container.get("format_name", "")),
        video_codec=str(stream.get("codec_name", "")),
        width=int(stream.get("width") or 0),
        height=int(stream.get("height") or 0),
        frame_rate=_rate(stream.get("avg_frame_rate") or stream.get("r_frame_rate")),
        duration_s=_float(container.get("duration")) or _float(stream.get("duration")),
        creation_time=_creation_time(container.get("tags", {}), stream.get("tags", {})),
        audio_streams=sum(1 for s in streams if s.get("codec_type") == "audio"),
    )


def _probe_complaint(stderr: bytes, path: Path) -> str:
    """ffprobe's error lines for the operator, without the server's working path."""
    lines = stderr.decode("utf-8", "replace").splitlines()
    said = [line.strip().removeprefix(f"{path}: ") for line in lines if line.strip()]
    return "; ".join(said)[-_ERROR_TAIL_CHARS:] or "no reason given"


def _is_picture(stream: dict[str, Any]) -> bool:
    """Cover art (an attached picture) is a 'video' stream of one frame: not footage."""
    return bool(stream.get("disposition", {}).get("attached_pic"))


def _float(value: object) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if number == number and number >= 0 else None  # NaN and negatives: unknown


def _rate(value: object) -> float:
    numerator, _, denominator = str(value or "0/1").partition("/")
    try:
        rate = float(numerator) / float(denominator or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return rate


def _creation_time(*tag_sets: dict[str, Any]) -> datetime | None:
    """The first `creation_time` tag as aware UTC (ISO 8601; naive means UTC, as ffmpeg
    writes it); None when absent or unreadable."""
    for tags in tag_sets:
        text = str(tags.get("creation_time") or "").strip()
        if not text:
            continue
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return None
