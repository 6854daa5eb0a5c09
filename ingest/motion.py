"""A cheap motion gate on downscaled frames: skip detection when nothing moves."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class MotionSettings:
    """`changed_fraction` of pixels differing by more than `pixel_delta` counts as motion."""

    width_px: int = 160
    pixel_delta: int = 18
    changed_fraction: float = 0.002
    background_rate: float = 0.05
    keepalive_s: float = 2.0


class MotionGate:
    """Compares each frame with a slowly adapting background at `width_px` wide.

    `should_analyse` is True on motion, and at least every `keepalive_s` of stream time
    anyway, so stationary objects (parked vehicles, stalls) are still detected.
    """

    def __init__(self, settings: MotionSettings | None = None) -> None:
        self.settings = settings or MotionSettings()
        self._background: np.ndarray | None = None
        self._last_pass_s: float | None = None
        # the last frame's changed pixels at `width_px` (bool; all True on the first frame):
        # the motion-region detector (detect.motion_regions) crops where it is True
        self.last_mask: np.ndarray | None = None

    def should_analyse(self, luma: np.ndarray, at_s: float) -> bool:
        """`luma`: the frame's brightness (H×W uint8, e.g. the Y plane of the decoded picture)."""
        if luma.ndim != 2:
            raise ValueError(f"the motion gate takes a single-channel image, got {luma.shape}")
        small = self._small_gray(luma)
        if self._background is None:
            self._background = small
            self._last_pass_s = at_s
            self.last_mask = np.ones(small.shape, bool)
            return True
        self.last_mask = np.abs(small - self._background) > self.settings.pixel_delta
        moving = float(np.count_nonzero(self.last_mask)) / self.last_mask.size
        cv2.accumulateWeighted(small, self._background, self.settings.background_rate)
        due = self._last_pass_s is None or at_s - self._last_pass_s >= self.settings.keepalive_s
        if moving >= self.settings.changed_fraction or due:
            self._last_pass_s = at_s
            return True
        return False

    def _small_gray(self, luma: np.ndarray) -> np.ndarray:
        height_px = max(1, round(luma.shape[0] * self.settings.width_px / luma.shape[1]))
        small = cv2.resize(luma, (self.settings.width_px, height_px), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)
