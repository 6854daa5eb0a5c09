"""Retention settings (issue #17) as the retention run takes them: the default tier and audit
days until an admin sets tiers, and the legal floors."""

from __future__ import annotations

from index.catalog.housekeeping import HousekeepingPolicy
from index.catalog.retention import DEFAULT_TIER, RetentionFloors, RetentionPolicy, RetentionTier
from index.retention import RetentionConfig
from skynet.settings import Settings


def retention_config(settings: Settings) -> RetentionConfig:
    default = RetentionTier(
        DEFAULT_TIER,
        settings.retention_segments_days,
        settings.retention_tracks_days,
        settings.retention_events_days,
    )
    floors = RetentionFloors(
        settings.retention_floor_segments_days,
        settings.retention_floor_tracks_days,
        settings.retention_floor_events_days,
        settings.retention_floor_audit_days,
    )
    housekeeping = HousekeepingPolicy(
        settings.outbox_replay_s, settings.webhook_dead_letter_days, settings.finished_job_days
    )
    return RetentionConfig(
        RetentionPolicy((default,), settings.retention_audit_days), floors,
        housekeeping=housekeeping,
    )  # fmt: skip
