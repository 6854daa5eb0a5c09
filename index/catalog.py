"""The SQL catalog's public API: repository functions over a Session and their value objects.

Functions flush but never commit; the caller owns the transaction::

    engine = init_catalog("sqlite:///var/catalog.db")
    with session_factory(engine).begin() as session:
        track_id = add_track(session, new_track)
"""

from __future__ import annotations

from index.catalog_admin import (
    append_audit,
    audit_entries,
    close_case,
    create_api_key,
    create_case,
    create_job,
    get_case,
    get_job,
    jobs_in_state,
    list_api_keys,
    principal_for_key,
    revoke_api_key,
    update_job,
)
from index.catalog_models import NaiveDatetimeError
from index.catalog_recordings import (
    UnknownCameraError,
    add_recording_gap,
    add_segment,
    gaps_between,
    get_camera,
    list_cameras,
    remove_camera,
    segments_between,
    upsert_camera,
)
from index.catalog_tracks import (
    add_track,
    add_tracks,
    count_embeddings,
    get_track,
    set_track_embedding,
    track_embeddings,
    track_ids_matching,
    tracks_by_ids,
)
from index.catalog_values import (
    JOB_STATES,
    ApiKeyInfo,
    AuditEntry,
    CameraSpec,
    CaseRecord,
    JobRecord,
    NewTrack,
    Principal,
    RecordingGap,
    SegmentRecord,
    StoredTrack,
    embedding_from_bytes,
    embedding_to_bytes,
    redact_url,
)
from index.db import init_catalog, make_engine, session_factory, upgrade_to_head

__all__ = [
    "JOB_STATES",
    "ApiKeyInfo",
    "AuditEntry",
    "CameraSpec",
    "CaseRecord",
    "JobRecord",
    "NaiveDatetimeError",
    "NewTrack",
    "Principal",
    "RecordingGap",
    "SegmentRecord",
    "StoredTrack",
    "UnknownCameraError",
    "add_recording_gap",
    "add_segment",
    "add_track",
    "add_tracks",
    "append_audit",
    "audit_entries",
    "close_case",
    "count_embeddings",
    "create_api_key",
    "create_case",
    "create_job",
    "embedding_from_bytes",
    "embedding_to_bytes",
    "gaps_between",
    "get_camera",
    "get_case",
    "get_job",
    "get_track",
    "init_catalog",
    "jobs_in_state",
    "list_api_keys",
    "list_cameras",
    "make_engine",
    "principal_for_key",
    "redact_url",
    "remove_camera",
    "revoke_api_key",
    "segments_between",
    "session_factory",
    "set_track_embedding",
    "track_embeddings",
    "track_ids_matching",
    "tracks_by_ids",
    "update_job",
    "upgrade_to_head",
    "upsert_camera",
]
