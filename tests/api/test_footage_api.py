"""Footage upload API (issue #15): resumable parts, every container and codec, start times,
bad input refused with nothing half-written, file:// refused as a live camera."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from index.catalog import create_api_key, get_camera, segments_between, upsert_camera
from index.catalog.values import CameraSpec
from index.footage_ingest import FootagePolicy
from search_api.app import API_PREFIX, create_app
from search_api.context import ApiContext
from search_api.limits import ApiLimits
from skynet.runtime import openable_cameras
from storage.objectstore import sha256_of_file
from tests.api_support import BASE_URL, empty_context
from tests.footage_support import clip, long_clip, require_encoder
from tests.waiting import wait_for

UPLOADS = f"{API_PREFIX}/footage/uploads"
PART_BYTES = 64 * 1024
START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@dataclasses.dataclass
class FootageApi:
    client: TestClient
    context: ApiContext
    keys: dict[str, str]

    def as_(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[FootageApi]:
    context = empty_context(tmp_path)
    context.footage_policy = FootagePolicy(
        work_dir=tmp_path / "footage", segment_duration_s=4.0, part_bytes=PART_BYTES
    )
    context.limits = ApiLimits(max_request_bytes=16 * 1024, max_upload_part_bytes=PART_BYTES)
    keys = {}
    with context.sessions() as session:
        for role in ("operator", "admin", "investigator", "viewer"):
            keys[role] = create_api_key(session, role, role)
        keys["operator2"] = create_api_key(session, "operator2", "operator")
        upsert_camera(session, CameraSpec("gate-1", "Gate 1", "rtsp://10.0.0.1/main"))
        session.commit()
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        client.headers["X-API-Key"] = keys["operator"]
        yield FootageApi(client, context, keys)


def start_upload(api: FootageApi, path: Path, label: str, **extra: Any) -> dict[str, Any]:
    body = {
        "filename": path.name,
        "size": path.stat().st_size,
        "sha256": sha256_of_file(path)[0],
        "camera_label": label,
        **extra,
    }
    created = api.client.post(UPLOADS, json=body)
    assert created.status_code == 201, created.text
    document: dict[str, Any] = created.json()
    return document


def send_parts(api: FootageApi, upload: dict[str, Any], path: Path, numbers: Any = None) -> None:
    data = path.read_bytes()
    part_bytes = upload["part_bytes"]
    for number in range(upload["part_count"]) if numbers is None else numbers:
        part = data[number * part_bytes : (number + 1) * part_bytes]
        sent = api.client.put(f"{UPLOADS}/{upload['id']}/parts/{number}", content=part)
        assert sent.status_code == 200, sent.text


def finish(api: FootageApi, upload_id: str) -> dict[str, Any]:
    """Complete the upload and wait until it is stored or failed."""
    completed = api.client.post(f"{UPLOADS}/{upload_id}/complete")
    assert completed.status_code == 202, completed.text

    def done() -> bool:
        return api.client.get(f"{UPLOADS}/{upload_id}").json()["state"] in {"stored", "failed"}

    assert wait_for(done, 60)
    document: dict[str, Any] = api.client.get(f"{UPLOADS}/{upload_id}").json()
    return document


def upload_file(api: FootageApi, path: Path, label: str, **extra: Any) -> dict[str, Any]:
    upload = start_upload(api, path, label, **extra)
    send_parts(api, upload, path)
    return finish(api, upload["id"])


def stored_keys(api: FootageApi, prefix: str) -> list[str]:
    return [stored.key for stored in api.context.store.list(prefix)]


def assert_nothing_written(api: FootageApi, upload: dict[str, Any]) -> None:
    camera_id = upload["camera_id"]
    with api.context.sessions() as session:
        assert get_camera(session, camera_id) is None
        assert segments_between(session, camera_id, *ALL_TIME) == []
    assert stored_keys(api, f"footage/{camera_id}/") == []  # no original
    assert stored_keys(api, f"footage/uploads/{upload['id']}/") == []  # no parts
    assert stored_keys(api, f"cameras/{camera_id}/") == []  # no segments


# Two in the quick subset (stream copy, transcode); every container and codec in the slow one.
CASES = [
    ("mp4", "h264"),
    ("mkv", "mpeg2video"),
    *(pytest.param(c, v, marks=pytest.mark.slow)
      for c, v in (("mkv", "hevc"), ("avi", "mpeg4"), ("mov", "h264"), ("ts", "h264"))),
]  # fmt: skip


@pytest.mark.parametrize(("container", "codec"), CASES)
def test_each_container_and_codec_becomes_segments_of_an_offline_camera(
    api: FootageApi, container: str, codec: str
) -> None:
    require_encoder(codec)
    path = clip(container, codec, seconds=6.0)
    label = f"Shop 7 {container} {codec}"
    result = upload_file(api, path, label, start_time=START.isoformat(), lat=31.2, lon=121.4)
    assert result["state"] == "stored", result
    camera_id = result["camera_id"]
    assert camera_id == f"shop-7-{container}-{codec}"
    assert result["probe"]["video_codec"] == codec
    assert result["report"]["transcoded"] is (codec == "mpeg2video")
    assert result["report"]["damage"] == []
    with api.context.sessions() as session:
        camera = get_camera(session, camera_id)
        segments = segments_between(session, camera_id, *ALL_TIME)
    assert camera is not None and camera.kind == "offline" and camera.main_url == ""
    assert (camera.name, camera.lat, camera.lon) == (label, 31.2, 121.4)
    assert len(segments) == result["report"]["segments"] >= 2  # 6 s in ≈ 4 s segments
    assert segments[0].start_at == START
    for earlier, later in itertools.pairwise(segments):
        assert later.start_at == earlier.end_at  # contiguous, in order
    assert abs((segments[-1].end_at - START).total_seconds() - 6.0) < 0.3
    for segment in segments:  # stored exactly as the catalog says
        assert api.context.store.stat(segment.object_key).sha256 == segment.sha256
    original = api.context.store.stat(result["report"]["original_key"])
    assert original.sha256 == sha256_of_file(path)[0]
    assert stored_keys(api, f"footage/uploads/{result['id']}/") == []  # parts cleaned up
    shown = api.client.get(f"{API_PREFIX}/cameras/{camera_id}").json()
    assert shown["kind"] == "offline" and shown["main_url"] == ""
    status = api.client.get(f"{API_PREFIX}/cameras/{camera_id}/status").json()
    assert status["state"] == "footage"
    assert openable_cameras([camera], ()) == []  # the runtime never connects to it


def test_an_interrupted_upload_resumes_with_the_missing_parts(api: FootageApi) -> None:
    path = clip("mp4", "h264", seconds=6.0, creation_time="2026-11-29T10:00:00Z")
    upload = start_upload(api, path, "Kiosk")
    assert upload["part_count"] >= 4
    send_parts(api, upload, path, numbers=[0, 2])  # ... and the connection breaks
    sha256 = sha256_of_file(path)[0]

    # a new client finds the upload by the file's hash and sees what is missing
    with TestClient(create_app(api.context), base_url=BASE_URL) as again:
        again.headers["X-API-Key"] = api.keys["operator"]
        found = again.get(UPLOADS, params={"sha256": sha256}).json()
        assert [u["id"] for u in found] == [upload["id"]]
        assert found[0]["parts_received"] == [0, 2]
        missing = found[0]["missing_parts"]
        assert missing == [n for n in range(upload["part_count"]) if n not in (0, 2)]
        early = again.post(f"{UPLOADS}/{upload['id']}/complete")
        assert early.status_code == 422 and "misses" in early.json()["detail"]
        short = again.put(f"{UPLOADS}/{upload['id']}/parts/{missing[0]}", content=b"x" * 10)
        assert short.status_code == 422 and f"must hold {PART_BYTES}" in short.json()["detail"]
        beyond = again.put(f"{UPLOADS}/{upload['id']}/parts/{upload['part_count']}", content=b"x")
        assert beyond.status_code == 422
    send_parts(api, upload, path, numbers=missing)
    result = finish(api, upload["id"])
    assert result["state"] == "stored", result
    # no start time given: the file's creation_time
    assert result["start_at"].startswith("2026-11-29T10:00:00")
    again = api.client.post(f"{UPLOADS}/{upload['id']}/complete")
    assert again.status_code == 409


def test_a_part_has_its_own_body_limit_and_others_keep_theirs(api: FootageApi) -> None:
    path = clip("mkv", "h264", seconds=6.0)
    upload = start_upload(api, path, "Limits", start_time=START.isoformat())
    part = path.read_bytes()[:PART_BYTES]  # 64 KiB: over max_request_bytes (16 KiB), allowed
    assert api.client.put(f"{UPLOADS}/{upload['id']}/parts/0", content=part).status_code == 200
    too_big = api.client.put(f"{UPLOADS}/{upload['id']}/parts/1", content=part + b"x")
    assert too_big.status_code == 413
    big_json = api.client.post(UPLOADS, json={"filename": "x" * 20_000})
    assert big_json.status_code == 413


def test_a_corrupted_part_fails_the_sha256_check_and_leaves_nothing(api: FootageApi) -> None:
    path = clip("mkv", "h264", seconds=6.0)
    upload = start_upload(api, path, "Corrupt parts", start_time=START.isoformat())
    send_parts(api, upload, path)
    flipped = bytearray(path.read_bytes()[:PART_BYTES])
    flipped[1000] ^= 0xFF
    api.client.put(f"{UPLOADS}/{upload['id']}/parts/0", content=bytes(flipped))
    result = finish(api, upload["id"])
    assert result["state"] == "failed" and "sha256 mismatch" in result["error"]
    assert_nothing_written(api, result)


def refused_on_completion(api: FootageApi, path: Path, label: str, **extra: Any) -> str:
    result = upload_file(api, path, label, **extra)
    assert result["state"] == "failed", result
    assert_nothing_written(api, result)
    error: str = result["error"]
    return error


def test_bad_files_are_refused_with_a_clear_error(api: FootageApi, tmp_path: Path) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_bytes(b"minutes of the meeting\n" * 2000)
    error = refused_on_completion(api, not_video, "Not video", start_time=START.isoformat())
    assert "not a video file" in error

    import subprocess

    audio = tmp_path / "radio.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
         "-c:a", "aac", str(audio)],
        check=True,
    )  # fmt: skip
    error = refused_on_completion(api, audio, "Radio", start_time=START.isoformat())
    assert "no video stream" in error and "audio" in error

    no_time = clip("mkv", "h264", seconds=6.0)
    error = refused_on_completion(api, no_time, "No time")
    assert "start_time" in error and "creation_time" in error

    future = clip("mkv", "h264", seconds=6.0, creation_time="2099-01-01T00:00:00Z")
    assert "in the future" in refused_on_completion(api, future, "Future file")

    y1990 = clip("mp4", "h264", seconds=6.0, creation_time="1990-01-01T00:00:00Z")
    assert "before 2000" in refused_on_completion(api, y1990, "Old clock")


def test_bad_declarations_are_refused_before_any_byte(api: FootageApi) -> None:
    body: dict[str, Any] = {"filename": "a.mp4", "size": 1000, "camera_label": "Fresh"}
    cases: dict[str, dict[str, Any]] = {
        "empty (0 bytes)": {"size": 0},
        "in the future": {"start_time": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
        "before 2000": {"start_time": "1999-12-31T23:00:00+00:00"},
        "64 hex": {"sha256": "abc"},
        "letters or digits": {"camera_label": "---"},
    }
    for expected, change in cases.items():
        refused = api.client.post(UPLOADS, json=body | change)
        assert refused.status_code == 422, (change, refused.text)
        assert expected in refused.json()["detail"]
    naive = api.client.post(UPLOADS, json=body | {"start_time": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    for label in ("Gate 1", "gate-1", "GATE-1"):  # a live camera's name or id
        clash = api.client.post(UPLOADS, json=body | {"camera_label": label})
        assert clash.status_code == 409 and "live camera 'gate-1'" in clash.json()["detail"]
    assert api.client.get(UPLOADS).json() == []


def test_truncated_files_keep_their_readable_part_or_are_refused(
    api: FootageApi, tmp_path: Path
) -> None:
    whole = clip("mkv", "h264", seconds=12.0).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole[: len(whole) // 2])
    result = upload_file(api, cut, "Cut mkv", start_time=START.isoformat())
    assert result["state"] == "stored", result
    assert any("truncated" in line for line in result["report"]["damage"]), result["report"]
    assert 3.0 <= result["report"]["footage_s"] < 10.0

    mp4 = clip("mp4", "h264", seconds=12.0).read_bytes()  # index (moov) at the end: lost
    cut_mp4 = tmp_path / "cut.mp4"
    cut_mp4.write_bytes(mp4[: len(mp4) // 2])
    error = refused_on_completion(api, cut_mp4, "Cut mp4", start_time=START.isoformat())
    assert "not a video file" in error


def test_overlapping_footage_of_one_source_is_refused(api: FootageApi) -> None:
    path = clip("ts", "h264", seconds=6.0)
    first = upload_file(api, path, "Bus 12", start_time=START.isoformat())
    assert first["state"] == "stored"
    overlapping = (START + timedelta(seconds=3)).isoformat()
    overlap = upload_file(api, path, "Bus 12", start_time=overlapping)
    assert overlap["state"] == "failed" and "overlaps" in overlap["error"]
    later = upload_file(api, path, "Bus 12", start_time=(START + timedelta(hours=1)).isoformat())
    assert later["state"] == "stored" and later["camera_id"] == first["camera_id"]
    with api.context.sessions() as session:
        stored = segments_between(session, "bus-12", *ALL_TIME)
    assert len(stored) == 2 * first["report"]["segments"]


def test_the_duration_limit_refuses_longer_files(api: FootageApi) -> None:
    assert api.context.footage_policy is not None
    api.context.footage_policy = dataclasses.replace(
        api.context.footage_policy, max_duration_s=3600.0
    )
    error = refused_on_completion(api, long_clip(2.0), "Two hours", start_time=START.isoformat())
    assert "2.0 h, over the 1 h limit" in error and "SKYNET_FOOTAGE_MAX_DURATION_S" in error


@pytest.mark.slow
def test_a_ten_hour_file_is_cut_into_segments(api: FootageApi) -> None:
    assert api.context.footage_policy is not None
    api.context.footage_policy = dataclasses.replace(
        api.context.footage_policy, segment_duration_s=600.0
    )
    result = upload_file(api, long_clip(10.0), "Ten hours", start_time=START.isoformat())
    assert result["state"] == "stored", result
    assert result["report"]["segments"] == 60
    assert abs(result["report"]["footage_s"] - 36000) < 2
    assert result["report"]["end_at"].startswith("2026-11-30T18:00")


def test_only_footage_roles_upload_and_each_sees_its_own(api: FootageApi) -> None:
    body = {"filename": "a.mp4", "size": 1000, "camera_label": "Scoped"}
    refused = api.client.post(UPLOADS, json=body, headers=api.as_("viewer"))
    assert refused.status_code == 403
    mine = api.client.post(UPLOADS, json=body).json()
    other = api.client.get(f"{UPLOADS}/{mine['id']}", headers=api.as_("operator2"))
    assert other.status_code == 404
    assert api.client.get(UPLOADS, headers=api.as_("operator2")).json() == []
    assert api.client.get(f"{UPLOADS}/{mine['id']}", headers=api.as_("admin")).status_code == 200
    part = api.client.put(f"{UPLOADS}/{mine['id']}/parts/0", content=b"x" * 1000,
                          headers=api.as_("operator2"))  # fmt: skip
    assert part.status_code == 404


def test_a_file_url_is_refused_as_a_live_camera(api: FootageApi) -> None:
    for url in ("file:///srv/clip.mp4", "FILE:///srv/clip.mp4"):
        api.context.camera_url_allow = ("file",)  # even when an admin allowed the scheme
        body = {"id": "clipcam", "name": "Clip", "main_url": url}
        refused = api.client.post(f"{API_PREFIX}/cameras", json=body)
        assert refused.status_code == 422, refused.text
        assert "skynet footage add" in refused.json()["detail"]
    plain = {"id": "clipcam", "name": "Clip", "main_url": "/srv/clip.mp4"}
    assert api.client.post(f"{API_PREFIX}/cameras", json=plain).status_code == 422
    assert api.client.get(f"{API_PREFIX}/cameras/clipcam").status_code == 404
