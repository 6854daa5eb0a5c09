"""Track pictures (thumbnails, context frames) on their way to object storage, durable on the way.

`put` returns once each picture is in object storage or, while storage is unavailable, in a
local spool directory (written under a temporary name, fsynced, renamed, directory fsynced), so
the catalog row naming a picture can be committed after it and a crash loses no picture (an
in-memory queue lost every picture of an outage). `flush` uploads the spool oldest first and
deletes each file once it is stored; a new `PictureSpool` on the same directory picks up what a
crashed process left. While the spool holds anything, new pictures queue behind it without
trying storage: an outage then costs the analysis path no network timeout per track.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from index.vectors.files import fsync_directory
from storage.objectstore import ObjectStore, StorageUnavailableError

log = logging.getLogger(__name__)

CONTENT_TYPE = "image/jpeg"
TEMP_SUFFIX = ".tmp"
KEY_SEPARATOR = "+"  # stands for "/" in spool file names; object keys never contain "+"
# ~10-40 KB a picture: a few GB of local disk before new pictures are dropped (and counted).
MAX_SPOOLED_PICTURES = 100_000


class PictureSpool:
    """Puts pictures into `store`, spooling them in `spool_dir` while it is unavailable."""

    def __init__(
        self, store: ObjectStore, spool_dir: Path, limit_pictures: int = MAX_SPOOLED_PICTURES
    ) -> None:
        self._store = store
        self._dir = spool_dir
        self._limit = limit_pictures
        self._lock = threading.Lock()  # guards _pending and dropped
        self._flushing = threading.Lock()  # one flush at a time keeps the upload order
        self._pending: deque[str] = deque()  # object keys, oldest first
        self.dropped = 0  # pictures lost because the spool was full
        self._recover()

    @property
    def pending(self) -> int:
        """Pictures waiting in the spool for object storage."""
        with self._lock:
            return len(self._pending)

    def put(self, pictures: Sequence[tuple[str, bytes]]) -> None:
        """Store `(key, jpeg)` pictures, spooling the rest at the first unavailability; returns
        once every picture is stored or spooled (or, spool full, dropped and counted)."""
        with self._lock:
            backlog = bool(self._pending)
        stored = 0
        if not backlog:
            for key, jpeg in pictures:
                try:
                    self._store.put_bytes(key, jpeg, CONTENT_TYPE)
                except StorageUnavailableError as error:
                    log.warning("pictures wait in the local spool for storage: %s", error)
                    break
                stored += 1
        if stored < len(pictures):
            self._spool(pictures[stored:])

    def flush(self) -> int:
        """Upload spooled pictures oldest first, until storage fails; returns how many wait."""
        with self._flushing:
            while True:
                with self._lock:
                    if not self._pending:
                        return 0
                    key = self._pending[0]
                path = self._path(key)
                try:
                    jpeg = path.read_bytes()
                except FileNotFoundError:  # removed by hand: nothing left to upload
                    jpeg = None
                if jpeg is not None:
                    try:
                        self._store.put_bytes(key, jpeg, CONTENT_TYPE)
                    except StorageUnavailableError as error:
                        waiting = self.pending
                        log.warning("%d spooled pictures wait for storage: %s", waiting, error)
                        return waiting
                    path.unlink(missing_ok=True)  # a crash before this uploads it again
                with self._lock:
                    self._pending.popleft()

    def _spool(self, pictures: Sequence[tuple[str, bytes]]) -> None:
        with self._lock:
            room = max(self._limit - len(self._pending), 0)
        kept, dropped = pictures[:room], pictures[room:]
        if kept:
            self._dir.mkdir(parents=True, exist_ok=True)
            for key, jpeg in kept:
                path = self._path(key)
                temp = path.with_name(path.name + TEMP_SUFFIX)
                with temp.open("wb") as handle:
                    handle.write(jpeg)
                    handle.flush()
                    os.fsync(handle.fileno())
                temp.replace(path)
            fsync_directory(self._dir)
        with self._lock:
            self._pending.extend(key for key, _ in kept)
            self.dropped += len(dropped)
        if dropped:
            log.error("picture spool full (%d): %d pictures dropped", self._limit, len(dropped))

    def _path(self, key: str) -> Path:
        return self._dir / key.replace("/", KEY_SEPARATOR)

    def _recover(self) -> None:
        """Queue what an earlier process left, oldest first; drop half-written files."""
        if not self._dir.is_dir():
            return
        files = []
        for path in self._dir.iterdir():
            if path.name.endswith(TEMP_SUFFIX):
                path.unlink(missing_ok=True)
            elif path.is_file():
                files.append((path.stat().st_mtime_ns, path.name))
        self._pending.extend(name.replace(KEY_SEPARATOR, "/") for _, name in sorted(files))
        if files:
            log.info("%d spooled pictures left by an earlier run wait for upload", len(files))
