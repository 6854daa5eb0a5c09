"""Static foreground: things that appeared where the empty scene was and then stayed (#13).

The "abandoned object" technique with two running backgrounds on a small grey frame (160 px
wide: a stall's goods are still tens of pixels there, and every step costs well under a
millisecond per frame):

- the frame is turned into a *normalised image* ((grey − local mean) / (local deviation + c)):
  a global or slowly varying change of light scales and shifts grey, local mean and deviation
  alike and leaves it unchanged, so the models compare structure, not brightness (a plain
  ratio grey / local mean was not enough: an additive brightening of a dark, textured area
  changed it by far more than a new object does);
- the short background follows the scene within seconds (`short_time_constant_s`): a thing
  that stopped moving is soon part of it, a walking person never is;
- the long background follows it within minutes where the scene matches it, and absorbs a
  lasting change only over `absorb_time_constant_s` (an hour by default): a stall stays long-
  term foreground for its whole stay;
- a pixel is static while it is long-term foreground but short-term background; its stable
  time grows by the real time between frames (frames come at 5 fps with motion, every 2 s from
  the motion gate's keep-alive when still: both count the same) and drops to 0 when it is not;
- blobs of pixels stable for `min_static_s`, outside the boxes of people (a person standing
  still is not an object), with at least `min_area_frac` of the frame, are the static objects;
- a blob whose edges belong to the long background rather than to the frame is a *ghost* (a
  thing that was there from the start and left): the long background takes the frame's pixels
  there at once;
- when more than `relearn_frac` of the frame changes at once (lights switched, camera moved)
  both backgrounds restart from the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_WIDTH_PX = 160


@dataclass(frozen=True)
class StaticForegroundSettings:
    """Thresholds of the model; `StaticForeground.for_sensitivity` scales the area and time."""

    short_time_constant_s: float = 4.0
    long_time_constant_s: float = 120.0
    absorb_time_constant_s: float = 3600.0
    ratio_threshold: float = 0.6  # |normalised − background| that counts as changed
    min_static_s: float = 10.0
    min_area_frac: float = 0.002  # of the frame
    relearn_frac: float = 0.5
    local_mean_px: int = 15  # box filter for the local mean, at the working width
    deviation_floor: float = 6.0  # grey levels: keeps flat areas' sensor noise small


@dataclass(frozen=True)
class StaticBlob:
    """A static object: its box in source pixels and how long it has been still."""

    xyxy: tuple[float, float, float, float]
    area_frac: float
    still_s: float


class StaticForeground:
    """Long-term static foreground of one camera; `update` per analysed frame."""

    def __init__(self, settings: StaticForegroundSettings | None = None) -> None:
        self.settings = settings or StaticForegroundSettings()
        self._long: np.ndarray | None = None
        self._short: np.ndarray | None = None
        self._stable_s: np.ndarray | None = None
        self._last_at_s: float | None = None
        self._scale = 1.0  # source px per working px
        self.relearned = 0

    @classmethod
    def for_sensitivity(cls, sensitivity: float) -> StaticForeground:
        """Sensitivity 0..1: higher finds smaller objects sooner (0.5: the defaults)."""
        base = StaticForegroundSettings()
        factor = 2.0 ** (1.0 - 2.0 * sensitivity)  # 2 at 0, 1 at 0.5, 0.5 at 1
        return cls(
            StaticForegroundSettings(
                min_static_s=base.min_static_s * factor,
                min_area_frac=base.min_area_frac * factor,
                ratio_threshold=base.ratio_threshold * (0.75 + 0.5 * (1.0 - sensitivity)),
            )
        )

    def ratio_image(self, image: np.ndarray) -> np.ndarray:
        """The working-size normalised image of a BGR or grey frame."""
        height_px, width_px = image.shape[:2]
        self._scale = width_px / WORK_WIDTH_PX
        size = (WORK_WIDTH_PX, max(1, round(height_px / self._scale)))
        # nearest to twice the working size, then a 2×2 average: 0.07 ms where an area
        # resize of the whole frame takes ~1 ms
        double = cv2.resize(image, (2 * size[0], 2 * size[1]), interpolation=cv2.INTER_NEAREST)
        small = cv2.resize(double, size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        grey = grey.astype(np.float32)
        k = self.settings.local_mean_px
        mean = cv2.boxFilter(grey, -1, (k, k), borderType=cv2.BORDER_REFLECT)
        mean_sq = cv2.boxFilter(grey * grey, -1, (k, k), borderType=cv2.BORDER_REFLECT)
        deviation = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
        return (grey - mean) / (deviation + self.settings.deviation_floor)

    def update(
        self, image: np.ndarray, at_s: float, people_xyxy: np.ndarray | None = None
    ) -> list[StaticBlob]:
        """Feed one frame seen at `at_s` (seconds, any origin); the static objects now.

        `people_xyxy` (N×4, source px): boxes whose pixels are never static objects."""
        ratio = self.ratio_image(image)
        if self._long is None or self._long.shape != ratio.shape or self._last_at_s is None:
            self._restart(ratio, at_s)
            return []
        dt_s = max(0.0, at_s - self._last_at_s)
        self._last_at_s = at_s
        assert self._short is not None and self._stable_s is not None
        cfg = self.settings
        long_fg = np.abs(ratio - self._long) > cfg.ratio_threshold
        if long_fg.mean() > cfg.relearn_frac:
            self.relearned += 1
            self._restart(ratio, at_s)
            return []
        short_fg = np.abs(ratio - self._short) > cfg.ratio_threshold
        # backgrounds: time-based rates, so 5 fps and a 2 s keep-alive age them alike
        short_rate = 1.0 - np.exp(-dt_s / cfg.short_time_constant_s)
        self._short += short_rate * (ratio - self._short)
        follow = 1.0 - np.exp(-dt_s / cfg.long_time_constant_s)
        absorb = 1.0 - np.exp(-dt_s / cfg.absorb_time_constant_s)
        self._long += np.where(long_fg, absorb, follow).astype(np.float32) * (ratio - self._long)
        candidate = long_fg & ~short_fg
        self._stable_s = np.where(candidate, self._stable_s + dt_s, 0.0).astype(np.float32)
        static = (self._stable_s >= cfg.min_static_s).astype(np.uint8)
        if not static.any():  # most frames: nothing static, no masking
            return []
        if people_xyxy is not None and len(people_xyxy):
            cells = np.unique((np.asarray(people_xyxy) / self._scale).astype(np.int32), axis=0)
            for x1, y1, x2, y2 in np.maximum(cells, 0).tolist():
                static[y1 : y2 + 2, x1 : x2 + 2] = 0
            if not static.any():
                return []
        return self._blobs(static, ratio)

    def _blobs(self, static: np.ndarray, ratio: np.ndarray) -> list[StaticBlob]:
        assert self._long is not None and self._stable_s is not None
        count, labels, stats, _ = cv2.connectedComponentsWithStats(static, connectivity=8)
        frame_area = static.size
        min_area = self.settings.min_area_frac * frame_area
        blobs: list[StaticBlob] = []
        for label in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[label])
            if area < min_area:
                continue
            region = (slice(max(0, y - 2), y + h + 2), slice(max(0, x - 2), x + w + 2))
            blob = (labels[region] == label).astype(np.uint8)
            if _is_ghost(ratio[region], self._long[region], blob):
                self._long[region] = ratio[region]
                self._stable_s[region] = 0.0
                continue
            s = self._scale
            blobs.append(
                StaticBlob(
                    (x * s, y * s, (x + w) * s, (y + h) * s),
                    area / frame_area,
                    float(self._stable_s[labels == label].max()),
                )
            )
        return blobs

    def _restart(self, ratio: np.ndarray, at_s: float) -> None:
        self._long = ratio.copy()
        self._short = ratio.copy()
        self._stable_s = np.zeros(ratio.shape, np.float32)
        self._last_at_s = at_s


_RING_KERNEL = np.ones((3, 3), np.uint8)


def _is_ghost(frame_part: np.ndarray, background_part: np.ndarray, blob: np.ndarray) -> bool:
    """Stronger edges along the blob's outline in the background than in the frame: what
    changed is something that left (the background remembers its outline), not something
    that arrived (whose outline is in the frame)."""
    if min(frame_part.shape) < 3:
        return False
    ring = cv2.dilate(blob, _RING_KERNEL) > cv2.erode(blob, _RING_KERNEL)
    return _edge_energy(background_part, ring) > 1.25 * _edge_energy(frame_part, ring)


def _edge_energy(part: np.ndarray, where: np.ndarray) -> float:
    gx = cv2.Sobel(part, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(part, cv2.CV_32F, 0, 1, ksize=3)
    return float((np.abs(gx) + np.abs(gy))[where].sum())
