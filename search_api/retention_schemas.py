"""Request and response bodies of the retention and legal hold endpoints (issue #17)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from index.catalog.retention import LegalHold, RetentionFloors, RetentionTier
from search_api.openapi import CatalogId


class KeptDays(BaseModel):
    """Days each kind of material is kept: the shape of a tier and of the legal floors."""

    segments_days: int = Field(examples=[30])
    tracks_days: int = Field(examples=[90])
    events_days: int = Field(examples=[365])

    @classmethod
    def days_of(cls, kept: RetentionTier | RetentionFloors) -> dict[str, int]:
        return {name: getattr(kept, name) for name in KeptDays.model_fields}


class TierIn(KeptDays):
    """Days a camera group keeps each kind of material ("*": the default tier)."""

    model_config = ConfigDict(extra="forbid")

    group: str = Field(min_length=1, max_length=100, examples=["traffic"])

    def tier(self) -> RetentionTier:
        return RetentionTier(self.group, self.segments_days, self.tracks_days, self.events_days)


class TierOut(KeptDays):
    group: str

    @classmethod
    def of(cls, tier: RetentionTier) -> TierOut:
        return cls(group=tier.group_name, **cls.days_of(tier))


class RetentionUpdate(BaseModel):
    """Tiers to set (all or none are written) and, optionally, the audit days."""

    model_config = ConfigDict(extra="forbid")

    tiers: list[TierIn] = Field(default_factory=list, max_length=1000)
    audit_days: int | None = None


class FloorsOut(KeptDays):
    audit_days: int

    @classmethod
    def of(cls, floors: RetentionFloors) -> FloorsOut:
        return cls(audit_days=floors.audit_days, **cls.days_of(floors))


class HoldIn(BaseModel):
    """Why the case's material is held, and tracks or events to file under the case."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    track_ids: list[CatalogId] = Field(default_factory=list, max_length=10_000)
    event_ids: list[CatalogId] = Field(default_factory=list, max_length=10_000)


class HoldOut(BaseModel):
    case_id: str
    reason: str
    held_by: str
    held_at: datetime
    released_by: str | None
    released_at: datetime | None
    active: bool
    replaced_reason: str | None = Field(
        default=None,
        description="the case was already on hold with this other reason: the request replaced"
        " it (audited); the hold still counts from held_at. Null otherwise",
    )

    @classmethod
    def of(cls, hold: LegalHold, replaced_reason: str | None = None) -> HoldOut:
        return cls(
            case_id=hold.case_id,
            reason=hold.reason,
            held_by=hold.held_by,
            held_at=hold.held_at,
            released_by=hold.released_by,
            released_at=hold.released_at,
            active=hold.active,
            replaced_reason=replaced_reason,
        )


class RetentionOut(BaseModel):
    """The tiers in force (default first), audit days, the legal floors and active holds."""

    tiers: list[TierOut]
    audit_days: int
    audit_deleted: bool = Field(
        default=False, description="the audit log is append-only: never deleted"
    )
    floors: FloorsOut
    holds: list[HoldOut]


class RetentionRunOut(BaseModel):
    """A run's job (kind "retention", also under /jobs) and its report."""

    job_id: str
    report: dict[str, Any]
