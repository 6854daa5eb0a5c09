"""Opening camera streams with PyAV (FFmpeg) and mapping stream time to UTC wall time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import av
import av.container

OPEN_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 10.0  # also FFmpeg's RTSP socket timeout (connect, every read)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]+@")


def redact_credentials(text: str) -> str:
    """`text` with every `user:password@` of a URL inside it masked (FFmpeg errors quote URLs)."""
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


class StreamError(RuntimeError):
    """A stream could not be opened or read (unreachable, no video track, undecodable)."""


def open_input(url: str) -> av.container.InputContainer:
    """Open `url` (RTSP over TCP, or a file) and check it has a video track.

    RTSP times out in FFmpeg's own socket layer, not through PyAV's `timeout`: PyAV's timeout
    check takes the GIL on every network read (three per RTP packet over TCP), so with dozens
    of camera threads the readers would keep interrupting the analysis threads.
    """
    try:
        if url.startswith(("rtsp://", "rtsps://")):
            socket_timeout_us = str(int(READ_TIMEOUT_S * 1_000_000))
            options = {"rtsp_transport": "tcp", "timeout": socket_timeout_us}
            container = av.open(url, options=options)
        else:
            container = av.open(url, timeout=(OPEN_TIMEOUT_S, READ_TIMEOUT_S))
    except (av.FFmpegError, OSError) as error:
        raise StreamError(f"cannot open stream: {redact_credentials(str(error))}") from error
    if not container.streams.video:
        container.close()
        raise StreamError("stream has no video track")
    return container


MAX_TIMESTAMP_JUMP_S = 10.0


class WallClock:
    """Maps stream timestamps to UTC: the first packet's arrival time plus elapsed PTS.

    Camera clocks are not trusted. A timestamp that steps back, or forward by more than
    `MAX_TIMESTAMP_JUMP_S`, re-anchors the clock at the arrival time (never earlier than
    the last time handed out), so the times of one connection never go backwards.
    """

    def __init__(self, time_base: Fraction) -> None:
        self.time_base = time_base
        self.discontinuities = 0
        self._anchor_pts: int | None = None
        self._anchor_wall = datetime.now(UTC)
        self._anchor_s = 0.0
        self._last_pts: int | None = None

    def wall_time(self, pts: int) -> datetime:
        self._observe(pts)
        return self._anchor_wall + timedelta(seconds=self._elapsed_s(pts))

    def seconds(self, pts: int) -> float:
        """Seconds of stream time since the first timestamp (monotonic across jumps)."""
        self._observe(pts)
        return self._anchor_s + self._elapsed_s(pts)

    def _elapsed_s(self, pts: int) -> float:
        return float((pts - (self._anchor_pts or 0)) * self.time_base)

    def _observe(self, pts: int) -> None:
        if self._anchor_pts is None or self._last_pts is None:
            self._anchor_pts, self._anchor_wall = pts, datetime.now(UTC)
        else:
            step_s = float((pts - self._last_pts) * self.time_base)
            if step_s < 0 or step_s > MAX_TIMESTAMP_JUMP_S:
                last_wall = self._anchor_wall + timedelta(seconds=self._elapsed_s(self._last_pts))
                self._anchor_s += self._elapsed_s(self._last_pts)
                self._anchor_pts = pts
                self._anchor_wall = max(datetime.now(UTC), last_wall)
                self.discontinuities += 1
        self._last_pts = pts


class LiveWallClock(WallClock):
    """A live camera's clock: never ahead of the real clock.

    Packets buffered before a connection is read arrive as a burst, which would otherwise put
    wall times in the future; the anchor moves back instead, so times stay monotonic.
    """

    def wall_time(self, pts: int) -> datetime:
        wall = super().wall_time(pts)
        now = datetime.now(UTC)
        if wall <= now:
            return wall
        self._anchor_wall -= wall - now
        return now
