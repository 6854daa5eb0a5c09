"""An event's clip after retention deleted its recording (issues #13, #17), on the real API: the
event reply says `clip_available: false` with no link (as tracks do), a clip link handed out
before answers 410 Gone naming retention, a recorded event keeps a working link, and a span
that was never recorded stays a 404 until a retention run has passed it. A track or event seen
before a camera's recording started (a recording gap) says `clip_available: false` too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from detect.zone_rules import ViolationUpdate
from index import catalog
from index.catalog import NewTrack, create_api_key, principal_for_key
from index.retention import run_retention_job
from index.vectors import VectorIndex
from ingest.camera import FIRST_RECORDING_GAP_REASON
from ingest.segment import Segment
from search_api.app import API_PREFIX, create_app
from search_api.context import ApiContext
from search_api.links import clip_url
from tests.api_support import BASE_URL, empty_context
from tests.retention_support import DIM, VERSION, Material, populate, set_up_cameras


@dataclass
class Env:
    client: TestClient
    context: ApiContext
    material: Material
    key: str
    now: datetime

    def event(self, camera_id: str, days: int) -> dict:
        event_id = self.material.events[(camera_id, days)]
        reply = self.client.get(f"{API_PREFIX}/events/{event_id}", headers={"X-API-Key": self.key})
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def follow(self, url: str) -> int:
        return self.client.get(url.removeprefix(BASE_URL), follow_redirects=False).status_code


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    context = empty_context(tmp_path)  # retention: the default tier, segments kept 30 days
    set_up_cameras(context.sessions)
    now = datetime.now(UTC)
    material = populate(
        context.sessions, context.store, VectorIndex(DIM, VERSION), now, days_back=(40, 1)
    )
    with context.sessions() as session:
        key = create_api_key(session, "ops", "operator")
        session.commit()
    with TestClient(create_app(context), base_url=BASE_URL) as client:
        yield Env(client, context, material, key, now)


def test_an_events_clip_deleted_by_retention_is_unavailable_and_its_link_gone(env: Env) -> None:
    before = env.event("cam-a", 40)
    assert before["clip_available"] is True and before["clip_url"]
    assert env.follow(before["clip_url"]) == 307  # the recording is still there
    run_retention_job(
        env.context.sessions, env.context.store, None, env.context.retention, "test", now=env.now
    )
    after = env.event("cam-a", 40)  # the event is kept (365 days), its recording is not
    assert after["clip_available"] is False and after["clip_url"] is None
    gone = env.client.get(before["clip_url"].removeprefix(BASE_URL), follow_redirects=False)
    assert gone.status_code == 410, gone.text
    assert "retention" in gone.json()["detail"] and "30 days" in gone.json()["detail"]
    played = before["clip_url"].removeprefix(BASE_URL).replace("?", "/video.mp4?", 1)
    assert env.client.get(played).status_code == 410  # the playback link too
    recent = env.event("cam-a", 1)
    assert recent["clip_available"] is True and env.follow(recent["clip_url"]) == 307


def test_a_span_never_recorded_is_not_called_gone(env: Env) -> None:
    with env.context.sessions() as session:
        principal = principal_for_key(session, env.key)
    assert principal is not None
    recent = env.now - timedelta(hours=3)  # no segment was ever stored for these spans
    old = env.now - timedelta(days=60)
    recent_url = clip_url(env.context, principal, "cam-b", recent, recent + timedelta(seconds=5))
    old_url = clip_url(env.context, principal, "cam-b", old, old + timedelta(seconds=5))
    assert env.follow(recent_url) == env.follow(old_url) == 404  # no run has deleted anything
    run_retention_job(
        env.context.sessions, env.context.store, None, env.context.retention, "test", now=env.now
    )
    assert env.follow(recent_url) == 404  # within the tier: not retention's doing
    assert env.follow(old_url) == 410  # past what the run kept: gone, whatever it held


def test_a_sighting_before_the_recording_started_has_no_clip(env: Env) -> None:
    started = env.now - timedelta(days=3)  # cam-b's recording starts at its first keyframe
    first_keyframe = started + timedelta(seconds=30)
    with env.context.sessions() as session:
        zone_id = catalog.list_zones(session, "cam-b")[0].id
        catalog.add_recording_gap(
            session, "cam-b", started, first_keyframe, FIRST_RECORDING_GAP_REASON
        )
        catalog.add_segment(
            session,
            Segment("cam-b", first_keyframe, first_keyframe + timedelta(seconds=60),
                    "segments/cam-b/first.mp4", "0" * 64, 1),
        )  # fmt: skip
        before, across = catalog.add_tracks(
            session,
            [
                NewTrack(
                    camera_id="cam-b",
                    local_track_id=900 + n,
                    class_name="car",
                    confidence=0.9,
                    start_at=started + timedelta(seconds=5 + 20 * n),
                    end_at=started + timedelta(seconds=15 + 20 * n),
                    best_shot_at=started + timedelta(seconds=6 + 20 * n),
                    best_bbox_xyxy_px=(1.0, 2.0, 30.0, 40.0),
                )
                for n in (0, 1)  # seen in the gap only; seen on into the first segment
            ],
        )
        event = catalog.record_violation(
            session,
            ViolationUpdate(
                camera_id="cam-b", zone_id=zone_id, kind="fire_lane_occupation",
                phase="ended", started_at=started + timedelta(seconds=2),
                last_seen_at=started + timedelta(seconds=20), severity="medium",
                local_track_ids=(900,), snapshots=(),
            ),
            timezone="UTC", merge_gap_s=0,
            evidence_key=lambda camera, event, n, at: f"events/{camera}/{event}-{n}.jpg",
        ).event  # fmt: skip
        investigator = create_api_key(session, "inv", "investigator")
        session.commit()
    headers = {"X-API-Key": env.key}
    unrecorded = env.client.get(f"{API_PREFIX}/tracks/{before}", headers=headers).json()
    assert unrecorded["clip_available"] is False and unrecorded["clip_url"] is None
    recorded = env.client.get(f"{API_PREFIX}/tracks/{across}", headers=headers).json()
    assert recorded["clip_available"] is True and env.follow(recorded["clip_url"]) == 307
    found = env.client.post(
        f"{API_PREFIX}/search/attributes",
        json={"classes": ["car"], "camera_ids": ["cam-b"], "top_k": 50},
        headers={"X-API-Key": investigator},
    )
    assert found.status_code == 200, found.text
    hits = {hit["track_id"]: hit for hit in found.json()["hits"]}
    assert hits[before]["clip_available"] is False and hits[before]["clip_url"] is None
    assert hits[across]["clip_available"] is True and hits[across]["clip_url"]
    in_gap = env.client.get(f"{API_PREFIX}/events/{event.id}", headers=headers).json()
    assert in_gap["clip_available"] is False and in_gap["clip_url"] is None
    assert env.event("cam-b", 1)["clip_available"] is True  # recorded events keep their clip
