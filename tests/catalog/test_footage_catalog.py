"""The footage uploads repository (#15) on SQLite and PostgreSQL: parts, conditional state
moves, a dead worker's upload taken over, and the camera questions a label asks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from index.catalog import UnknownUploadError, get_camera, upsert_camera
from index.catalog.footage import (
    NewFootageUpload,
    camera_kind,
    create_footage_upload,
    get_footage_upload,
    list_footage_uploads,
    live_camera_named,
    move_footage_upload,
    record_footage_part,
    take_over_footage_upload,
    touch_footage_upload,
)
from index.catalog.values import CameraSpec

SHA = "ab" * 32


def new_upload(size_bytes: int = 2500, label: str = "Shop 7") -> NewFootageUpload:
    return NewFootageUpload("shop-7", label, "door.mp4", size_bytes, SHA.upper(), 1000, "key:1",
                            start_time_given=datetime(2026, 11, 1, 8, tzinfo=UTC))  # fmt: skip


def test_parts_are_recorded_once_each_and_only_while_receiving(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        upload = create_footage_upload(session, new_upload())
        session.commit()
    assert (upload.part_count, upload.sha256, upload.state) == (3, SHA, "receiving")
    assert [upload.part_size(n) for n in range(3)] == [1000, 1000, 500]
    with pytest.raises(ValueError, match="not in"):
        upload.part_size(3)
    with sessions() as session:
        for number in (2, 0, 2):
            upload = record_footage_part(session, upload.id, number)
        session.commit()
    assert upload.parts_received == (0, 2) and upload.missing_parts == (1,)
    with sessions() as session:
        assert [u.id for u in list_footage_uploads(session, sha256=SHA)] == [upload.id]
        assert list_footage_uploads(session, created_by="key:2") == []
        with pytest.raises(UnknownUploadError):
            record_footage_part(session, "nope", 0)
        assert move_footage_upload(session, upload.id, "receiving", "processing")
        assert not move_footage_upload(session, upload.id, "receiving", "processing")
        with pytest.raises(ValueError, match="takes no more parts"):
            record_footage_part(session, upload.id, 1)
        report = {"segments": 2, "damage": ["truncated"]}
        assert move_footage_upload(session, upload.id, "processing", "stored", report=report)
        session.commit()
        stored = get_footage_upload(session, upload.id)
    assert stored is not None and stored.state == "stored" and stored.report == report


def test_a_silent_worker_loses_its_upload_and_a_beating_one_keeps_it(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        upload = create_footage_upload(session, new_upload())
        move_footage_upload(session, upload.id, "receiving", "processing")
        session.commit()
        assert touch_footage_upload(session, upload.id)
        session.commit()
        now = datetime.now(UTC)
        assert not take_over_footage_upload(session, upload.id, now - timedelta(minutes=5))
        assert take_over_footage_upload(session, upload.id, now + timedelta(minutes=5))
        session.commit()


def test_labels_are_checked_against_live_cameras_by_id_and_name(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        upsert_camera(session, CameraSpec("gate-1", "Main Gate", "rtsp://10.0.0.1/a"))
        upsert_camera(session, CameraSpec("shop-7", "Shop 7", "", kind="offline"))
        session.commit()
        assert live_camera_named(session, "MAIN gate ") == "gate-1"
        assert live_camera_named(session, "Gate-1") == "gate-1"
        assert live_camera_named(session, "Shop 7") is None  # an offline source's own label
        assert (camera_kind(session, "gate-1"), camera_kind(session, "shop-7")) == (
            "live", "offline",
        )  # fmt: skip
        assert camera_kind(session, "nowhere") is None
        offline = get_camera(session, "shop-7")
    assert offline is not None and offline.kind == "offline" and offline.main_url == ""
    with pytest.raises(ValueError, match="no stream URLs"):
        CameraSpec("shop-8", "Shop 8", "rtsp://10.0.0.8/a", kind="offline")
    with pytest.raises(ValueError, match="kind"):
        CameraSpec("shop-9", "Shop 9", "", kind="archive")
