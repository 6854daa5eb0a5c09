"""ORM rows of accounts (issue #17): camera groups, user accounts, their session tokens and the
camera grants of users and API keys. Kept beside index/catalog/rows.py (same `Base`, same
naming convention) so the catalog's metadata and migration 0012 hold them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from index.catalog.rows import Base, RowId, UtcDateTime, utc_now


class CameraGroupRow(Base):
    """A named set of cameras (a district, a site): grants and retention tiers name groups.
    A camera belongs to at most one group (`cameras.group_name`)."""

    __tablename__ = "camera_groups"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class UserRow(Base):
    """A person's account: an argon2 password hash (never the password), a role, and the
    failed-login count behind the lock-out (`failed_logins` since `first_failed_at`)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class UserSessionRow(Base):
    """One issued session token, by its JWT id: valid until `expires_at` unless revoked (logout,
    rotation, disabling the user). A rotation carries `started_at` on, which bounds the session."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index(None, "user_id"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(RowId, ForeignKey("users.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class GrantRow(Base):
    """Cameras a user or an API key may see: one camera, one camera group, or (both empty)
    every camera. Exactly one of `user_id`, `key_id` is set."""

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (key_id IS NULL)", name="one_holder"),
        CheckConstraint("camera_id IS NULL OR group_name IS NULL", name="one_target"),
        Index(None, "user_id"),
        Index(None, "key_id"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(RowId, ForeignKey("users.id", ondelete="CASCADE"))
    key_id: Mapped[int | None] = mapped_column(RowId, ForeignKey("api_keys.id", ondelete="CASCADE"))
    camera_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("cameras.id"))
    group_name: Mapped[str | None] = mapped_column(
        String(100), ForeignKey("camera_groups.name", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    created_by: Mapped[str] = mapped_column(String(200))
