"""Playback across segments (issue #18): the clip link's signature opens one MP4 stream-copied
over every segment a sighting covers, with where the sighting begins in it; audited once."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import av
import pytest
from fastapi.testclient import TestClient

from index.catalog import (
    CameraSpec,
    Principal,
    add_segment,
    audit_entries,
    create_api_key,
    upsert_camera,
)
from ingest.segment import Segment, segment_key
from search_api.app import create_app
from search_api.context import ApiContext
from search_api.links import clip_url
from search_api.tokens import authenticate
from tests.api_support import BASE_URL, empty_context

CAMERA = "cam-play"
Env = tuple[TestClient, ApiContext, Principal]
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FPS = 25


def recorded_segments(work: Path) -> list[Path]:
    """Three 10 s H.264 segments (a keyframe every 2 s), cut like the recorder cuts them."""
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size=320x240:rate={FPS}",
         "-t", "30", "-c:v", "libx264", "-g", str(2 * FPS), "-pix_fmt", "yuv420p", "-f",
         "segment", "-segment_time", "10", "-reset_timestamps", "1", str(work / "seg%d.mp4")],
        check=True,
    )  # fmt: skip
    return sorted(work.glob("seg*.mp4"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("playback")
    context = empty_context(root)
    with context.sessions() as session:
        upsert_camera(session, CameraSpec(CAMERA, CAMERA, "rtsp://10.0.0.9/main"))
        for index, path in enumerate(recorded_segments(root)):
            data = path.read_bytes()
            start = T0 + timedelta(seconds=10 * index)
            key = segment_key(CAMERA, start)
            context.store.put_bytes(key, data, "video/mp4")
            add_segment(
                session,
                Segment(CAMERA, start, start + timedelta(seconds=10), key,
                        hashlib.sha256(data).hexdigest(), len(data)),
            )  # fmt: skip
        api_key = create_api_key(session, "player", "investigator", None)
        session.commit()
        principal = authenticate(session, context.accounts, api_key)
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        yield client, context, principal


def video_url(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}/video.mp4?{parts.query}"


def test_a_sighting_over_three_segments_plays_as_one_video_from_its_first_moment(env: Env) -> None:
    client, context, principal = env
    start, end = T0 + timedelta(seconds=5.3), T0 + timedelta(seconds=25)
    reply = client.get(video_url(clip_url(context, principal, CAMERA, start, end)))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "video/mp4"
    # the copy starts on the keyframe at or before the 2 s pre-roll (3.3 s → the one at 2 s)
    assert reply.headers["x-clip-start"] == (T0 + timedelta(seconds=2)).isoformat()
    assert float(reply.headers["x-clip-seek-s"]) == pytest.approx(3.3, abs=0.01)
    assert float(reply.headers["x-clip-fps"]) == pytest.approx(FPS, abs=0.2)
    with av.open(io.BytesIO(reply.content), mode="r") as container:
        frames = len(list(container.decode(video=0)))
        duration_s = (container.duration or 0) / 1e6
    assert duration_s == pytest.approx(25.0, abs=0.1)  # 2 s … 27 s: past the first segment
    assert abs(frames - 25 * FPS) <= 2
    with context.sessions() as session:
        plays = [e for e in audit_entries(session, principal="player") if e.action == "clip_play"]
    assert len(plays) == 1 and len(plays[0].filters["segments"]) == 3


def test_byte_ranges_are_served_and_only_the_first_request_is_audited(env: Env) -> None:
    client, context, principal = env
    link = video_url(clip_url(context, principal, CAMERA, T0, T0 + timedelta(seconds=3)))
    with context.sessions() as session:
        before = len(audit_entries(session, principal="player"))
    partial = client.get(link, headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206 and len(partial.content) == 100
    with context.sessions() as session:
        assert len(audit_entries(session, principal="player")) == before


def test_forged_long_and_unrecorded_spans_are_refused(env: Env) -> None:
    client, context, principal = env
    link = video_url(clip_url(context, principal, CAMERA, T0, T0 + timedelta(seconds=3)))
    assert client.get(re.sub(r"sig=[^&]+", "sig=abc", link)).status_code == 403
    long = clip_url(context, principal, CAMERA, T0, T0 + timedelta(minutes=20))
    assert client.get(video_url(long)).status_code == 422
    later = T0 + timedelta(hours=2)
    gone = clip_url(context, principal, CAMERA, later, later + timedelta(seconds=5))
    reply = client.get(video_url(gone))
    assert reply.status_code == 404 and "no recording" in reply.json()["detail"]
