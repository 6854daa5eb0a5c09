"""GET /cameras/{id}/frame (issue #18 part 4) on really recorded vtest segments: the latest
frame or the one at a time, decoded from storage as a JPEG of the camera's picture; a camera
without recording is 409 naming it, a camera outside the key's cameras 404; views audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from index.catalog import AuditQuery, create_api_key, iter_audit_entries
from index.vectors import VectorIndex
from search_api.app import create_app
from search_api.context import ApiContext
from tests.api_support import query_models
from tests.evidence.footage_support import (
    FRAME_PX,
    SEGMENT_S,
    SEGMENTS,
    SIGNING_KEY,
    T0,
    RecordedCase,
    encode_segments,
    record_case,
)

pytestmark = pytest.mark.slow  # encodes two real H.264 segments with ffmpeg


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, RecordedCase, dict[str, str]]]:
    root = tmp_path_factory.mktemp("camera-frame")
    recorded = record_case(root, encode_segments(root / "segments"))
    detector, embedder = query_models()
    context = ApiContext(
        recorded.sessions, recorded.store,
        VectorIndex(embedder.dim, embedder.embedding_version), detector, embedder, 600,
        SIGNING_KEY, "http://testserver",
    )  # fmt: skip
    with recorded.sessions.begin() as session:
        keys = {
            "op": create_api_key(session, "op", "operator"),
            "cam2-only": create_api_key(session, "c2", "operator", ["cam2"]),
            "auditor": create_api_key(session, "aud", "auditor"),
        }
    with TestClient(create_app(context)) as client:
        yield client, recorded, keys


def picture(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_latest_and_timed_frames_come_from_the_recording(
    served: tuple[TestClient, RecordedCase, dict[str, str]],
) -> None:
    client, recorded, keys = served
    headers = {"X-API-Key": keys["op"]}
    latest = client.get("/api/v1/cameras/cam1/frame", headers=headers)
    assert latest.status_code == 200, latest.text
    assert latest.headers["content-type"] == "image/jpeg"
    image = picture(latest.content)
    assert (image.shape[1], image.shape[0]) == FRAME_PX
    end = T0 + timedelta(seconds=SEGMENTS * SEGMENT_S)
    assert end - timedelta(seconds=2) <= _time(latest.headers["x-frame-time"]) < end

    at = T0 + timedelta(seconds=3)
    timed = client.get("/api/v1/cameras/cam1/frame", params={"at": at.isoformat()}, headers=headers)
    assert timed.status_code == 200
    frame_time = _time(timed.headers["x-frame-time"])
    assert at <= frame_time < at + timedelta(seconds=0.2)  # 10 fps: the next frame at the latest
    assert not np.array_equal(picture(timed.content), image)  # people walked meanwhile

    early = client.get(
        "/api/v1/cameras/cam1/frame",
        params={"at": (T0 - timedelta(hours=1)).isoformat()},
        headers=headers,
    )
    assert early.status_code == 409 and "no recording" in early.json()["detail"]
    none = client.get("/api/v1/cameras/cam2/frame", headers=headers)
    assert none.status_code == 409 and "cam2" in none.json()["detail"]
    outside = client.get("/api/v1/cameras/cam1/frame", headers={"X-API-Key": keys["cam2-only"]})
    assert outside.status_code == 404
    refused = client.get("/api/v1/cameras/cam1/frame", headers={"X-API-Key": keys["auditor"]})
    assert refused.status_code == 403
    with recorded.sessions() as session:
        views = [e for e in iter_audit_entries(session, AuditQuery()) if e.action == "frame_view"]
    assert [(e.principal, e.target) for e in views] == [("op", "camera:cam1")] * 2


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)
