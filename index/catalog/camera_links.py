"""Catalog repository for camera links: the online/offline state last published for each camera,
and the `camera.online` / `camera.offline` outbox row written with each change.

The state row and its outbox row are written in the caller's transaction, so a change is
published exactly when it is stored; a restarted process compares with the stored state and
publishes only real changes (a camera that stayed online across the restart publishes nothing).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from index.catalog.outbox import append_outbox
from index.catalog.rows import CameraLinkRow, CameraRow, ensure_utc

CAMERA_ONLINE_TOPIC = "camera.online"
CAMERA_OFFLINE_TOPIC = "camera.offline"


def record_camera_link(session: Session, camera_id: str, online: bool, at: datetime) -> int | None:
    """Store that `camera_id` is `online` (or not) as of `at`; when that changes what was
    published before, append the camera.online / camera.offline outbox row and return its id.

    A camera never seen before publishes only going offline (coming online the first time is
    not news). Unknown or removed cameras publish nothing."""
    camera = session.get(CameraRow, camera_id)
    if camera is None or camera.removed_at is not None:
        return None
    at = ensure_utc(at, "at")
    link = session.get(CameraLinkRow, camera_id)
    if link is not None and link.online == online:
        return None
    if link is None:
        link = CameraLinkRow(camera_id=camera_id, online=online, changed_at=at)
        session.add(link)
        if online:
            session.flush()
            return None
    link.online, link.changed_at = online, at
    topic = CAMERA_ONLINE_TOPIC if online else CAMERA_OFFLINE_TOPIC
    payload = {"camera_id": camera_id, "camera_name": camera.name, "at": at.isoformat()}
    return append_outbox(session, topic, payload)
