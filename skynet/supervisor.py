"""Keeps the running camera ingests equal to the catalog's camera table (the desired state)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from index.catalog.recordings import last_segment_end
from index.catalog.values import CameraSpec
from ingest.camera import CameraConfig
from ingest.uploader import SegmentUploader

log = logging.getLogger(__name__)


def ingest_config(spec: CameraSpec) -> CameraConfig:
    return CameraConfig(spec.id, spec.main_url, spec.sub_url, spec.detect_fps)


def recorded_until(
    sessions: sessionmaker[Session], uploader: SegmentUploader, camera_id: str
) -> datetime | None:
    """Where a camera's recording stopped: its latest segment, still spooled or in the catalog
    (a starting ingest records the span from there to its first keyframe as a gap).

    The spool is read first: a segment reaches the catalog before it leaves the spool, so a
    segment moving between the two reads is seen by the second.
    """
    spooled = uploader.spooled_until(camera_id)
    with sessions() as session:
        stored = last_segment_end(session, camera_id)
    return max((end for end in (spooled, stored) if end is not None), default=None)


class CameraSupervisor:
    """Polls the catalog every `poll_s` and starts, restarts, pauses or stops cameras to match.

    The API and the CLI only write the catalog, so changes made by any process take effect
    here within `poll_s`, with no restart.
    """

    def __init__(
        self,
        desired: Callable[[], list[CameraSpec]],
        start: Callable[[CameraConfig], None],
        stop: Callable[[str], None],
        poll_s: float,
    ) -> None:
        self._desired = desired
        self._start = start
        self._stop_camera = stop
        self._poll_s = poll_s
        self.running: dict[str, CameraConfig] = {}
        self.paused: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.reconcile()
        self._thread = threading.Thread(target=self._run, name="camera-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            for camera_id in list(self.running):
                self._stop_camera(camera_id)
            self.running.clear()

    def reconcile(self) -> None:
        with self._lock:
            specs = {spec.id: spec for spec in self._desired()}
            for camera_id in [c for c in self.running if c not in specs]:
                log.info("camera %s removed", camera_id)
                self._stop_camera(camera_id)
                del self.running[camera_id]
            self.paused = {c for c, spec in specs.items() if not spec.enabled}
            for camera_id, spec in specs.items():
                wanted = ingest_config(spec)
                current = self.running.get(camera_id)
                if current is not None and (not spec.enabled or current != wanted):
                    self._stop_camera(camera_id)
                    del self.running[camera_id]
                    current = None
                if spec.enabled and current is None:
                    self._start(wanted)
                    self.running[camera_id] = wanted

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.reconcile()
            except Exception:  # the catalog may be briefly unavailable; try again next poll
                log.exception("camera reconcile failed")
