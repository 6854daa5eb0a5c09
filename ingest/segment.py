"""`Segment`: one recorded MP4 piece of a camera's main stream, as stored in object storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Segment:
    """A stored segment: `[start_at, end_at)` in UTC, its object key, size and sha256."""

    camera_id: str
    start_at: datetime
    end_at: datetime
    object_key: str
    sha256: str
    size_bytes: int

    @property
    def duration_s(self) -> float:
        return (self.end_at - self.start_at).total_seconds()


def segment_key(camera_id: str, start_at: datetime) -> str:
    """Object key of a segment: cameras/<id>/YYYY/MM/DD/HH/<unix-ms>.mp4 (sorts by time)."""
    ms = int(start_at.timestamp() * 1000)
    return f"cameras/{camera_id}/{start_at:%Y/%m/%d/%H}/{ms}.mp4"


def footage_segment_key(camera_id: str, start_at: datetime, upload_id: str) -> str:
    """Object key of an uploaded file's segment: the live key with the upload's id, so an upload
    never overwrites (nor, refused as overlapping, deletes) another upload's segment that
    starts at the same moment."""
    return segment_key(camera_id, start_at).removesuffix(".mp4") + f"-{upload_id}.mp4"
