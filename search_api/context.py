"""What the API needs at run time, built once by the application shell and shared by requests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from detect.track_builder import Embedder
from detect.worker import BatchDetector
from evidence.request import EvidenceKit
from index.catalog import SessionFactory
from index.footage_ingest import AnalysisHook, FootagePolicy
from index.retention import RetentionConfig, default_config
from index.vectors import VectorIndex
from ingest.camera_status import CameraStatus
from search_api.event_stream import EventStreamPolicy
from search_api.limits import ApiLimits
from search_api.tokens import AccountPolicy
from storage.ed25519 import PublicKey
from storage.objectstore import ObjectStore


@dataclass
class ApiContext:
    """Catalog sessions, object store, vector index and the query-side models."""

    sessions: SessionFactory
    store: ObjectStore
    vectors: VectorIndex
    detector: BatchDetector
    embedder: Embedder
    url_expiry_s: int = 3600
    signing_key: bytes = b""
    public_base_url: str = ""  # absolute links in responses; empty: links start at /api/v1
    camera_status: Callable[[], dict[str, CameraStatus]] | None = None
    limits: ApiLimits = field(default_factory=ApiLimits)
    # camera URL entries beyond rtsp(s):// (Settings.camera_url_allow; values.camera_url_allowed)
    camera_url_allow: tuple[str, ...] = ()
    # webhook hosts the server may post to (Settings.webhook_allow; webhooks.webhook_url_refusal)
    webhook_url_allow: tuple[str, ...] = ()
    event_stream: EventStreamPolicy = field(default_factory=EventStreamPolicy)
    # a camera's zone schedules and event days without a time zone of its own (SKYNET_TIMEZONE)
    default_timezone: str = "Asia/Shanghai"
    # retention (issue #17): the default tier until an admin sets one, and the legal floors
    retention: RetentionConfig = field(default_factory=default_config)
    # the key audit checkpoints must be signed by (issue #17; None: GET /audit/verify is 503)
    audit_public_key: PublicKey | None = None
    # uploaded footage (issue #15): limits and work dir (None: defaults, a temp work dir), and
    # what queues the analysis of its segments (None: stored, not analysed until a re-index)
    footage_policy: FootagePolicy | None = None
    footage_analysis: AnalysisHook | None = None
    # evidence exports (issue #17): signing key and face model dir (None: exports refused)
    evidence: EvidenceKit | None = None
    # users' sign-in (issue #17): session-token key and lifetimes, lock-out, OIDC issuer
    accounts: AccountPolicy = field(default_factory=AccountPolicy.ephemeral)
    # Swagger UI's files for /docs (Settings.models_dir / "docs"; None: the page cannot load)
    docs_assets_dir: Path | None = None
