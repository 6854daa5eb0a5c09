"""The SQL catalog's public API: repository functions over a Session and their value objects.

Every SQL statement of the product lives in this package; callers hold a `Session` only to pass
it to these functions and to commit.

Functions flush but never commit; the caller owns the transaction::

    engine = init_catalog("sqlite:///var/catalog.db")
    with session_factory(engine).begin() as session:
        track_id = add_track(session, new_track)
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from index.catalog.attributes import AttributeFilter
from index.catalog.audit import append_audit, audit_entries
from index.catalog.cameras import (
    UnknownCameraError,
    get_camera,
    list_cameras,
    remove_camera,
    searchable_cameras,
    upsert_camera,
)
from index.catalog.cases import close_case, create_case, get_case, list_cases
from index.catalog.engine import (
    CatalogError,
    SessionFactory,
    init_catalog,
    make_engine,
    session_factory,
    upgrade_to_head,
)
from index.catalog.jobs import (
    FINISHED_JOB_STATES,
    LIVE_JOB_STATES,
    beat,
    cancel_live_job,
    create_held_job,
    create_job,
    finish_held_job,
    get_job,
    job_owner,
    orphaned_job_ids,
    record_progress,
    release_jobs,
    start_held_job,
    take_over_job,
)
from index.catalog.keys import create_api_key, list_api_keys, principal_for_key, revoke_api_key
from index.catalog.recordings import add_recording_gap, add_segment, gaps_between, segments_between
from index.catalog.rows import NaiveDatetimeError
from index.catalog.tracks import (
    SCAN_BATCH_ROWS,
    add_track,
    add_tracks,
    count_candidate_tracks,
    count_embeddings,
    get_track,
    matching_track_ids,
    matching_tracks,
    set_track_embedding,
    track_embeddings,
    tracks_by_ids,
    tracks_ending_between,
    tracks_starting_between,
)
from index.catalog.values import (
    ApiKeyInfo,
    AuditEntry,
    CameraSpec,
    CaseRecord,
    JobRecord,
    NewTrack,
    Principal,
    RecordingGap,
    StoredTrack,
    TrackMatch,
    TrackQuery,
    TrackSpan,
    embedding_from_bytes,
    embedding_to_bytes,
    redact_url,
)
from index.catalog.zones import (
    DuplicateZoneError,
    UnknownZoneError,
    Zone,
    create_zone,
    delete_zone,
    entered_zones,
    get_zone,
    list_zones,
    update_zone,
    zone_track_counts,
    zones_by_ids,
    zones_on_cameras,
)

__all__ = [
    "FINISHED_JOB_STATES",
    "LIVE_JOB_STATES",
    "SCAN_BATCH_ROWS",
    "ApiKeyInfo",
    "AttributeFilter",
    "AuditEntry",
    "CameraSpec",
    "CaseRecord",
    "CatalogError",
    "DuplicateZoneError",
    "JobRecord",
    "NaiveDatetimeError",
    "NewTrack",
    "Principal",
    "RecordingGap",
    "Session",
    "SessionFactory",
    "StoredTrack",
    "TrackMatch",
    "TrackQuery",
    "TrackSpan",
    "UnknownCameraError",
    "UnknownZoneError",
    "Zone",
    "add_recording_gap",
    "add_segment",
    "add_track",
    "add_tracks",
    "append_audit",
    "audit_entries",
    "beat",
    "cancel_live_job",
    "close_case",
    "count_candidate_tracks",
    "count_embeddings",
    "create_api_key",
    "create_case",
    "create_held_job",
    "create_job",
    "create_zone",
    "delete_zone",
    "embedding_from_bytes",
    "embedding_to_bytes",
    "entered_zones",
    "finish_held_job",
    "gaps_between",
    "get_camera",
    "get_case",
    "get_job",
    "get_track",
    "get_zone",
    "init_catalog",
    "job_owner",
    "list_api_keys",
    "list_cameras",
    "list_cases",
    "list_zones",
    "make_engine",
    "matching_track_ids",
    "matching_tracks",
    "orphaned_job_ids",
    "principal_for_key",
    "record_progress",
    "redact_url",
    "release_jobs",
    "remove_camera",
    "revoke_api_key",
    "searchable_cameras",
    "segments_between",
    "session_factory",
    "set_track_embedding",
    "start_held_job",
    "take_over_job",
    "track_embeddings",
    "tracks_by_ids",
    "tracks_ending_between",
    "tracks_starting_between",
    "update_zone",
    "upgrade_to_head",
    "upsert_camera",
    "zone_track_counts",
    "zones_by_ids",
    "zones_on_cameras",
]
