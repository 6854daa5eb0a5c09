"""Cameras named in free text: "N号摄像头" / "camera N" on the demo's cameras (cam1, cam2 named
"Sample camN"), the README's text examples run as a user would on them, and the 422 that names
a camera no one has."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from index.catalog import (
    CameraSpec,
    NewTrack,
    Principal,
    add_track,
    create_api_key,
    create_case,
    create_zone,
    upsert_camera,
)
from search_api.app import create_app
from search_api.errors import InvalidInput
from search_api.search_filters import resolve_camera_ref
from tests.api_support import BASE_URL, empty_context

API = "/api/v1"
README = Path(__file__).resolve().parents[2] / "README.md"
NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # 16:00 in the site zone (Asia/Shanghai)
URL = "rtsp://127.0.0.1:8554/cam/main"
ANYONE = Principal("ana", "investigator", None)


def demo_cameras(count: int = 2) -> list[CameraSpec]:
    """The cameras `skynet demo` adds (skynet/demo.py): ids cam1..camN, names "Sample camN"."""
    return [CameraSpec(f"cam{i}", f"Sample cam{i}", URL) for i in range(1, count + 1)]


def test_a_number_names_the_camera_whose_id_else_whose_name_ends_in_it() -> None:
    cameras = [
        *demo_cameras(),
        CameraSpec("gate-03", "North gate", URL),
        CameraSpec("lobby", "Lobby 4", URL),
        CameraSpec("plaza", "7号摄像头 Plaza", URL),
        CameraSpec("cam14", "Sample cam14", URL),
    ]
    resolved = {ref: resolve_camera_ref(cameras, ANYONE, ref) for ref in "12347"}
    assert resolved == {"1": "cam1", "2": "cam2", "3": "gate-03", "4": "lobby", "7": "plaza"}
    assert resolve_camera_ref(cameras, ANYONE, "14") == "cam14"  # not cam1: the whole number
    assert resolve_camera_ref(cameras, ANYONE, "lobby") == "lobby"  # an id names itself
    both = [CameraSpec("door", "Door 5", URL), CameraSpec("cam5", "Yard", URL)]
    assert resolve_camera_ref(both, ANYONE, "5") == "cam5"  # an id's number before a name's


def test_an_unknown_camera_is_refused_naming_it_and_the_callers_cameras() -> None:
    with pytest.raises(InvalidInput) as refused:
        resolve_camera_ref(demo_cameras(), ANYONE, "3")
    assert refused.value.status_code == 422
    assert refused.value.detail == (
        "text: camera '3' not found: no camera id or name ends in 3; cameras: ['cam1', 'cam2']"
    )
    scoped = Principal("desk", "investigator", frozenset({"cam2"}))
    with pytest.raises(InvalidInput, match=r"camera 'gate' not found; cameras: \['cam2'\]$"):
        resolve_camera_ref(demo_cameras(), scoped, "gate")


@dataclass
class DemoApi:
    client: TestClient
    headers: dict[str, str]
    access: dict[str, str]
    white_shirt_today: int


@pytest.fixture(scope="module")
def demo_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoApi]:
    """An API over the demo's two cameras with one white-shirted person seen on cam2 today."""
    context = empty_context(tmp_path_factory.mktemp("demo_cameras"))
    with context.sessions() as session:
        for spec in demo_cameras():
            upsert_camera(session, spec)
        seen_at = NOW - timedelta(hours=2)
        person = add_track(
            session,
            NewTrack(
                camera_id="cam2",
                local_track_id=1,
                class_name="person",
                confidence=0.9,
                start_at=seen_at,
                end_at=seen_at + timedelta(seconds=8),
                best_shot_at=seen_at,
                best_bbox_xyxy_px=(10.0, 10.0, 50.0, 130.0),
                attributes={"upper_colour": {"value": "white", "confidence": 0.9}},
            ),
        )
        create_zone(session, "cam1", "入口", [(0, 0), (1, 0), (1, 1)])
        create_zone(session, "cam1", "car park", [(0, 0), (1, 0), (1, 1)])
        key = create_api_key(session, "ana", "investigator")
        case_id = create_case(session, "Demo case", "ana")
        session.commit()
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        yield DemoApi(client, {"X-API-Key": key}, {"case_id": case_id, "purpose": "demo"}, person)


def readme_text_examples() -> list[str]:
    """The quoted examples of the README's `/search/text` bullet."""
    text = " ".join(README.read_text(encoding="utf-8").split())
    start = text.index("`/search/text` (") + len("`/search/text` (")
    examples = text[start : text.index(";", start)]
    backticked = re.findall(r"`([^`]+)`", examples)
    return re.findall(r'"([^"]+)"', re.sub(r"`[^`]*`", "", examples)) + backticked


def test_readme_text_examples_work_on_the_demo_cameras(demo_api: DemoApi) -> None:
    examples = readme_text_examples()
    assert "穿白衣服的男子 今天 2号摄像头" in examples and 'red car in zone "car park"' in examples
    for text in examples:
        response = demo_api.client.post(
            f"{API}/search/text",
            json={"text": text, "now": NOW.isoformat(), **demo_api.access},
            headers=demo_api.headers,
        )
        assert response.status_code == 200, (text, response.text)
    found = demo_api.client.post(
        f"{API}/search/text",
        json={"text": "穿白衣服的男子 今天 2号摄像头", "now": NOW.isoformat(), **demo_api.access},
        headers=demo_api.headers,
    ).json()
    assert found["parsed"]["camera_ids"] == ["cam2"]
    assert [hit["track_id"] for hit in found["hits"]] == [demo_api.white_shirt_today]


def test_a_camera_the_demo_lacks_gets_a_422_naming_it(demo_api: DemoApi) -> None:
    response = demo_api.client.post(
        f"{API}/search/text",
        json={"text": "穿白衣服的男子 昨天下午 3号摄像头", **demo_api.access},
        headers=demo_api.headers,
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "text: camera '3' not found: no camera id or name ends in 3; cameras: ['cam1', 'cam2']"
    )
