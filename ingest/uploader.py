"""Uploads finished segments to object storage in order, spooling locally while it is down."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from ingest.backoff import Backoff
from ingest.segment import Segment
from storage.objectstore import ObjectStore, StorageUnavailableError

log = logging.getLogger(__name__)

StoredSink = Callable[[Segment], None]
SIDECAR_SUFFIX = ".segment.json"


@dataclass
class SpoolStatus:
    """What the spool holds and whether anything had to be dropped."""

    pending_segments: int = 0
    pending_bytes: int = 0
    dropped_segments: int = 0
    storage_down: bool = False
    last_error: str = ""


def write_sidecar(path: Path, segment: Segment) -> None:
    fields = asdict(segment)
    fields["start_at"], fields["end_at"] = segment.start_at.isoformat(), segment.end_at.isoformat()
    Path(str(path) + SIDECAR_SUFFIX).write_text(json.dumps(fields))


def read_sidecar(path: Path) -> Segment:
    fields = json.loads(Path(str(path) + SIDECAR_SUFFIX).read_text())
    fields["start_at"] = datetime.fromisoformat(fields["start_at"])
    fields["end_at"] = datetime.fromisoformat(fields["end_at"])
    return Segment(**fields)


class SegmentUploader:
    """One background thread uploads spooled segments oldest first, then tells `sink`.

    While storage is unavailable the head segment is retried with backoff and newer ones wait
    behind it, so each camera's segments arrive in order. A segment is deleted locally only
    after both the upload and `sink` (the catalog) succeeded. When the spool would exceed
    `spool_limit_bytes`, the new segment is dropped and counted (an alert in camera status).
    """

    def __init__(
        self, store: ObjectStore, spool_dir: Path, spool_limit_bytes: int, sink: StoredSink
    ) -> None:
        self._store = store
        self._spool_dir = spool_dir
        self._limit_bytes = spool_limit_bytes
        self._sink = sink
        self._queue: deque[tuple[Path, Segment]] = deque()
        self._status: dict[str, SpoolStatus] = {}
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._recover()
        self._thread = threading.Thread(target=self._run, name="segment-uploader", daemon=True)
        self._thread.start()

    def stop(self, drain_timeout_s: float = 30.0) -> None:
        """Upload what is queued (up to `drain_timeout_s`), then stop; the rest stays spooled."""
        with self._lock:
            self._lock.wait_for(lambda: not self._queue, timeout=drain_timeout_s)
            self._stop.set()
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(30)

    def status(self, camera_id: str) -> SpoolStatus:
        with self._lock:
            return SpoolStatus(**asdict(self._status.get(camera_id, SpoolStatus())))

    def spooled_until(self, camera_id: str) -> datetime | None:
        """The end of the camera's latest segment still waiting in the spool, if any."""
        with self._lock:
            ends = [segment.end_at for _, segment in self._queue if segment.camera_id == camera_id]
        return max(ends, default=None)

    def submit(self, path: Path, segment: Segment) -> None:
        """Queue a finished segment file (the recorder's sink)."""
        with self._lock:
            status = self._status.setdefault(segment.camera_id, SpoolStatus())
            total = sum(s.pending_bytes for s in self._status.values())
            if total + segment.size_bytes > self._limit_bytes:
                path.unlink(missing_ok=True)
                status.dropped_segments += 1
                status.last_error = "spool limit reached: segment dropped"
                log.error("camera %s: spool full, segment %s dropped", segment.camera_id, path)
                return
            write_sidecar(path, segment)
            self._enqueue(path, segment)

    def _enqueue(self, path: Path, segment: Segment) -> None:
        status = self._status.setdefault(segment.camera_id, SpoolStatus())
        status.pending_segments += 1
        status.pending_bytes += segment.size_bytes
        self._queue.append((path, segment))
        self._lock.notify_all()

    def _recover(self) -> None:
        """Re-queue segments a previous run left in the spool; drop half-written files."""
        if not self._spool_dir.exists():
            return
        for partial in self._spool_dir.rglob("*.part"):
            partial.unlink()
        found = []
        for sidecar in self._spool_dir.rglob("*" + SIDECAR_SUFFIX):
            path = Path(str(sidecar)[: -len(SIDECAR_SUFFIX)])
            if path.exists():
                found.append((path, read_sidecar(path)))
            else:
                sidecar.unlink()
        with self._lock:
            for path, segment in sorted(found, key=lambda item: item[1].start_at):
                self._enqueue(path, segment)

    def _run(self) -> None:
        backoff = Backoff(initial_s=0.5, max_s=10.0)
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._queue or self._stop.is_set())
                if self._stop.is_set():
                    return
                path, segment = self._queue[0]
            try:
                self._store.put_file(segment.object_key, path, "video/mp4")
                self._sink(segment)
            except (StorageUnavailableError, OSError) as error:
                self._mark_down(segment.camera_id, str(error))
                self._stop.wait(backoff.next_delay_s())
                continue
            except Exception as error:  # e.g. the catalog is briefly locked: retry later
                log.exception("recording segment %s failed", segment.object_key)
                self._mark_down(segment.camera_id, str(error))
                self._stop.wait(backoff.next_delay_s())
                continue
            backoff.reset()
            path.unlink(missing_ok=True)
            Path(str(path) + SIDECAR_SUFFIX).unlink(missing_ok=True)
            with self._lock:
                self._queue.popleft()
                for status in self._status.values():
                    status.storage_down = False
                status = self._status[segment.camera_id]
                status.pending_segments -= 1
                status.pending_bytes -= segment.size_bytes
                self._lock.notify_all()

    def _mark_down(self, camera_id: str, error: str) -> None:
        with self._lock:
            for status in self._status.values():
                status.storage_down = True
            self._status.setdefault(camera_id, SpoolStatus()).last_error = error
