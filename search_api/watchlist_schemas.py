"""Request and response schemas of the watchlist endpoints (issue #14)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from detect.plate_match import MAX_PATTERN_CHARS
from search_api.openapi import CatalogId, SearchTime

WatchMode = Literal["exact", "wildcard", "fuzzy"]


class PlateEntryIn(BaseModel):
    """Watch for a plate: exact text, a wildcard pattern (`*` any run, `?` one character) or a
    fuzzy text within `max_distance` (OCR-confusion-weighted edits: look-alikes cost 0.3)."""

    model_config = {"extra": "forbid"}

    kind: Literal["plate"] = "plate"
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN_CHARS, examples=["吉A12345"])
    match: WatchMode = "exact"
    max_distance: float = Field(default=1.0, ge=0.0, le=MAX_PATTERN_CHARS)
    label: str = Field(default="", max_length=200)


class ExemplarEntryIn(BaseModel):
    """Watch for a vehicle that looks like a stored track (appearance cosine ≥ min_similarity)."""

    model_config = {"extra": "forbid"}

    kind: Literal["exemplar"] = "exemplar"
    track_id: CatalogId
    min_similarity: float = Field(default=0.85, gt=0.0, le=1.0)
    label: str = Field(default="", max_length=200)


EntryIn = Annotated[PlateEntryIn | ExemplarEntryIn, Field(discriminator="kind")]


class WatchlistCreate(BaseModel):
    """A watchlist needs an open case of the caller's, a purpose and an expiry in the future."""

    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=200, examples=["stolen white van"])
    case_id: str = Field(min_length=1, max_length=64)
    purpose: str = Field(min_length=1, max_length=2000)
    expires_at: SearchTime
    entries: list[EntryIn] = Field(default_factory=list, max_length=100)


class WatchlistEntryOut(BaseModel):
    id: int
    kind: str
    label: str
    pattern: str | None
    match: str | None
    max_distance: float | None
    exemplar_track_id: int | None
    min_similarity: float | None
    created_at: datetime


class WatchlistOut(BaseModel):
    id: int
    name: str
    case_id: str
    purpose: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    ended_reason: str | None
    active: bool
    entries: list[WatchlistEntryOut]


class WatchlistHitOut(BaseModel):
    id: int
    watchlist_id: int
    entry_id: int
    track_id: int
    camera_id: str
    at: datetime
    plate_text: str | None
    score: float
