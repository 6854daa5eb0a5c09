"""Schemas of a case's hop decisions (issue #18): confirm / reject of a cross-camera hop, and the
case's trail read back."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from index.catalog.hops import MAX_NOTE_CHARS, HopVerdict
from search_api.openapi import CatalogId


class HopDecisionIn(BaseModel):
    """Confirm or reject that two sightings are the same person or vehicle (either order)."""

    from_track_id: CatalogId
    to_track_id: CatalogId
    decision: HopVerdict
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)

    @model_validator(mode="after")
    def _two_tracks(self) -> HopDecisionIn:
        if self.from_track_id == self.to_track_id:
            raise ValueError("to_track_id: a hop joins two different tracks")
        return self


class HopTrackOut(BaseModel):
    """One end of a hop: where and when, with links signed for the reader (null for a reader
    who may not view the track, e.g. an auditor, or where no recording covers it: deleted by
    retention, or seen in a recording gap)."""

    track_id: int
    camera_id: str
    class_name: str
    start_at: datetime
    end_at: datetime
    thumbnail_url: str | None
    clip_url: str | None
    clip_available: bool


class CaseHopOut(BaseModel):
    """A decision on a hop; `from_track` is the earlier sighting, whichever order it was sent."""

    from_track_id: int
    to_track_id: int
    decision: HopVerdict
    note: str
    decided_by: str
    decided_at: datetime
    from_track: HopTrackOut
    to_track: HopTrackOut
    previous_decision: HopVerdict | None = Field(
        default=None, description="PUT only: what the decision replaced (null: was undecided)"
    )


class CaseHopsOut(BaseModel):
    """The case's trail: its confirmed hops in time order and the rejected ones, each reader
    seeing only hops between tracks on cameras they may see."""

    case_id: str
    is_open: bool
    confirmed: list[CaseHopOut] = Field(description="by the earlier sighting's start, then later")
    rejected: list[CaseHopOut] = Field(description="in the order they were decided")
