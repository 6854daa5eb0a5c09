"""ORM rows of the SQL catalog (SQLAlchemy 2 typed models) and the UTC-only datetime column type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, identical on SQLite and PostgreSQL (the migration uses them).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids on PostgreSQL (FAISS ids are int64); INTEGER on SQLite so the column aliases the rowid.
RowId = BigInteger().with_variant(Integer(), "sqlite")
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class NaiveDatetimeError(ValueError):
    """A datetime without tzinfo reached the catalog; every catalog time must be UTC-aware."""


def ensure_utc(value: datetime, what: str = "datetime") -> datetime:
    """Return `value` converted to UTC; raise NaiveDatetimeError if it has no timezone."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(
            f"{what} {value.isoformat()} is naive: catalog times must be timezone-aware (UTC)"
        )
    return value.astimezone(UTC)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp column that only accepts aware datetimes and always returns aware UTC ones.

    PostgreSQL stores `timestamptz`; SQLite stores the UTC wall time as fixed-width text, so
    lexical order equals time order and equality works for unique keys.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc_value = ensure_utc(value)
        if dialect.name == "sqlite":
            return utc_value.replace(tzinfo=None)
        return utc_value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base carrying the catalog's metadata and naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CameraRow(Base):
    """A camera and its stream URLs (URLs may hold credentials: log them via redact_url)."""

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    main_url: Mapped[str] = mapped_column(Text)
    sub_url: Mapped[str | None] = mapped_column(Text)
    detect_fps: Mapped[float] = mapped_column(Float, default=5.0)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tiles: Mapped[str] = mapped_column(String(8), default="1x1", server_default="1x1")
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA; None: SKYNET_TIMEZONE
    # The camera's group (index/catalog/camera_groups.py), at most one; checked by the repository.
    group_name: Mapped[str | None] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # live: streams ingest connects to; offline: uploaded footage only, no URL (issue #15)
    kind: Mapped[str] = mapped_column(String(16), default="live", server_default="live")


class SegmentRow(Base):
    """One recorded MP4 segment in object storage."""

    __tablename__ = "segments"
    __table_args__ = (Index(None, "camera_id", "start_at"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)
    object_key: Mapped[str] = mapped_column(String(512), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class RecordingGapRow(Base):
    """A span of time with no recording (stream down, storage down, ...)."""

    __tablename__ = "recording_gaps"
    __table_args__ = (Index(None, "camera_id", "start_at"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(String(200))


class TrackRow(Base):
    """One finished object track: the unit of search (one record per track, not per frame)."""

    __tablename__ = "tracks"
    __table_args__ = (
        UniqueConstraint("camera_id", "local_track_id", "start_at"),
        Index(None, "camera_id", "start_at", "end_at", "class_name"),  # covers time filters
        Index(None, "class_name", "start_at"),
        Index(None, "embedding_version"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    local_track_id: Mapped[int] = mapped_column(BigInteger)
    class_name: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)
    best_shot_at: Mapped[datetime] = mapped_column(UtcDateTime)
    bbox_x1: Mapped[float] = mapped_column(Float)
    bbox_y1: Mapped[float] = mapped_column(Float)
    bbox_x2: Mapped[float] = mapped_column(Float)
    bbox_y2: Mapped[float] = mapped_column(Float)
    thumbnail_key: Mapped[str | None] = mapped_column(String(512))
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_version: Mapped[str | None] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    trajectory: Mapped[list[list[float]]] = mapped_column(JsonDocument, default=list)
    frame_width_px: Mapped[int | None] = mapped_column(Integer)  # the analysed frame's size:
    frame_height_px: Mapped[int | None] = mapped_column(Integer)  # places it in zones
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    detector_version: Mapped[str | None] = mapped_column(String(200))  # #15; None: not recorded


class ZoneRow(Base):
    """A named region of one camera's image: polygon vertices [[x, y], ...] as fractions of
    the frame's width and height, so it fits the main and the sub stream alike."""

    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("camera_id", "name"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    name: Mapped[str] = mapped_column(String(100))
    polygon: Mapped[list[list[float]]] = mapped_column(JsonDocument)
    # The zone's rule (detect.zone_rules.ZoneRule): schedule {"days": [0..6], "windows":
    # ["07:00-22:00", ...]} or None (always); classes [names] or None (the kind's defaults).
    kind: Mapped[str] = mapped_column(String(32), default="generic", server_default="generic")
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    min_dwell_s: Mapped[float] = mapped_column(Float, default=300.0, server_default="300")
    sensitivity: Mapped[float] = mapped_column(Float, default=0.5, server_default="0.5")
    classes: Mapped[list[str] | None] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class EventRow(Base):
    """A violation event (issue #13) and its review. `local_track_ids` are the tracker's ids on
    the camera; `evidence` is [{"key": object key, "at": ISO time}, ...] of its snapshots."""

    __tablename__ = "events"
    __table_args__ = (
        Index(None, "camera_id", "started_at"),
        Index(None, "zone_id", "kind", "last_seen_at"),  # the merge look-up
        Index(None, "state", "started_at"),  # the review queue
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    zone_id: Mapped[int | None] = mapped_column(RowId, ForeignKey("zones.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    severity: Mapped[str] = mapped_column(String(16))
    local_track_ids: Mapped[list[int]] = mapped_column(JsonDocument, default=list)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    state: Mapped[str] = mapped_column(String(16), default="open")
    reviewer: Mapped[str | None] = mapped_column(String(200))
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class OutboxRow(Base):
    """A change to publish (topic like "violation.opened", "camera.offline"), written in the
    same transaction as the change; ids only grow, so readers resume after the last one seen."""

    __tablename__ = "outbox"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class TrackZoneRow(Base):
    """A track that passed through a zone (a foot point of its trajectory lies inside it)."""

    __tablename__ = "track_zones"
    __table_args__ = (Index(None, "zone_id", "track_id"),)  # zone filter: ids from the index

    track_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    zone_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("zones.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )


class CaseRow(Base):
    """An investigation case that searches and exports are filed under."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditRow(Base):
    """One audited action; the table is append-only (database triggers refuse UPDATE/DELETE)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "at"), Index(None, "principal", "at"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    principal: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    query_type: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"))
    purpose: Mapped[str | None] = mapped_column(Text)
    filters: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    hit_count: Mapped[int | None] = mapped_column(Integer)
    target: Mapped[str | None] = mapped_column(String(512))
    # The hash chain (issue #17, index/catalog/audit_chain.py): position, link, own hashes.
    seq: Mapped[int] = mapped_column(RowId, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class ApiKeyRow(Base):
    """An API key: only its SHA-256 is stored; camera_ids None means every camera."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(64))
    camera_ids: Mapped[list[str] | None] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # None: never expires


class JobRow(Base):
    """A background job (search, export, re-index), its request (`params`), progress and result.

    A job waiting or running is held by one runner (`runner_id`, one per API process), which
    refreshes `heartbeat_at` while it lives; a job whose heartbeat has gone stale was left by a
    dead process and another runner may take it over.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index(None, "state", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    params: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)
    owner: Mapped[str | None] = mapped_column(String(200))  # principal who started it
    runner_id: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)



class WebhookRow(Base):
    """A webhook subscriber (issue #13): where the outbox is pushed. `secret` signs each body
    (HMAC-SHA256), so it is stored as given; the API shows it once, at creation. `topics` are
    fnmatch patterns ("violation.*"); None: every topic. After a rotation the replaced secret
    also signs deliveries until `previous_secret_until` (the overlap, migration 0016)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(200))
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    topics: Mapped[list[str] | None] = mapped_column(JsonDocument)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class WebhookCursorRow(Base):
    """One subscriber's delivery state: every outbox row up to `delivered_through_id` was
    answered 2xx (or dead-lettered); the next one has failed `attempts` times so far."""

    __tablename__ = "webhook_cursors"

    webhook_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True,
        autoincrement=False,
    )  # fmt: skip
    delivered_through_id: Mapped[int] = mapped_column(RowId)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class WebhookDeadLetterRow(Base):
    """An outbox row a subscriber did not accept after the allowed attempts; an admin may ask
    for it to be sent again (`retry_requested_at`); it is deleted once the subscriber takes it."""

    __tablename__ = "webhook_dead_letters"
    __table_args__ = (UniqueConstraint("webhook_id", "outbox_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(RowId, ForeignKey("webhooks.id", ondelete="CASCADE"))
    outbox_id: Mapped[int] = mapped_column(RowId, ForeignKey("outbox.id", ondelete="CASCADE"))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text)
    dead_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    retry_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CameraLinkRow(Base):
    """The last camera.online / camera.offline state published for a camera."""

    __tablename__ = "camera_links"

    camera_id: Mapped[str] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    online: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PlateRow(Base):
    """A vehicle track's licence plate (issue #14): the voted text, its confidence, format and
    colour; `alternatives` [[text, score], ...] ranked; `reads` [{"text", "confidence", "at",
    "box": [x1, y1, x2, y2]}, ...] the evidence of each read; `crop_key` the plate crop's object
    key. One plate per track; `text` is normalised (upper-case, no separators)."""

    __tablename__ = "plates"
    __table_args__ = (
        # varchar_pattern_ops: PostgreSQL's LIKE 'A12%' prefix search uses the index whatever
        # the database's collation (equality uses it too).
        Index(None, "text", postgresql_ops={"text": "varchar_pattern_ops"}),
    )

    track_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    text: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    plate_format: Mapped[str] = mapped_column(String(16))
    colour: Mapped[str] = mapped_column(String(16))
    alternatives: Mapped[list[list[Any]]] = mapped_column(JsonDocument, default=list)
    reads: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    crop_key: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


def insert_ignoring_conflict(session: Session, row_class: type[Base]) -> Any:
    """A Core INSERT for the row's table in the session's dialect (both dialects support
    ON CONFLICT DO NOTHING ... RETURNING); Core skips the ORM's per-row bookkeeping."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(cast(Table, row_class.__table__))
