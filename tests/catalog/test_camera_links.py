"""camera.online / camera.offline (issue #13): the link state and its outbox row are written
together, only on a change; the runtime's monitor maps ingest states to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from index.camera_links import CameraLinkMonitor
from index.catalog import upsert_camera
from index.catalog.camera_links import record_camera_link
from index.catalog.values import CameraSpec
from index.catalog.webhook_deliveries import outbox_after

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_only_changes_are_published_with_their_outbox_row(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        upsert_camera(session, CameraSpec("cam1", "Gate 1", "rtsp://10.0.0.5/cam1"))
    steps = [(True, None), (True, None), (False, "camera.offline"), (False, None),
             (True, "camera.online")]  # fmt: skip
    for n, (online, topic) in enumerate(steps):
        with sessions.begin() as session:
            written = record_camera_link(session, "cam1", online, T0 + timedelta(minutes=n))
        assert (written is not None) == (topic is not None), n
    with sessions() as session:
        messages = outbox_after(session, 0)
        assert record_camera_link(session, "nope", False, T0) is None
    assert [(m.topic, m.data["camera_id"], m.data["at"]) for m in messages] == [
        ("camera.offline", "cam1", (T0 + timedelta(minutes=2)).isoformat()),
        ("camera.online", "cam1", (T0 + timedelta(minutes=4)).isoformat()),
    ]


def test_the_monitor_publishes_outages_not_blips(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for camera in ("cam1", "cam2"):
            upsert_camera(session, CameraSpec(camera, camera, f"rtsp://10.0.0.5/{camera}"))
    states = {"cam1": "connecting", "cam2": "offline"}
    monitor = CameraLinkMonitor(sessions, lambda: dict(states), poll_s=1.0, clock=lambda: T0)
    assert len(monitor.observe()) == 1  # cam2 never came up: offline is news
    states.update(cam1="online", cam2="reconnecting")
    assert monitor.observe() == []  # cam1's first online is not; reconnecting is a blip
    states.update(cam1="reconnecting", cam2="online")
    assert len(monitor.observe()) == 1  # cam2 is back
    states.update(cam1="offline")
    monitor.observe()
    with sessions() as session:
        topics = [(m.topic, m.camera_id) for m in outbox_after(session, 0)]
    assert topics == [
        ("camera.offline", "cam2"), ("camera.online", "cam2"), ("camera.offline", "cam1"),
    ]  # fmt: skip
