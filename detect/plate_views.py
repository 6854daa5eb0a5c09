"""Where a vehicle's plate should be read again on the camera's main stream (issue #14).

The live path analyses the 640×360 sub stream, where a plate is a third of its 1080p size and
mostly illegible. A camera with `plate_source` "main" has its vehicle tracks' best views noted
as `PlateView`s on the `TrackRecord`; the index stage reads them later from the recorded main
stream (index/main_plates.py). Nothing here decodes or reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np

PlateSource = Literal["sub", "main"]
PLATE_SOURCES: tuple[PlateSource, ...] = ("sub", "main")


@dataclass(frozen=True)
class PlateView:
    """One view of a vehicle: when it was seen, its box in the analysed frame's pixels, that
    frame's (W, H), and the analysed crop (to find the vehicle again in the main frame)."""

    at: datetime
    box_xyxy_px: tuple[float, float, float, float]
    frame_size_px: tuple[int, int]
    crop: np.ndarray = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.box_xyxy_px
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"empty view box {self.box_xyxy_px}")
        if min(self.frame_size_px) < 1:
            raise ValueError(f"bad frame size {self.frame_size_px}")
