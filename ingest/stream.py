"""Opening camera streams with PyAV (FFmpeg) and mapping stream time to UTC wall time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import av
import av.container

OPEN_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 10.0
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]+@")


def redact_credentials(text: str) -> str:
    """`text` with every `user:password@` of a URL inside it masked (FFmpeg errors quote URLs)."""
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


class StreamError(RuntimeError):
    """A stream could not be opened or read (unreachable, no video track, undecodable)."""


def open_input(url: str) -> av.container.InputContainer:
    """Open `url` (RTSP over TCP, or a file) and check it has a video track."""
    options = {"rtsp_transport": "tcp"} if url.startswith(("rtsp://", "rtsps://")) else {}
    try:
        container = av.open(url, options=options, timeout=(OPEN_TIMEOUT_S, READ_TIMEOUT_S))
    except (av.FFmpegError, OSError) as error:
        raise StreamError(f"cannot open stream: {redact_credentials(str(error))}") from error
    if not container.streams.video:
        container.close()
        raise StreamError("stream has no video track")
    return container


@dataclass
class WallClock:
    """Anchors the first timestamp of a stream to UTC arrival time (camera clocks are untrusted)."""

    time_base: Fraction
    first_pts: int | None = None
    anchor: datetime | None = None

    def wall_time(self, pts: int) -> datetime:
        if self.first_pts is None or self.anchor is None:
            self.first_pts = pts
            self.anchor = datetime.now(UTC)
        return self.anchor + timedelta(seconds=float((pts - self.first_pts) * self.time_base))

    def seconds(self, pts: int) -> float:
        """Seconds since the first timestamp seen."""
        if self.first_pts is None:
            self.wall_time(pts)
        return float((pts - (self.first_pts or 0)) * self.time_base)
