"""Camera groups (issue #17): create, list, assign (one group per camera), look-ups, and the
0012 migration leaving existing cameras in no group."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from index import catalog
from index.catalog import CameraSpec
from index.catalog.camera_groups import (
    DuplicateCameraGroupError,
    UnknownCameraGroupError,
    camera_group_of,
    cameras_in_group,
    create_camera_group,
    list_camera_groups,
    set_camera_group,
)
from tests.migration_support import upgraded_from


def _add_cameras(session: Session, *camera_ids: str) -> None:
    for camera_id in camera_ids:
        catalog.upsert_camera(session, CameraSpec(camera_id, camera_id, f"rtsp://h/{camera_id}"))


def test_groups_hold_each_camera_at_most_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _add_cameras(session, "a1", "a2", "b1", "lone")
        created = create_camera_group(session, "north", " District north ")
        assert (created.name, created.description, created.camera_ids) == (
            "north",
            "District north",
            (),
        )
        create_camera_group(session, "south")
        for camera_id in ("a1", "a2", "b1"):
            set_camera_group(session, camera_id, "north")
        set_camera_group(session, "b1", "south")  # moving leaves the old group
    with sessions() as session:
        groups = list_camera_groups(session)
        assert [(g.name, g.camera_ids) for g in groups] == [
            ("north", ("a1", "a2")),
            ("south", ("b1",)),
        ]
        assert groups[0].created_at.tzinfo is not None
        assert cameras_in_group(session, "north") == ["a1", "a2"]
        assert cameras_in_group(session, "nowhere") == []
        assert camera_group_of(session, "b1") == "south"
        assert camera_group_of(session, "lone") is None
        assert camera_group_of(session, "unknown") is None
    with sessions.begin() as session:
        set_camera_group(session, "a2", None)
    with sessions() as session:
        assert cameras_in_group(session, "north") == ["a1"]
        assert camera_group_of(session, "a2") is None


def test_bad_group_input_is_named_and_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _add_cameras(session, "a1")
        create_camera_group(session, "north")
        set_camera_group(session, "a1", "north")
    with sessions() as session:
        with pytest.raises(DuplicateCameraGroupError, match="exists already"):
            create_camera_group(session, "north")
        for bad in ("", "has space", "x" * 101):
            with pytest.raises(ValueError, match="group name"):
                create_camera_group(session, bad)
        with pytest.raises(UnknownCameraGroupError, match="no camera group 'east'"):
            set_camera_group(session, "a1", "east")
        with pytest.raises(catalog.UnknownCameraError, match="ghost"):
            set_camera_group(session, "ghost", "north")
        assert camera_group_of(session, "a1") == "north"
        assert [g.name for g in list_camera_groups(session)] == ["north"]


def test_migration_0012_leaves_existing_cameras_in_no_group(catalog_url: str) -> None:
    insert = (
        "INSERT INTO cameras (id, name, main_url, detect_fps, enabled, tiles, created_at,"
        " updated_at) VALUES ('old', 'Old', 'rtsp://h/m', 5.0, :yes, '1x1', :at, :at)"
    )
    at = datetime(2026, 3, 1, tzinfo=UTC)
    with upgraded_from(catalog_url, "0011_watchlists", insert, {"yes": True, "at": at}) as session:
        assert camera_group_of(session, "old") is None
        assert catalog.get_camera(session, "old") is not None
        assert list_camera_groups(session) == []
