"""Request and response schemas of the API (separate from the catalog's ORM rows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class SearchHit(BaseModel):
    """One track found by a search, with where and when it was seen and links to look at it."""

    track_id: int
    camera_id: str
    class_name: str
    start_at: datetime
    end_at: datetime
    score: float = Field(description="cosine similarity of appearance, 1 = identical")
    thumbnail_url: str | None
    clip_url: str | None = Field(description="recording that starts at the moment (#t=offset)")


class QueryInfo(BaseModel):
    class_name: str
    box: tuple[float, float, float, float] | None


class SearchResponse(BaseModel):
    query: QueryInfo
    hits: list[SearchHit]


class TrackOut(BaseModel):
    id: int
    camera_id: str
    class_name: str
    confidence: float
    start_at: datetime
    end_at: datetime
    best_shot_at: datetime
    best_box: tuple[float, float, float, float]
    attributes: dict[str, Any]
    trajectory: list[list[float]]
    embedding_version: str | None
    thumbnail_url: str | None
    clip_url: str | None


class CameraOut(BaseModel):
    """A camera as the API shows it: stream URLs (and their credentials) are never returned."""

    id: str
    name: str
    detect_fps: float
    lat: float | None
    lon: float | None
    heading_deg: float | None
    enabled: bool


class Health(BaseModel):
    status: str
    tracks_indexed: int
