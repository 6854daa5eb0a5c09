"""The event recorder on a real SQLite catalog and local object store: snapshots are in storage
(or the fsynced spool while it is down) before the event that names them commits, and the event
and its outbox rows commit together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from detect.zone_rules import Snapshot, ViolationUpdate
from index import catalog
from index.catalog import CameraSpec, EventQuery
from index.catalog.engine import init_catalog, session_factory
from index.catalog.rows import EventRow, OutboxRow
from index.event_recorder import EventRecorder
from index.picture_spool import PictureSpool
from storage.local import LocalObjectStore
from storage.objectstore import StorageUnavailableError, StoredObject

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


class WatchedStore(LocalObjectStore):
    """A local store that notes how many events the catalog had committed at each put, and
    can be taken down."""

    def __init__(self, root: Path, sessions: sessionmaker[Session]) -> None:
        super().__init__(root, "http://x/objects", b"k" * 32)
        self.sessions = sessions
        self.events_at_put: list[int] = []
        self.down = False

    def put_bytes(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> StoredObject:
        if self.down:
            raise StorageUnavailableError("storage is down (test)")
        with self.sessions() as session:  # another connection: sees committed rows only
            self.events_at_put.append(int(session.scalar(select(func.count(EventRow.id))) or 0))
        return super().put_bytes(key, data, content_type)


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    with sessions() as session:
        catalog.upsert_camera(session, CameraSpec("cam-1", "cam-1", "rtsp://h/main"))
        catalog.create_zone(session, "cam-1", "market", [(0.1, 0.1), (0.6, 0.1), (0.6, 0.6)])
        session.commit()
    return sessions


def update(phase: str, seen_min: float, pictures: int = 1) -> ViolationUpdate:
    return ViolationUpdate(
        camera_id="cam-1", zone_id=1, kind="street_vending", phase=phase,  # type: ignore[arg-type]
        started_at=T0, last_seen_at=T0 + timedelta(minutes=seen_min), severity="medium",
        local_track_ids=(5,),
        snapshots=tuple(
            Snapshot(T0 + timedelta(minutes=seen_min), b"\xff\xd8jpeg-%d" % i)
            for i in range(pictures)
        ),
    )  # fmt: skip


def test_pictures_are_stored_before_the_event_commits(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    store = WatchedStore(tmp_path / "objects", sessions)
    recorder = EventRecorder(
        sessions, PictureSpool(store, tmp_path / "spool"), "Asia/Shanghai", 900
    )
    opened = recorder.record(update("opened", 5))
    recorder(update("updated", 8))
    ended = recorder.record(update("ended", 12, pictures=2))
    assert store.events_at_put == [0, 1, 1, 1]  # the first picture before its event committed
    event = ended.event
    assert opened.event.id == event.id and event.ended_at == T0 + timedelta(minutes=12)
    keys = [picture.key for picture in event.evidence]
    assert keys == [f"events/cam-1/2026-03-02/{event.id}-{n}.jpg" for n in (1, 2, 3, 4)]
    assert store.get(keys[-1]) == b"\xff\xd8jpeg-1"
    with sessions() as session:
        topics = list(session.scalars(select(OutboxRow.topic).order_by(OutboxRow.id)))
        assert catalog.get_event(session, event.id) == event
    assert topics == ["violation.opened", "violation.updated", "violation.ended"]
    assert recorder.updates_recorded == 3


def test_a_storage_outage_spools_pictures_and_loses_no_event(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    store = WatchedStore(tmp_path / "objects", sessions)
    spool = PictureSpool(store, tmp_path / "spool")
    recorder = EventRecorder(sessions, spool, "Asia/Shanghai", 900)
    store.down = True
    event = recorder.record(update("opened", 5, pictures=2)).event
    assert spool.pending == 2
    with sessions() as session:
        assert [e.id for e in catalog.list_events(session, EventQuery())] == [event.id]
    store.down = False
    assert spool.flush() == 0
    assert store.get(event.evidence[0].key) == b"\xff\xd8jpeg-0"


def test_an_unknown_camera_writes_nothing(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    store = WatchedStore(tmp_path / "objects", sessions)
    recorder = EventRecorder(sessions, PictureSpool(store, tmp_path / "spool"), "UTC", 900)
    stray = ViolationUpdate(
        camera_id="cam-9", zone_id=1, kind="street_vending", phase="opened", started_at=T0,
        last_seen_at=T0, severity="low", snapshots=(Snapshot(T0, b"x"),),
    )  # fmt: skip
    with pytest.raises(catalog.UnknownCameraError):
        recorder.record(stray)
    assert store.events_at_put == []
    with sessions() as session:
        assert session.scalar(select(func.count(OutboxRow.id))) == 0
