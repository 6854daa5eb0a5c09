"""Zone rules, violation events, review and the city_manager role on the real API (real models,
SQLite catalog, local store): rule checks name the field, events follow camera scopes, review is
audited and published, statistics come as JSON and CSV, city management cannot search persons."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from detect.zone_rules import Snapshot, ViolationUpdate
from index.catalog import (
    CameraSpec,
    audit_entries,
    create_api_key,
    create_zone,
    upsert_camera,
)
from index.catalog.rows import OutboxRow
from index.event_recorder import EventRecorder
from index.picture_spool import PictureSpool
from search_api.app import create_app
from search_api.context import ApiContext
from tests.api_support import BASE_URL, empty_context

API = "/api/v1"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Asia/Shanghai
SQUARE = [(0.1, 0.1), (0.6, 0.1), (0.6, 0.6), (0.1, 0.6)]
ROLES = {
    "admin": ("admin", None), "operator": ("operator", None), "viewer": ("viewer", None),
    "investigator": ("investigator", None), "city": ("city_manager", None),
    "city-cam2": ("city_manager", ["cam2"]),
}  # fmt: skip


@dataclass
class EventsEnv:
    client: TestClient
    context: ApiContext
    keys: dict[str, str]
    events: dict[str, int]

    def headers(self, key: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[key]}


def violation(
    camera_id: str, zone_id: int, phase: str, start_min: int, seen_min: int
) -> ViolationUpdate:
    return ViolationUpdate(
        camera_id=camera_id, zone_id=zone_id, kind="street_vending", phase=phase,  # type: ignore[arg-type]
        started_at=T0 + timedelta(minutes=start_min),
        last_seen_at=T0 + timedelta(minutes=seen_min), severity="medium", local_track_ids=(7,),
        snapshots=(Snapshot(T0 + timedelta(minutes=seen_min), b"\xff\xd8 snapshot"),),
    )  # fmt: skip


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsEnv]:
    root: Path = tmp_path_factory.mktemp("events")
    context = empty_context(root)
    url = "rtsp://10.0.0.5/main"
    with context.sessions() as session:
        upsert_camera(session, CameraSpec("cam1", "Market", url, timezone="Asia/Shanghai"))
        upsert_camera(session, CameraSpec("cam2", "Lane", url))
        create_zone(session, "cam1", "market", SQUARE)  # zone 1
        create_zone(session, "cam2", "lane", SQUARE)  # zone 2
        keys = {
            name: create_api_key(session, name, role, cams) for name, (role, cams) in ROLES.items()
        }
        session.commit()
    recorder = EventRecorder(
        context.sessions, PictureSpool(context.store, root / "spool"), "Asia/Shanghai", 900
    )
    recorder.record(violation("cam1", 1, "opened", 0, 5))
    market = recorder.record(violation("cam1", 1, "ended", 0, 10)).event.id
    lane = recorder.record(violation("cam2", 2, "opened", 30, 40)).event.id
    later = recorder.record(violation("cam1", 1, "opened", 24 * 60, 24 * 60 + 5)).event.id
    app = create_app(context)
    with TestClient(app, base_url=BASE_URL) as client:
        yield EventsEnv(client, context, keys, {"market": market, "lane": lane, "later": later})


# ---- zone rules --------------------------------------------------------------------------------


def put_rule(env: EventsEnv, body: dict[str, Any], key: str = "operator", zone: int = 1) -> Any:
    return env.client.put(
        f"{API}/cameras/cam1/zones/{zone}/rule", json=body, headers=env.headers(key)
    )


def test_rules_are_set_and_read_and_shown_on_the_zone(env: EventsEnv) -> None:
    body = {
        "kind": "no_vending",
        "schedule": {"days": [0, 1, 2, 3, 4], "windows": ["07:00-22:00"]},
        "min_dwell_s": 600,
        "sensitivity": 0.7,
        "classes": ["umbrella", "person"],
    }
    reply = put_rule(env, body, key="city")  # city management sets rules
    assert reply.status_code == 200, reply.text
    rule = reply.json()
    assert rule["schedule"] == {
        "days": [0, 1, 2, 3, 4],
        "windows": ["07:00-22:00"],
        "text": "mon,tue,wed,thu,fri 07:00-22:00",
    }
    assert (rule["kind"], rule["min_dwell_s"], rule["classes"]) == (
        "no_vending", 600.0, ["person", "umbrella"]
    )  # fmt: skip
    read = env.client.get(f"{API}/cameras/cam1/zones/1/rule", headers=env.headers("viewer"))
    assert read.json() == rule
    zone = env.client.get(f"{API}/cameras/cam1/zones/1", headers=env.headers("city")).json()
    assert zone["rule"] == rule
    with env.context.sessions() as session:
        assert any(e.action == "zone_rule" and e.target == "zone:1" for e in audit_entries(session))
    always = put_rule(env, {"kind": "fire_lane"}, zone=1).json()
    assert always["schedule"] is None and "car" in always["counted_classes"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "no_parking"}, "kind"),
        ({"kind": "no_vending", "schedule": {"days": [], "windows": []}}, "schedule"),
        ({"kind": "no_vending", "schedule": {"days": [7]}}, "schedule"),
        ({"kind": "no_vending", "schedule": {"windows": ["7am-10pm"]}}, "schedule"),
        (
            {"kind": "no_vending", "schedule": {"windows": ["07:00-12:00", "11:00-13:00"]}},
            "schedule",
        ),
        ({"kind": "no_vending", "classes": ["stall"]}, "classes"),
        ({"kind": "no_vending", "min_dwell_s": -5}, "min_dwell_s"),
        ({"kind": "no_vending", "min_dwell_s": 100000}, "min_dwell_s"),
        ({"kind": "no_vending", "sensitivity": 2}, "sensitivity"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    env: EventsEnv, body: dict[str, Any], field: str
) -> None:
    reply = put_rule(env, body)
    assert reply.status_code == 422
    assert f"body.{field}" in reply.json()["detail"]


def test_rule_writes_need_a_managing_role_and_a_zone_on_the_camera(env: EventsEnv) -> None:
    assert put_rule(env, {"kind": "no_vending"}, key="viewer").status_code == 403
    assert put_rule(env, {"kind": "no_vending"}, key="investigator").status_code == 403
    assert put_rule(env, {"kind": "no_vending"}, zone=2).status_code == 404  # zone 2 is cam2's
    scoped = env.client.put(
        f"{API}/cameras/cam1/zones/1/rule", json={"kind": "no_vending"},
        headers=env.headers("city-cam2"),
    )  # fmt: skip
    assert scoped.status_code == 404


@pytest.mark.parametrize(
    ("polygon", "reason"),
    [
        ([[0.1, 0.1], [0.8, 0.6], [0.8, 0.1], [0.1, 0.3]], "intersects itself"),
        ([[0.1, 0.1], [1.2, 0.1], [0.5, 0.8]], "outside the image"),
    ],
)
def test_zone_polygons_that_cross_or_leave_the_frame_are_422(
    env: EventsEnv, polygon: list[list[float]], reason: str
) -> None:
    reply = env.client.post(
        f"{API}/cameras/cam1/zones", json={"name": "bad", "polygon": polygon},
        headers=env.headers("operator"),
    )  # fmt: skip
    assert reply.status_code == 422 and reason in reply.json()["detail"]
    assert "body.polygon" in reply.json()["detail"]


def test_camera_timezone_is_set_checked_and_shown(env: EventsEnv) -> None:
    bad = env.client.patch(
        f"{API}/cameras/cam2", json={"timezone": "Mars/Olympus"}, headers=env.headers("admin")
    )
    assert bad.status_code == 422 and "body.timezone" in bad.json()["detail"]
    good = env.client.patch(
        f"{API}/cameras/cam2", json={"timezone": "Europe/Berlin"}, headers=env.headers("admin")
    )
    assert good.status_code == 200 and good.json()["timezone"] == "Europe/Berlin"
    cam1 = env.client.get(f"{API}/cameras/cam1", headers=env.headers("city")).json()
    assert cam1["timezone"] == "Asia/Shanghai"
    cleared = env.client.patch(
        f"{API}/cameras/cam2", json={"timezone": None}, headers=env.headers("admin")
    )
    assert cleared.json()["timezone"] is None


# ---- events --------------------------------------------------------------------------------------


def ids(reply: Any) -> list[int]:
    assert reply.status_code == 200, reply.text
    return [item["id"] for item in reply.json()["items"]]


def test_events_are_listed_filtered_and_paged(env: EventsEnv) -> None:
    market, lane, later = env.events["market"], env.events["lane"], env.events["later"]

    def get(**params: object) -> Any:
        return env.client.get(f"{API}/events", params=params, headers=env.headers("city"))

    assert ids(get()) == [later, lane, market]
    assert ids(get(camera_id="cam2")) == [lane]
    assert ids(get(zone_id=1)) == [later, market]
    assert ids(get(type="fire_lane_occupation")) == []
    assert ids(
        get(
            start=(T0 + timedelta(minutes=20)).isoformat(),
            end=(T0 + timedelta(hours=2)).isoformat(),
        )
    ) == [lane]
    page = get(limit=1, offset=1).json()
    assert [i["id"] for i in page["items"]] == [lane] and page["total"] == 3
    item = get(camera_id="cam1", limit=1).json()["items"][0]
    assert item["type"] == "street_vending" and item["snapshot_count"] == 1
    assert get(type="bogus").status_code == 422 and get(limit=0).status_code == 422


def test_events_follow_camera_scopes(env: EventsEnv) -> None:
    headers = env.headers("city-cam2")
    assert ids(env.client.get(f"{API}/events", headers=headers)) == [env.events["lane"]]
    assert (
        env.client.get(f"{API}/events", params={"camera_id": "cam1"}, headers=headers).status_code
        == 403
    )
    market = env.events["market"]
    assert env.client.get(f"{API}/events/{market}", headers=headers).status_code == 404
    review = env.client.post(
        f"{API}/events/{market}/review", json={"state": "confirmed"}, headers=headers
    )
    assert review.status_code == 404
    stats = env.client.get(f"{API}/events/stats", params={"group": "camera"}, headers=headers)
    assert [s["group"] for s in stats.json()] == ["cam2"]


def test_an_event_has_signed_snapshot_and_clip_links(env: EventsEnv) -> None:
    market = env.events["market"]
    reply = env.client.get(f"{API}/events/{market}", headers=env.headers("city"))
    assert reply.status_code == 200, reply.text
    event = reply.json()
    assert event["ended_at"] == (T0 + timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    assert len(event["snapshots"]) == 2
    for snapshot in event["snapshots"]:
        link = snapshot["url"].removeprefix(BASE_URL)
        assert link.startswith(f"{API}/pictures/events/cam1/2026-03-02/{market}-")
        assert env.client.get(link, follow_redirects=False).status_code == 307
    start_ms, end_ms = (
        int(T0.timestamp() * 1000),
        int((T0 + timedelta(minutes=10)).timestamp() * 1000),
    )
    assert f"/clips/cam1/{start_ms}-{end_ms}?" in event["clip_url"]
    assert env.client.get(f"{API}/events/999999", headers=env.headers("city")).status_code == 404
    with env.context.sessions() as session:  # viewed, then each picture fetched (issue #17)
        actions = [(e.action, e.target) for e in audit_entries(session)][-3:]
    assert actions[0] == ("event_view", f"event:{market}")
    assert [a for a, _ in actions[1:]] == ["object_access"] * 2


def test_review_is_audited_and_published(env: EventsEnv) -> None:
    lane = env.events["lane"]
    url = f"{API}/events/{lane}/review"
    assert (
        env.client.post(url, json={"state": "confirmed"}, headers=env.headers("viewer")).status_code
        == 403
    )
    assert (
        env.client.post(url, json={"state": "open"}, headers=env.headers("city")).status_code == 422
    )
    reply = env.client.post(
        url,
        json={"state": "dismissed", "note": "a parked delivery van"},
        headers=env.headers("city"),
    )
    assert reply.status_code == 200, reply.text
    event = reply.json()
    assert (event["state"], event["reviewer"], event["review_note"]) == (
        "dismissed", "city", "a parked delivery van"
    )  # fmt: skip
    with env.context.sessions() as session:
        entries = [e for e in audit_entries(session) if e.action == "event_review"]
        rows = list(
            session.scalars(select(OutboxRow).where(OutboxRow.topic == "violation.reviewed"))
        )
    assert entries[-1].principal == "city" and entries[-1].target == f"event:{lane}"
    assert rows[-1].payload["id"] == lane and rows[-1].payload["state"] == "dismissed"
    dismissed = env.client.get(
        f"{API}/events", params={"state": "dismissed"}, headers=env.headers("viewer")
    )
    assert ids(dismissed) == [lane]


def test_statistics_as_json_and_csv(env: EventsEnv) -> None:
    headers = env.headers("admin")
    by_zone = env.client.get(f"{API}/events/stats", params={"group": "zone"}, headers=headers)
    assert [(s["group"], s["events"]) for s in by_zone.json()] == [("zone:1", 2), ("zone:2", 1)]
    by_day = env.client.get(
        f"{API}/events/stats", params={"group": "day", "camera_id": "cam1"}, headers=headers
    )
    assert [(s["group"], s["events"]) for s in by_day.json()] == [
        ("2026-03-02", 1),
        ("2026-03-03", 1),
    ]
    reply = env.client.get(
        f"{API}/events/stats", params={"group": "camera", "format": "csv"}, headers=headers
    )
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [(r["group"], r["events"]) for r in rows] == [("cam1", "2"), ("cam2", "1")]
    assert float(rows[0]["duration_s"]) == 900.0  # 10 min + 5 min
    assert [r["camera_name"] for r in rows] == ["Market", "Lane"]
    zones_csv = env.client.get(
        f"{API}/events/stats", params={"group": "zone", "format": "csv"}, headers=headers
    )
    lines = list(csv.reader(io.StringIO(zones_csv.text)))
    # the names are appended: scripts reading columns by position keep working
    assert lines[0] == [
        "group", "camera_id", "zone_id", "day", "events", "open", "confirmed", "dismissed",
        "resolved", "duration_s", "camera_name", "zone_name",
    ]  # fmt: skip
    assert [(r[0], r[-2], r[-1]) for r in lines[1:]] == [
        ("zone:1", "Market", "market"), ("zone:2", "Lane", "lane")
    ]  # fmt: skip
    assert [(s["zone_name"], s["camera_name"]) for s in by_zone.json()] == [
        ("market", "Market"), ("lane", "Lane")
    ]  # fmt: skip
    assert {s["zone_name"] for s in by_day.json()} == {None}
    bad = env.client.get(f"{API}/events/stats", params={"group": "week"}, headers=headers)
    assert bad.status_code == 422


def test_city_manager_sees_cameras_and_zones_but_searches_no_persons(env: EventsEnv) -> None:
    headers = env.headers("city")
    assert env.client.get(f"{API}/cameras", headers=headers).status_code == 200
    assert env.client.get(f"{API}/cameras/cam1/zones", headers=headers).status_code == 200
    search = env.client.post(
        f"{API}/search/attributes", json={"classes": ["person"]}, headers=headers
    )
    assert search.status_code == 403
    vehicles = env.client.post(
        f"{API}/search/attributes", json={"classes": ["car"]}, headers=headers
    )
    assert vehicles.status_code == 403
    assert env.client.get(f"{API}/tracks/1", headers=headers).status_code == 403
    assert env.client.get(f"{API}/events", headers=env.headers("viewer")).status_code == 200
