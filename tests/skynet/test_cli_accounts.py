"""`skynet user …` and `skynet camera-group …` on a real SQLite catalog (issue #17): users
added with a hashed password, granted cameras and groups, disabled, re-passworded; bad input
named and nothing changed; every change audited as cli:<user>."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.catalog import audit_entries, create_api_key, principal_for_key, upsert_camera
from index.catalog.accounts import user_credentials
from index.catalog.camera_groups import camera_group_of
from index.catalog.engine import init_catalog, session_factory
from index.catalog.grants import granted_cameras
from index.catalog.values import CameraSpec
from index.passwords import password_matches
from skynet.cli import app

PASSWORD = "a long enough secret"


@pytest.fixture
def catalog_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with session_factory(init_catalog(url))() as session:
        for camera in ("gate", "lane", "plaza"):
            upsert_camera(session, CameraSpec(camera, camera, "rtsp://10.0.0.5/main"))
        session.commit()
    return url


def run(*args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exit_code != 0
    return result.output


def test_users_groups_and_grants(catalog_url: str) -> None:
    run("camera-group", "add", "north", "--description", "north district")
    run("camera-group", "assign", "gate", "north")
    run("camera-group", "assign", "lane", "north")
    assert "gate, lane" in run("camera-group", "list")
    run("user", "add", "ana", "--role", "investigator", "--password-stdin", stdin=PASSWORD + "\n")
    run("user", "grant", "ana", "--group", "north", "--camera", "plaza")
    run("user", "grant", "ana", "--camera", "plaza", "--revoke")
    listed = run("user", "list")
    assert "ana" in listed and "investigator" in listed and "group:north" in listed
    sessions = session_factory(init_catalog(catalog_url))
    with sessions() as session:
        found = user_credentials(session, "ana")
        assert found is not None and PASSWORD not in found.password_hash
        assert password_matches(found.password_hash, PASSWORD)
        assert granted_cameras(session, user_id=found.user.id) == {"gate", "lane"}
    run("camera-group", "assign", "lane", "--none")
    run("user", "passwd", "ana", stdin="another long secret\nanother long secret\n")
    run("user", "disable", "ana")
    assert "disabled" in run("user", "list")
    with sessions() as session:
        assert camera_group_of(session, "lane") is None
        found = user_credentials(session, "ana")
        assert found is not None and found.user.disabled_at is not None
        assert password_matches(found.password_hash, "another long secret")
        actions = [e.action for e in audit_entries(session) if e.principal.startswith("cli:")]
    assert actions == [
        "camera_group_create", "camera_group_assign", "camera_group_assign", "user_create",
        "grant_add", "grant_remove", "camera_group_assign", "user_password", "user_disable",
    ]  # fmt: skip


def test_key_grants_widen_a_camera_limited_key(catalog_url: str) -> None:
    with session_factory(init_catalog(catalog_url))() as session:
        key = create_api_key(session, "desk", "operator", ["gate"])
        session.commit()
    run("camera-group", "add", "south")
    run("camera-group", "assign", "plaza", "south")
    run("user", "grant", "desk", "--key", "--group", "south")
    with session_factory(init_catalog(catalog_url))() as session:
        principal = principal_for_key(session, key)
        assert principal is not None and principal.camera_ids == {"gate", "plaza"}


def test_bad_input_is_named_and_changes_nothing(catalog_url: str) -> None:
    assert "at least 12" in refused(
        "user", "add", "bo", "--role", "viewer", "--password-stdin", stdin="short\n"
    )
    assert "role" in refused(
        "user", "add", "bo", "--role", "root", "--password-stdin", stdin=PASSWORD + "\n"
    )
    run("user", "add", "bo", "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n")
    assert "exists already" in refused(
        "user", "add", "bo", "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert "no camera group 'east'" in refused("user", "grant", "bo", "--group", "east")
    assert "no user 'zed'" in refused("user", "grant", "zed", "--all-cameras")
    assert "--camera, --group or --all-cameras" in refused("user", "grant", "bo")
    assert "no user named 'zed'" in refused("user", "disable", "zed")
    assert "no camera group" in refused("camera-group", "assign", "gate", "east")
    assert "GROUP or --none" in refused("camera-group", "assign", "gate")
    with session_factory(init_catalog(catalog_url))() as session:
        found = user_credentials(session, "bo")
        assert found is not None and granted_cameras(session, user_id=found.user.id) == set()
        assert camera_group_of(session, "gate") is None
