"""Watches the running cameras' ingest states and publishes camera.online / camera.offline.

Ingest reports a state per camera (ingest/camera.py: online, reconnecting, offline after
several failures in a row, ...); this monitor samples them every `poll_s` and hands "online"
and "offline" to the catalog (`record_camera_link`), which writes the change and its outbox row
in one transaction. Passing states (connecting, reconnecting) publish nothing, so a stream
that blips and recovers is not an outage; paused and removed cameras are an admin's doing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from index.catalog import SessionFactory
from index.catalog.camera_links import record_camera_link

log = logging.getLogger(__name__)

LINK_STATES = {"online": True, "offline": False}


class CameraLinkMonitor:
    """Samples `states()` (camera id → ingest state) every `poll_s` on its own thread."""

    def __init__(
        self,
        sessions: SessionFactory,
        states: Callable[[], dict[str, str]],
        poll_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._states = states
        self._poll_s = poll_s
        self._clock = clock
        self._seen: dict[str, bool] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="camera-links", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def observe(self) -> list[int]:
        """Sample the states once; returns the ids of the outbox rows written."""
        written = []
        for camera_id, state in sorted(self._states().items()):
            online = LINK_STATES.get(state)
            if online is None or self._seen.get(camera_id) == online:
                continue
            with self._sessions.begin() as session:
                outbox_id = record_camera_link(session, camera_id, online, self._clock())
            self._seen[camera_id] = online
            if outbox_id is not None:
                log.info("camera %s is %s", camera_id, "online" if online else "offline")
                written.append(outbox_id)
        return written

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.observe()
            except Exception:  # the catalog may be briefly unavailable; try again next poll
                log.exception("camera link states not recorded")
