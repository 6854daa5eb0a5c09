"""Evidence pictures of a violation: the frame with the zone and the boxes drawn in (JPEG).

Frames kept for a later picture (the middle one is chosen when the violation ends) are
stored as small copies (≤ `EVIDENCE_WIDTH_PX` wide), with their boxes, in a bounded list
that thins itself: a violation of hours holds at most `MAX_KEPT` frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np

from detect.zone_rules import Snapshot

EVIDENCE_WIDTH_PX = 640
JPEG_QUALITY = 80
MAX_KEPT = 16
ZONE_COLOUR = (0, 220, 255)  # BGR amber
OFFENDER_COLOUR = (0, 0, 255)


@dataclass(frozen=True)
class EvidenceFrame:
    """A small copy of a frame, the zone polygon and the boxes to draw, in its pixels."""

    at: datetime
    image: np.ndarray
    polygon_px: np.ndarray  # K×2
    boxes_xyxy: np.ndarray  # N×4
    labels: tuple[str, ...]

    @classmethod
    def capture(
        cls,
        at: datetime,
        image: np.ndarray,
        polygon_px: np.ndarray,
        boxes_xyxy: np.ndarray,
        labels: tuple[str, ...],
    ) -> EvidenceFrame:
        """Copy `image` down to the evidence width, scaling the polygon and boxes with it."""
        scale = min(1.0, EVIDENCE_WIDTH_PX / image.shape[1])
        if scale < 1.0:
            size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        else:
            small = image.copy()
        boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4) * scale
        return cls(at, small, np.asarray(polygon_px, np.float32) * scale, boxes, labels)

    def snapshot(self) -> Snapshot:
        picture = self.image.copy()
        outline = self.polygon_px.round().astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(picture, [outline], True, ZONE_COLOUR, 2, cv2.LINE_AA)
        for (x1, y1, x2, y2), label in zip(self.boxes_xyxy, self.labels, strict=True):
            top_left, bottom_right = (int(x1), int(y1)), (int(x2), int(y2))
            cv2.rectangle(picture, top_left, bottom_right, OFFENDER_COLOUR, 2)
            cv2.putText(
                picture, label, (int(x1), max(10, int(y1) - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                0.4, OFFENDER_COLOUR, 1, cv2.LINE_AA,
            )  # fmt: skip
        ok, jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError("JPEG encoding of an evidence picture failed")
        return Snapshot(self.at, jpeg.tobytes())


class EvidenceFrames:
    """Frames kept while a violation goes on, one per `interval_s` (doubling as it thins)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.frames: list[EvidenceFrame] = []

    def due(self, at: datetime) -> bool:
        if not self.frames:
            return True
        return (at - self.frames[-1].at).total_seconds() >= self.interval_s

    def keep(self, frame: EvidenceFrame) -> None:
        self.frames.append(frame)
        if len(self.frames) > MAX_KEPT:
            self.frames = self.frames[::2]
            self.interval_s *= 2

    def nearest(self, at: datetime) -> EvidenceFrame | None:
        if not self.frames:
            return None
        return min(self.frames, key=lambda f: abs((f.at - at).total_seconds()))
