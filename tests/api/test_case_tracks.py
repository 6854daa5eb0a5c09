"""Tracks filed under a case (its evidence): only by the case's creator or an admin, only tracks
on cameras they may see, only while the case is open; read back by the creator, admins and
auditors, each reader seeing only tracks on cameras they may see; filing is audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from index.catalog import CameraSpec, NewTrack, add_track, upsert_camera
from tests.api_support import empty_context
from tests.case_support import CaseEnv, Person, case_env

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PEOPLE = {
    "ana": Person("investigator"),
    "gina": Person("investigator", ("gate",)),
    "bob": Person("investigator"),
    "aud": Person("auditor"),
}


def van(camera_id: str, local_id: int) -> NewTrack:
    return NewTrack(
        camera_id=camera_id, local_track_id=local_id, class_name="car", confidence=0.9,
        start_at=T0, end_at=T0 + timedelta(seconds=6), best_shot_at=T0,
        best_bbox_xyxy_px=(10.0, 10.0, 90.0, 60.0),
    )  # fmt: skip


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaseEnv]:
    context = empty_context(tmp_path_factory.mktemp("case_tracks"))
    with context.sessions() as session:
        for camera_id in ("gate", "yard"):
            upsert_camera(session, CameraSpec(camera_id, camera_id, "rtsp://10.0.0.5/main"))
        tracks = {
            "gate": add_track(session, van("gate", 1)),
            "yard": add_track(session, van("yard", 2)),
        }
        session.commit()
    yield from case_env(CaseEnv, context, tracks, PEOPLE)


def test_tracks_are_filed_by_the_case_owner_and_read_back(env: CaseEnv) -> None:
    case = env.call("POST", "/cases", "gina", json={"title": "van at the gate"}).json()["id"]
    gate, yard = env.tracks["gate"], env.tracks["yard"]
    filed = env.call("POST", f"/cases/{case}/tracks", "gina", json={"track_ids": [gate, gate]})
    assert filed.status_code == 200, filed.text
    assert filed.json() == {"case_id": case, "track_ids": [gate]}
    again = env.call("POST", f"/cases/{case}/tracks", "gina", json={"track_ids": [gate]})
    assert again.json()["track_ids"] == [gate]  # filing twice keeps one entry
    unseen = env.call("POST", f"/cases/{case}/tracks", "gina", json={"track_ids": [yard]})
    assert unseen.status_code == 404  # a camera outside hers is not found, nothing filed
    missing = env.call("POST", f"/cases/{case}/tracks", "gina", json={"track_ids": [987654]})
    assert missing.status_code == 404
    other = env.call("POST", f"/cases/{case}/tracks", "bob", json={"track_ids": [gate]})
    assert other.status_code == 403 and "opened by someone else" in other.text
    assert env.call("GET", f"/cases/{case}/tracks", "bob").status_code == 403
    assert env.call("GET", f"/cases/{case}/tracks", "aud").json()["track_ids"] == [gate]
    assert env.call("GET", f"/cases/{case}/tracks", "gina").json()["track_ids"] == [gate]
    assert [e["added"] for e in env.audited(case, "file_case_tracks")] == [1, 0]


def test_a_reader_sees_only_tracks_on_their_cameras_and_closed_cases_take_none(
    env: CaseEnv,
) -> None:
    case = env.call("POST", "/cases", "ana", json={"title": "both vans"}).json()["id"]
    both = [env.tracks["gate"], env.tracks["yard"]]
    assert (
        env.call("POST", f"/cases/{case}/tracks", "ana", json={"track_ids": both}).status_code
        == 200
    )
    assert env.call("GET", f"/cases/{case}/tracks", "ana").json()["track_ids"] == both
    assert env.call("POST", f"/cases/{case}/close", "ana").status_code == 200
    late = env.call("POST", f"/cases/{case}/tracks", "ana", json={"track_ids": both})
    assert late.status_code == 403 and "closed" in late.text
    bad = env.call("POST", f"/cases/{case}/tracks", "ana", json={"track_ids": []})
    assert bad.status_code == 422
