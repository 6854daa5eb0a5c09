"""Session fixtures: sample camera files and a real GstRtspServer on 127.0.0.1 (stopped by PID).

`sample_cameras` -> list[CameraFiles]: cam1, cam2 built from the "busy" vtest footage (cached
    under var/sample_streams, or $SKYNET_SAMPLE_STREAMS_DIR); both share one pair of files,
    cam2's loop starts 38 s in (start_offset_s) so the two cameras show different moments.
`rtsp_server` -> RunningRtsp: `.server` (the started sample_streams.server.RtspServer), `.urls`
    (camera_id -> StreamUrls(main, sub), e.g. rtsp_server.urls["cam1"].sub), `.cameras`.
    Started once per session, stopped by its PIDs at session end. Mounts are live loops:
    a client gets its first RTP packet at once and its first keyframe within 2 s (GOP); read
    with PyAV options {"rtsp_transport": "tcp"}. Do not stop() it in a test; a test that needs
    restart/stop faults should start its own RtspServer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sample_streams.footage import CACHE_DIR_ENV, CameraFiles, build_cameras
from sample_streams.server import RtspServer, StreamUrls, stop_orphans

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CAMERA_COUNT = 2


def sample_cache_dir() -> Path:
    """The footage cache used by tests: $SKYNET_SAMPLE_STREAMS_DIR or <repo>/var/sample_streams."""
    return Path(os.environ.get(CACHE_DIR_ENV) or REPO_ROOT / "var" / "sample_streams")


@dataclass(frozen=True)
class RunningRtsp:
    """What the `rtsp_server` fixture yields."""

    server: RtspServer
    urls: dict[str, StreamUrls]
    cameras: list[CameraFiles]


@pytest.fixture(scope="session")
def sample_cameras() -> list[CameraFiles]:
    """Two sample cameras (cam1, cam2) on the busy footage; built once, then cached."""
    return build_cameras(SAMPLE_CAMERA_COUNT, "busy", sample_cache_dir())


@pytest.fixture(scope="session")
def rtsp_server(sample_cameras: list[CameraFiles]) -> Iterator[RunningRtsp]:
    """A started RTSP server serving every sample camera; stopped by PID at session end."""
    stop_orphans(sample_cache_dir())  # leftovers of a killed earlier run
    server = RtspServer(sample_cache_dir())
    urls = server.start(sample_cameras)
    try:
        yield RunningRtsp(server, urls, sample_cameras)
    finally:
        server.stop()
