"""`Frame`: one decoded picture from a camera, the value passed from ingest to detect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded BGR image with where and when it was seen.

    `pts_s` is the stream presentation time in seconds; `wall_time` is the UTC arrival
    time anchored at the first packet plus PTS (camera clocks are not trusted).
    `motion_mask` is the motion gate's changed-pixel mask (bool, downscaled; None: unknown),
    where the motion-region detector looks for small moving objects.
    """

    image: np.ndarray
    camera_id: str
    pts_s: float
    wall_time: datetime
    motion_mask: np.ndarray | None = None

    @property
    def height_px(self) -> int:
        return int(self.image.shape[0])

    @property
    def width_px(self) -> int:
        return int(self.image.shape[1])
