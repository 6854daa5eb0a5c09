"""One recorded frame of a camera as a JPEG (issue #18 part 4): the picture zones are drawn on
in the web interface. Read from the camera's stored segments (live or uploaded footage), never
from the live stream, so it works for offline cameras and needs no connection to a camera."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import av
import cv2
import numpy as np

from index.catalog import Session, segments_between
from index.catalog.recordings import last_segment_end
from storage.objectstore import ObjectStore

MAX_WIDTH_PX = 1280  # a zone editor needs no more; a 4K frame would be ~2 MB of JPEG
JPEG_QUALITY = 85
LOOKBACK = timedelta(minutes=10)  # `at` inside a gap: the latest frame up to this long before


class NoRecordingError(LookupError):
    """The camera has no recorded frame at (or shortly before) the time asked for."""


@dataclass(frozen=True)
class CameraFrame:
    camera_id: str
    at: datetime
    jpeg: bytes
    width_px: int
    height_px: int


def _decode_at(data: bytes, start_at: datetime, at: datetime) -> tuple[datetime, np.ndarray]:
    """The first frame at or after `at` (else the segment's last frame) and its time."""
    found: tuple[datetime, np.ndarray] | None = None
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            when = start_at + timedelta(seconds=float(frame.time or 0.0))
            found = (when, frame.to_ndarray(format="bgr24"))
            if when >= at:
                break
    if found is None:
        raise NoRecordingError("the segment holds no decodable frame")
    return found


def camera_frame(
    session: Session, store: ObjectStore, camera_id: str, at: datetime | None = None
) -> CameraFrame:
    """The camera's recorded frame at `at` (default: its latest), scaled to ≤ MAX_WIDTH_PX."""
    if at is None:
        end = last_segment_end(session, camera_id)
        if end is None:
            raise NoRecordingError(f"camera {camera_id!r} has no recording yet")
        at = end - timedelta(seconds=1)
    segments = segments_between(session, camera_id, at - LOOKBACK, at + timedelta(seconds=1))
    if not segments:
        raise NoRecordingError(f"camera {camera_id!r} has no recording at {at.isoformat()}")
    segment = segments[-1]
    when, image = _decode_at(store.get(segment.object_key), segment.start_at, at)
    height, width = image.shape[:2]
    if width > MAX_WIDTH_PX:
        height, width = round(height * MAX_WIDTH_PX / width), MAX_WIDTH_PX
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise NoRecordingError("the frame could not be encoded")
    return CameraFrame(camera_id, when, encoded.tobytes(), width, height)
