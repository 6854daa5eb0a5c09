"""Value objects crossing the catalog boundary (frozen dataclasses, never ORM rows); redact_url.

Upstream stages' values are not copied here: segments cross as ingest's `Segment`, and a
finished track becomes a `NewTrack` only through `NewTrack.from_record` (detect's `TrackRecord`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from detect.track_record import TrackRecord
from detect.zone_rules import check_timezone
from index.catalog.attributes import AttributeFilter
from index.catalog.rows import ensure_utc

CAMERA_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Detector tiling "COLSxROWS": tiles plus the full frame cost (1 + cols·rows)× the plain detector.
TILES_PATTERN = re.compile(r"^([1-3])x([1-3])$")
TRAJECTORY_POINT_LEN = 5  # [t_s, x1, y1, x2, y2]
# One track record spans at most this long (longer presences are stored in parts); time
# filters rely on it to bound their index range scans.
MAX_TRACK_SPAN = timedelta(hours=1)
SECRET_QUERY_KEYS = frozenset(
    {"password", "passwd", "pwd", "pass", "token", "secret", "key", "auth", "apikey", "api_key"}
)


def redact_url(url: str) -> str:
    """`url` without user:password in the authority and with secret-looking query values masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, "***" if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs]
        query = urlencode(masked, safe="*/:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# Camera URL schemes every deployment accepts; anything else (http, file, udp, ...) can make the
# ingest process fetch internal URLs or read local files, so it needs the admin's allow-list.
DEFAULT_CAMERA_URL_SCHEMES = frozenset({"rtsp", "rtsps"})
CAMERA_KINDS = ("live", "offline")


class CameraUrlRefusedError(ValueError):
    """A camera URL outside the default schemes and the admin's allow-list; names the field."""


def camera_url_allowed(url: str, allow: Sequence[str] = ()) -> bool:
    """True for `rtsp://` and `rtsps://` URLs, and for URLs an `allow` entry admits.

    An entry is a scheme (`http` or `http://`: any host) or `scheme://host[:port]` (that host
    exactly, that port if given). Hosts compare exactly, never as text prefixes, so
    `http://cam.lan` does not admit `http://cam.lan.evil.example`.
    """
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return False
    if scheme in DEFAULT_CAMERA_URL_SCHEMES:
        return True
    for entry in allow:
        entry = entry.strip()
        if not entry:
            continue
        entry_scheme, _, rest = entry.partition("://")
        if entry_scheme.lower() != scheme or not scheme:
            continue
        if not rest.strip("/"):
            return True
        try:
            allowed = urlsplit(f"{scheme}://{rest}")
            allowed_host, allowed_port = (allowed.hostname or "").lower(), allowed.port
        except ValueError:
            continue
        if allowed_host == host and (allowed_port is None or allowed_port == port):
            return True
    return False


# A file given as a live camera loops forever with wall-clock times, flooding the catalog with
# duplicate segments and tracks (issue #15: 68 loops, 199 tracks in 30 s from a 20 s clip):
# files are footage, uploaded with their own start time, never a live camera, allow-list or not.
FOOTAGE_HINT = (
    "a video file is not a live camera: upload it as footage with `skynet footage add FILE "
    "--label NAME` or POST /api/v1/footage/uploads"
)


def check_camera_urls(spec: CameraSpec, allow: Sequence[str] = ()) -> CameraSpec:
    """Return `spec` if both its URLs are allowed; else CameraUrlRefusedError naming the field.
    `file://` is refused whatever the allow-list says (FOOTAGE_HINT); offline cameras have no
    URLs to check."""
    for label, url in (("main_url", spec.main_url), ("sub_url", spec.sub_url)):
        if url is not None and urlsplit(url).scheme.lower() == "file":
            raise CameraUrlRefusedError(f"{label}: {FOOTAGE_HINT}")
        if spec.kind == "offline":
            continue
        if url is not None and not camera_url_allowed(url, allow):
            raise CameraUrlRefusedError(
                f"{label}: camera {spec.id!r} URL {redact_url(url)!r} is refused: only rtsp:// "
                "and rtsps:// unless the admin allows more with SKYNET_CAMERA_URL_ALLOW"
            )
    return spec


def check_camera_id(camera_id: str) -> str:
    """Return `camera_id` if it is a valid id (letters, digits, `_.-`, at most 64), else raise."""
    if not isinstance(camera_id, str) or not CAMERA_ID_PATTERN.match(camera_id):
        raise ValueError(
            f"camera id {camera_id!r} is invalid: use 1-64 letters, digits, '_', '.', '-'"
        )
    return camera_id


def parse_tiles(tiles: str) -> tuple[int, int]:
    """(cols, rows) of a detector tiling such as "2x2"; "1x1" is the full frame only."""
    match = TILES_PATTERN.fullmatch(tiles) if isinstance(tiles, str) else None
    if match is None:
        raise ValueError(f"tiles {tiles!r} is invalid: use COLSxROWS with 1-3 each, like '2x2'")
    return int(match[1]), int(match[2])


def check_role(role: str) -> str:
    """Return `role` if it is a lowercase identifier, else raise ValueError."""
    if not isinstance(role, str) or not ROLE_PATTERN.match(role):
        raise ValueError(f"role {role!r} is invalid: use a lowercase identifier like 'viewer'")
    return role


def check_time_range(start: datetime, end: datetime, what: str) -> tuple[datetime, datetime]:
    """Both ends as aware UTC; raise if naive or if end is before start."""
    start_utc = ensure_utc(start, f"{what} start")
    end_utc = ensure_utc(end, f"{what} end")
    if end_utc < start_utc:
        raise ValueError(
            f"{what} ends ({end_utc.isoformat()}) before it starts ({start_utc.isoformat()})"
        )
    return start_utc, end_utc


def embedding_to_bytes(vector: np.ndarray | Sequence[float]) -> bytes:
    """A 1-D embedding as little-endian float32 bytes (the catalog's storage format)."""
    array = np.asarray(vector, dtype="<f4")
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"embedding must be a non-empty 1-D vector, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("embedding contains NaN or infinite values")
    return array.tobytes()


def embedding_from_bytes(data: bytes) -> np.ndarray:
    """The float32 vector stored by embedding_to_bytes."""
    if len(data) % 4:
        raise ValueError(f"embedding blob of {len(data)} bytes is not float32 data")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


@dataclass(frozen=True)
class Principal:
    """Who is calling: name, role, the cameras they may see (None: every camera; else their
    granted cameras and those of their granted camera groups) and what authenticated them
    (issue #17): an API key (`key_id`), a user's session token (`user_id`, `session_id`: the
    token's JWT id) or an external OIDC issuer's token (`subject`). Names are labels, not
    identities: jobs and links use `principal_id`."""

    name: str
    role: str
    camera_ids: frozenset[str] | None
    key_id: int | None = None
    kind: str = "key"  # "key", "user" or "oidc"
    user_id: int | None = None
    session_id: str | None = None
    subject: str | None = None

    def can_see(self, camera_id: str) -> bool:
        return self.camera_ids is None or camera_id in self.camera_ids

    @property
    def principal_id(self) -> str:
        """A stable identity: `key:<id>` for API keys (unique even when names repeat),
        `user:<id>` for users, `oidc:<subject>` for an external issuer's subjects."""
        if self.key_id is not None:
            return f"key:{self.key_id}"
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.subject is not None:
            return f"oidc:{self.subject}"
        return f"name:{self.name}"


@dataclass(frozen=True)
class CameraSpec:
    """A camera's configuration. URLs may carry credentials, so they are kept out of repr."""

    id: str
    name: str
    main_url: str = field(repr=False)
    sub_url: str | None = field(default=None, repr=False)
    detect_fps: float = 5.0
    lat: float | None = None
    lon: float | None = None
    heading_deg: float | None = None
    enabled: bool = True
    tiles: str = "1x1"  # detector tiling COLSxROWS for small, distant objects
    timezone: str | None = None  # IANA name for zone schedules; None: SKYNET_TIMEZONE
    # "live" (ingest connects to its URLs) or "offline" (uploaded footage, no URLs; issue #15)
    kind: str = "live"

    def __post_init__(self) -> None:
        check_camera_id(self.id)
        if not self.name or not self.name.strip():
            raise ValueError(f"camera {self.id!r} needs a non-empty name")
        if self.kind not in CAMERA_KINDS:
            raise ValueError(f"camera {self.id!r} kind {self.kind!r} not one of {CAMERA_KINDS}")
        if self.kind == "offline" and (self.main_url or self.sub_url):
            raise ValueError(f"offline camera {self.id!r} has no stream URLs (footage only)")
        for label, url in (("main_url", self.main_url), ("sub_url", self.sub_url)):
            if self.kind == "live" and url is not None and "://" not in url:
                raise ValueError(
                    f"camera {self.id!r} {label} {redact_url(url)!r} has no scheme (a live "
                    f"camera needs a stream URL such as rtsp://…; {FOOTAGE_HINT})"
                )
        if not (math.isfinite(self.detect_fps) and 0 < self.detect_fps <= 60):
            raise ValueError(f"camera {self.id!r} detect_fps {self.detect_fps} not in (0, 60]")
        if self.lat is not None and not -90 <= self.lat <= 90:
            raise ValueError(f"camera {self.id!r} latitude {self.lat} not in [-90, 90]")
        if self.lon is not None and not -180 <= self.lon <= 180:
            raise ValueError(f"camera {self.id!r} longitude {self.lon} not in [-180, 180]")
        if self.heading_deg is not None and not 0 <= self.heading_deg < 360:
            raise ValueError(f"camera {self.id!r} heading_deg {self.heading_deg} not in [0, 360)")
        parse_tiles(self.tiles)
        if self.timezone is not None:
            check_timezone(self.timezone)

    @property
    def tile_grid(self) -> tuple[int, int]:
        """(cols, rows) of `tiles`."""
        return parse_tiles(self.tiles)


@dataclass(frozen=True)
class RecordingGap:
    """A span without recording for one camera, and why."""

    id: int
    camera_id: str
    start_at: datetime
    end_at: datetime
    reason: str


@dataclass(frozen=True)
class NewTrack:
    """A finished track to store: one record per track, with its best shot and embedding.

    `best_bbox_xyxy_px` is the best shot's box; `trajectory` rows are [t_s, x1, y1, x2, y2]
    with t_s seconds since `start_at`; `embedding` is float32 bytes (see embedding_to_bytes).
    `frame_size_px` (width, height) of the analysed frames places the track in zones; a track
    without it is in no zone.
    """

    camera_id: str
    local_track_id: int
    class_name: str
    confidence: float
    start_at: datetime
    end_at: datetime
    best_shot_at: datetime
    best_bbox_xyxy_px: tuple[float, float, float, float]
    thumbnail_key: str | None = None
    embedding: bytes | None = field(default=None, repr=False)
    embedding_version: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    trajectory: Sequence[Sequence[float]] = ()
    frame_size_px: tuple[int, int] | None = None
    detector_version: str | None = None  # the detector that found it (#15; None: not recorded)

    def __post_init__(self) -> None:
        check_camera_id(self.camera_id)
        what = f"track {self.camera_id}/{self.local_track_id}"
        start_utc, end_utc = check_time_range(self.start_at, self.end_at, what)
        if end_utc - start_utc > MAX_TRACK_SPAN:
            raise ValueError(f"{what} spans more than {MAX_TRACK_SPAN}: store it in parts")
        best_utc = ensure_utc(self.best_shot_at, f"{what} best_shot_at")
        object.__setattr__(self, "start_at", start_utc)
        object.__setattr__(self, "end_at", end_utc)
        object.__setattr__(self, "best_shot_at", best_utc)
        if not self.class_name:
            raise ValueError(f"{what} needs a class_name")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"{what} confidence {self.confidence} not in [0, 1]")
        if len(self.best_bbox_xyxy_px) != 4:
            raise ValueError(f"{what} best_bbox_xyxy_px needs 4 numbers")
        x1, y1, x2, y2 = self.best_bbox_xyxy_px
        if not (x2 >= x1 and y2 >= y1):
            raise ValueError(
                f"{what} best_bbox_xyxy_px {self.best_bbox_xyxy_px} has x2 < x1 or y2 < y1"
            )
        if (self.embedding is None) != (self.embedding_version is None):
            raise ValueError(f"{what}: embedding and embedding_version go together")
        if self.embedding is not None:
            embedding_from_bytes(self.embedding)
        for point in self.trajectory:
            if len(point) != TRAJECTORY_POINT_LEN:
                raise ValueError(f"{what} trajectory point {list(point)} is not [t_s,x1,y1,x2,y2]")
        if self.frame_size_px is not None and (
            len(self.frame_size_px) != 2 or min(self.frame_size_px) < 1
        ):
            raise ValueError(f"{what} frame_size_px {self.frame_size_px} is not (width, height)")

    @classmethod
    def from_record(
        cls, record: TrackRecord, thumbnail_key: str, detector_version: str | None = None
    ) -> NewTrack:
        """The catalog row of detect's finished track whose best shot is stored under
        `thumbnail_key` (the pictures themselves go to object storage, not the catalog), found
        by `detector_version`."""
        return cls(
            camera_id=record.camera_id,
            local_track_id=record.local_track_id,
            class_name=record.class_name,
            confidence=record.confidence,
            start_at=record.start_at,
            end_at=record.end_at,
            best_shot_at=record.best_shot_at,
            best_bbox_xyxy_px=record.best_box,
            thumbnail_key=thumbnail_key,
            embedding=embedding_to_bytes(record.embedding),
            embedding_version=record.embedding_version,
            attributes=record.attributes,
            trajectory=record.trajectory,
            frame_size_px=record.frame_size_px,
            detector_version=detector_version,
        )


@dataclass(frozen=True, kw_only=True)
class StoredTrack(NewTrack):
    """A track as stored in the catalog, with its catalog id (also its FAISS id)."""

    id: int
    created_at: datetime


@dataclass(frozen=True)
class CaseRecord:
    """An investigation case."""

    id: str
    title: str
    created_by: str
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class AuditEntry:
    """One audit-log row as read back. Every field but `id`, `seq` and `entry_hash` is the
    entry's content, hashed into the chain (audit_chain.py): a new field changes every hash."""

    id: int
    at: datetime
    principal: str
    role: str
    action: str
    query_type: str | None
    case_id: str | None
    purpose: str | None
    filters: Mapping[str, Any]
    image_sha256: str | None
    hit_count: int | None
    target: str | None
    seq: int = 0  # its place in the hash chain (issue #17)
    entry_hash: str = ""


@dataclass(frozen=True)
class ApiKeyInfo:
    """An API key's metadata (never the key itself)."""

    id: int
    name: str
    role: str
    camera_ids: frozenset[str] | None
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class JobRecord:
    """A background job's state."""

    id: str
    kind: str
    state: str
    progress: float
    params: Mapping[str, Any]
    result: Mapping[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TrackQuery:
    """Which stored tracks a search considers: cameras, time, classes, zones and attributes.

    None leaves a dimension unrestricted; an empty tuple matches nothing. A track is in the
    time window when it overlaps [start, end); in the zones when it entered any of them. Every
    search path (the API's searches, search jobs, vector pre-filters) reads tracks through the
    one filter that applies this query (index/catalog/tracks.py).
    """

    camera_ids: tuple[str, ...] | None = None
    start: datetime | None = None
    end: datetime | None = None
    class_names: tuple[str, ...] | None = None
    zone_ids: tuple[int, ...] | None = None
    attributes: AttributeFilter = field(default_factory=AttributeFilter)

    def __post_init__(self) -> None:
        for name in ("camera_ids", "class_names"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(str(v) for v in value))
        if self.zone_ids is not None:
            object.__setattr__(self, "zone_ids", tuple(int(i) for i in self.zone_ids))
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is not None:
                ensure_utc(moment, f"track query {name}")  # refuses naive times

    def matches_nothing(self) -> bool:
        """True when a dimension is restricted to an empty set."""
        restricted = (self.camera_ids, self.class_names, self.zone_ids)
        return any(v is not None and not v for v in restricted)

    def restricts_rows(self) -> bool:
        """False when every stored track passes (no dimension and no attribute restricted)."""
        dimensions = (self.camera_ids, self.start, self.end, self.class_names, self.zone_ids)
        return any(v is not None for v in dimensions) or not self.attributes.is_empty()

    def as_json(self) -> dict[str, Any]:
        """The whole query as JSON (audit entries, stored job requests); see `from_json`."""
        attributes: dict[str, Any] = self.attributes.as_json()
        if self.attributes.min_confidence:
            attributes["min_confidence"] = self.attributes.min_confidence
        return {
            "camera_ids": None if self.camera_ids is None else list(self.camera_ids),
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "classes": None if self.class_names is None else list(self.class_names),
            "attributes": attributes,
            "zone_ids": None if self.zone_ids is None else list(self.zone_ids),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TrackQuery:
        def moment(value: str | None) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value)

        cameras, classes, zone_ids = doc.get("camera_ids"), doc.get("classes"), doc.get("zone_ids")
        return cls(
            camera_ids=None if cameras is None else tuple(cameras),
            start=moment(doc.get("start")),
            end=moment(doc.get("end")),
            class_names=None if classes is None else tuple(classes),
            zone_ids=None if zone_ids is None else tuple(int(i) for i in zone_ids),
            attributes=AttributeFilter(**doc.get("attributes", {})),
        )


@dataclass(frozen=True)
class TrackMatch:
    """A stored track that passed a `TrackQuery`, with the confidence of each attribute the
    query asked for (a measurement in range counts with confidence 1)."""

    track_id: int
    matched: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackSpan:
    """Where and when one stored track was seen (a light read for time-window searches)."""

    track_id: int
    camera_id: str
    class_name: str
    start_at: datetime
    end_at: datetime


EVENT_STATES = ("open", "confirmed", "dismissed", "resolved")
REVIEW_STATES = ("confirmed", "dismissed", "resolved")


@dataclass(frozen=True)
class EvidencePicture:
    """One stored evidence snapshot of an event: its object key and when it was taken."""

    key: str
    at: datetime

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "at": self.at.isoformat()}


@dataclass(frozen=True)
class Event:
    """A violation event (issue #13) and its review; `kind` is detect's ViolationKind, the API's
    `type`. `zone_id` is None once its zone was removed; `ended_at` None while it goes on."""

    id: int
    kind: str
    camera_id: str
    zone_id: int | None
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    severity: str
    local_track_ids: tuple[int, ...]
    evidence: tuple[EvidencePicture, ...]
    state: str
    reviewer: str | None
    review_note: str | None
    reviewed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The event as the outbox publishes it (picture keys, not links)."""
        def moment(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": self.id,
            "type": self.kind,
            "camera_id": self.camera_id,
            "zone_id": self.zone_id,
            "started_at": self.started_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            "ended_at": moment(self.ended_at),
            "severity": self.severity,
            "local_track_ids": list(self.local_track_ids),
            "evidence": [picture.as_json() for picture in self.evidence],
            "state": self.state,
            "reviewer": self.reviewer,
            "review_note": self.review_note,
            "reviewed_at": moment(self.reviewed_at),
        }


@dataclass(frozen=True)
class EventQuery:
    """Which events a listing or statistic covers; None leaves a dimension open, an empty
    tuple matches nothing. An event is in [start, end) when it was seen within it."""

    camera_ids: tuple[str, ...] | None = None
    zone_ids: tuple[int, ...] | None = None
    kinds: tuple[str, ...] | None = None
    states: tuple[str, ...] | None = None
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is not None:
                object.__setattr__(self, name, ensure_utc(moment, f"event query {name}"))
        unknown = sorted(set(self.states or ()) - set(EVENT_STATES))
        if unknown:
            raise ValueError(f"state: unknown state(s) {unknown}; use {list(EVENT_STATES)}")

    def matches_nothing(self) -> bool:
        return any(v is not None and not v for v in (self.camera_ids, self.zone_ids,
                                                     self.kinds, self.states))  # fmt: skip


@dataclass(frozen=True)
class EventStat:
    """Events of one group (a zone, a camera or a camera-local day): how many, by state, and
    how long they lasted in all (to their end or, while open, to when last seen)."""

    group: str  # "zone:<id>", a camera id or an ISO date
    camera_id: str | None
    zone_id: int | None
    day: str | None
    events: int
    by_state: Mapping[str, int]
    duration_s: float
    camera_name: str | None = None  # the camera's name (zone and camera groups)
    zone_name: str | None = None  # the zone's name (zone groups; None once it is removed)
