"""User accounts, session rows, lock-out and camera grants in the catalog (issue #17), on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from index import catalog
from index.catalog import CameraSpec
from index.catalog.accounts import (
    DuplicateUserError,
    LockoutPolicy,
    UnknownUserError,
    active_user_session,
    create_user,
    disable_user,
    list_users,
    open_user_session,
    record_login_failure,
    record_login_success,
    revoke_user_session,
    set_password_hash,
    user_credentials,
)
from index.catalog.camera_groups import create_camera_group, set_camera_group
from index.catalog.grants import add_grant, granted_cameras, grants_of, remove_grants

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_users_are_unique_named_and_checked(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        alice = create_user(session, "alice", "investigator", "$argon2id$fake")
        assert (alice.name, alice.role, alice.disabled_at) == ("alice", "investigator", None)
    with sessions() as session:
        with pytest.raises(DuplicateUserError, match="exists already"):
            create_user(session, "alice", "viewer", "h")
        with pytest.raises(ValueError, match="role"):
            create_user(session, "zed", "root", "h")
        with pytest.raises(ValueError, match="name"):
            create_user(session, "has space", "viewer", "h")
        with pytest.raises(UnknownUserError):
            disable_user(session, "ghost")
        found = user_credentials(session, "alice")
        assert found is not None and found.password_hash == "$argon2id$fake"
        assert "fake" not in repr(found)
        assert [u.name for u in list_users(session)] == ["alice"]


def test_failures_within_the_window_lock_then_success_clears(
    sessions: sessionmaker[Session],
) -> None:
    policy = LockoutPolicy(3, timedelta(minutes=10), timedelta(minutes=15))
    with sessions.begin() as session:
        user = create_user(session, "bob", "viewer", "h")
        record_login_failure(session, user.id, T0, policy)
        record_login_failure(session, user.id, T0 + timedelta(minutes=11), policy)  # new window
        after = record_login_failure(session, user.id, T0 + timedelta(minutes=12), policy)
        assert after.failed_logins == 2 and not after.locked(T0 + timedelta(minutes=12))
        locked = record_login_failure(session, user.id, T0 + timedelta(minutes=13), policy)
        assert locked.locked(T0 + timedelta(minutes=13))
        assert locked.locked_until == T0 + timedelta(minutes=28)
        assert not locked.locked(T0 + timedelta(minutes=29))
        record_login_success(session, user.id)
    with sessions() as session:
        found = user_credentials(session, "bob")
        assert found is not None and found.user.locked_until is None
        assert found.user.failed_logins == 0


def test_sessions_end_by_expiry_revocation_password_change_and_disabling(
    sessions: sessionmaker[Session],
) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        user = create_user(session, "carol", "operator", "h")
        for jti in ("a", "b", "c", "old"):
            start = now - timedelta(hours=2) if jti == "old" else now
            open_user_session(session, user.id, jti, start, start, start + timedelta(minutes=15))
    with sessions.begin() as session:
        live = active_user_session(session, "a", now)
        assert live is not None and live.user.name == "carol"
        assert active_user_session(session, "old", now) is None  # expired
        assert active_user_session(session, "nope", now) is None
        assert revoke_user_session(session, "a", "logout")
        assert not revoke_user_session(session, "a", "logout")
        assert active_user_session(session, "a", now) is None
        set_password_hash(session, "carol", "h2")
        assert active_user_session(session, "b", now) is None
        open_user_session(session, user.id, "d", now, now, now + timedelta(minutes=15))
        disable_user(session, "carol")
        assert active_user_session(session, "d", now) is None


def test_grants_by_camera_group_and_all(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for camera in ("n1", "n2", "s1"):
            catalog.upsert_camera(session, CameraSpec(camera, camera, f"rtsp://h/{camera}"))
        create_camera_group(session, "north")
        set_camera_group(session, "n1", "north")
        user = create_user(session, "dave", "investigator", "h")
        assert granted_cameras(session, user_id=user.id) == frozenset()
        add_grant(session, "admin", user_id=user.id, group_name="north")
        add_grant(session, "admin", user_id=user.id, group_name="north")  # stored once
        add_grant(session, "admin", user_id=user.id, camera_id="s1")
        assert len(grants_of(session, user_id=user.id)) == 2
        assert granted_cameras(session, user_id=user.id) == {"n1", "s1"}
        set_camera_group(session, "n2", "north")  # group members are read at use
        assert granted_cameras(session, user_id=user.id) == {"n1", "n2", "s1"}
        add_grant(session, "admin", user_id=user.id)
        assert granted_cameras(session, user_id=user.id) is None
        assert remove_grants(session, user_id=user.id) == 1
        assert remove_grants(session, user_id=user.id, camera_id="s1") == 1
        assert granted_cameras(session, user_id=user.id) == {"n1", "n2"}
        with pytest.raises(LookupError, match="east"):
            add_grant(session, "admin", user_id=user.id, group_name="east")
        with pytest.raises(LookupError, match="ghost"):
            add_grant(session, "admin", user_id=user.id, camera_id="ghost")
        with pytest.raises(ValueError, match="not both"):
            add_grant(session, "admin", user_id=user.id, camera_id="s1", group_name="north")
        with pytest.raises(ValueError, match="exactly one"):
            add_grant(session, "admin", camera_id="s1")


def test_a_camera_limited_keys_grants_widen_it(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for camera in ("n1", "s1", "s2"):
            catalog.upsert_camera(session, CameraSpec(camera, camera, f"rtsp://h/{camera}"))
        create_camera_group(session, "south")
        set_camera_group(session, "s1", "south")
        plaintext = catalog.create_api_key(session, "desk", "operator", ["n1"])
        every = catalog.create_api_key(session, "hq", "operator")
        info = catalog.api_key_named(session, "desk")
        assert info is not None
        add_grant(session, "admin", key_id=info.id, group_name="south")
    with sessions() as session:
        desk = catalog.principal_for_key(session, plaintext)
        assert desk is not None and desk.camera_ids == {"n1", "s1"}
        hq = catalog.principal_for_key(session, every)
        assert hq is not None and hq.camera_ids is None  # existing keys keep working
