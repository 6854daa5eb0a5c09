"""Index stage entry for violations: stores the detector's `ViolationUpdate`s as catalog events.

Write order, as for tracks: an update's snapshots go to object storage (or, while it is down,
to the fsynced local picture spool) before the catalog commits the event naming them, and the
event change and its outbox row commit in one transaction. A crash before the commit leaves at
worst unreferenced pictures; nothing committed names a lost picture, and nothing committed goes
unpublished (the events channel reads the outbox). The pictures are put while the transaction
is open, because their keys carry the event's id: on SQLite that holds the write lock for the
few milliseconds of a local or spooled write.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from detect.zone_rules import ViolationUpdate
from index.catalog import RecordedViolation, camera_timezone, record_violation
from index.picture_spool import PictureSpool

log = logging.getLogger(__name__)


def evidence_key(camera_id: str, event_id: int, n: int, at: datetime) -> str:
    """Object key of an event's n-th snapshot: events/{camera}/{UTC date}/{event}-{n}.jpg."""
    return f"events/{camera_id}/{at:%Y-%m-%d}/{event_id}-{n}.jpg"


class EventRecorder:
    """The detector's violation sink: `record(update)` stores it as an event change.

    `default_timezone` (SKYNET_TIMEZONE) places a camera without its own time zone in a day for
    the merge; `merge_gap_s` (SKYNET_EVENT_MERGE_GAP_S) is the merge's gap. `on_recorded` is
    called after each commit (tests, metrics). Safe to call from several threads: records are
    serialised, so two updates of one violation never race to open two events.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        pictures: PictureSpool,
        default_timezone: str,
        merge_gap_s: float,
        on_recorded: Callable[[RecordedViolation], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._pictures = pictures
        self._default_timezone = default_timezone
        self._merge_gap_s = merge_gap_s
        self._on_recorded = on_recorded
        self._lock = threading.Lock()
        self.updates_recorded = 0

    def record(self, update: ViolationUpdate) -> RecordedViolation:
        """Store one update: pictures (stored or spooled), then event + outbox in one commit."""
        with self._lock, self._sessions() as session:
            timezone = camera_timezone(session, update.camera_id, self._default_timezone)
            recorded = record_violation(
                session, update, timezone=timezone, merge_gap_s=self._merge_gap_s,
                evidence_key=evidence_key,
            )  # fmt: skip
            self._pictures.put(list(recorded.pictures))  # before the commit naming them
            session.commit()
            self.updates_recorded += 1
        log.info(
            "event %d %s: %s in zone %s on %s", recorded.event.id, "/".join(recorded.topics),
            update.kind, update.zone_id, update.camera_id,
        )  # fmt: skip
        if self._on_recorded is not None:
            self._on_recorded(recorded)
        return recorded

    __call__ = record  # usable wherever a plain sink function is expected
