"""Request and response schemas of the footage upload endpoints (issue #15)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from index.catalog import FootageUpload


class FootageUploadIn(BaseModel):
    """Start a resumable upload of one video file (MP4, MKV, AVI, MOV, TS; H.264, H.265 and
    MPEG-4 are stored as they are, other codecs transcoded to H.264)."""

    model_config = {"extra": "forbid"}

    filename: str = Field(min_length=1, max_length=255, examples=["shop7-door.mp4"])
    size: int = Field(ge=0, description="bytes; 0 is refused (an empty file holds no video)")
    sha256: str | None = Field(default=None, description="hex; checked when the parts are in")
    camera_label: str = Field(
        min_length=1, max_length=200, description="the offline source the footage belongs to"
    )
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    heading: float | None = Field(default=None, ge=0, lt=360, description="degrees")
    start_time: AwareDatetime | None = Field(
        default=None, description="when the footage starts; default: the file's creation_time"
    )


class FootageUploadOut(BaseModel):
    """An upload: which parts arrived (resume by sending the missing ones), its state
    (receiving, processing, stored, failed), what probing found and what was stored."""

    id: str
    camera_id: str
    camera_label: str
    filename: str
    size: int
    sha256: str | None
    part_bytes: int = Field(description="every part is this long but the last")
    part_count: int
    parts_received: list[int]
    missing_parts: list[int]
    state: str
    start_at: datetime | None
    probe: dict[str, Any] | None
    report: dict[str, Any] | None = Field(
        description="segments, footage_s, start_at, end_at, damage (what could not be read), "
        "analysis_job"
    )
    error: str | None
    created_at: datetime

    @classmethod
    def of(cls, upload: FootageUpload) -> FootageUploadOut:
        return cls(
            id=upload.id, camera_id=upload.camera_id, camera_label=upload.camera_label,
            filename=upload.filename, size=upload.size_bytes, sha256=upload.sha256,
            part_bytes=upload.part_bytes, part_count=upload.part_count,
            parts_received=list(upload.parts_received),
            missing_parts=list(upload.missing_parts), state=upload.state,
            start_at=upload.start_at, probe=upload.probe, report=upload.report,
            error=upload.error, created_at=upload.created_at,
        )  # fmt: skip
