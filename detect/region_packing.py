"""Geometry of motion-region detection: mask blobs → padded boxes, shelf packing of the crops
into canvases, rendering them, and mapping canvas boxes back to frame pixels
(`detect.motion_regions` runs the detector on them)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detect.detections import Detections

CANVAS_FILL_BGR = (104, 116, 124)  # NanoDet's mean: what the letterbox pads with


@dataclass(frozen=True)
class Region:
    """A rectangle of frame pixels, x0, y0 inclusive, x1, y1 exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width_px(self) -> int:
        return self.x1 - self.x0

    @property
    def height_px(self) -> int:
        return self.y1 - self.y0

    def touches(self, other: Region) -> bool:
        return not (
            self.x1 < other.x0 or other.x1 < self.x0 or self.y1 < other.y0 or other.y1 < self.y0
        )

    def union(self, other: Region) -> Region:
        return Region(
            min(self.x0, other.x0),
            min(self.y0, other.y0),
            max(self.x1, other.x1),
            max(self.y1, other.y1),
        )


@dataclass(frozen=True)
class Placement:
    """Where a region went: canvas `canvas`, top-left (x, y), scaled by `scale`."""

    region: Region
    canvas: int
    x: int
    y: int
    scale: float

    @property
    def width_px(self) -> int:
        return max(1, round(self.region.width_px * self.scale))

    @property
    def height_px(self) -> int:
        return max(1, round(self.region.height_px * self.scale))


def motion_regions(
    mask: np.ndarray, frame_wh: tuple[int, int], padding_px: int, min_blob_px: int = 1
) -> list[Region]:
    """Padded, merged boxes in frame pixels around the blobs of `mask` (a downscaled bool
    image of the frame); blobs of fewer than `min_blob_px` mask pixels are noise."""
    if mask.ndim != 2:
        raise ValueError(f"the motion mask must be 2-D, got shape {mask.shape}")
    frame_w, frame_h = frame_wh
    scale_x, scale_y = frame_w / mask.shape[1], frame_h / mask.shape[0]
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = []
    for x, y, w, h, area in stats[1:count]:
        if area < min_blob_px:
            continue
        boxes.append(
            Region(
                max(0, int(x * scale_x) - padding_px),
                max(0, int(y * scale_y) - padding_px),
                min(frame_w, int(np.ceil((x + w) * scale_x)) + padding_px),
                min(frame_h, int(np.ceil((y + h) * scale_y)) + padding_px),
            )
        )
    return merge_regions(boxes)


def merge_regions(regions: list[Region]) -> list[Region]:
    """Regions with every pair that touches or overlaps replaced by their union."""
    merged = list(regions)
    changed = True
    while changed:
        changed = False
        out: list[Region] = []
        for region in merged:
            for i, kept in enumerate(out):
                if kept.touches(region):
                    out[i] = kept.union(region)
                    changed = True
                    break
            else:
                out.append(region)
        merged = out
    return merged


def pack_regions(
    regions: list[Region], canvas_px: tuple[int, int], scales: list[float], gap_px: int
) -> list[Placement]:
    """Shelf packing, tallest first: crops (each at its scale in `scales`) fill a row left to
    right, a full row opens the next below, a full canvas the next canvas. A crop larger than
    a canvas is shrunk to fit."""
    canvas_w, canvas_h = canvas_px
    scaled = []
    for index, (region, wanted) in enumerate(zip(regions, scales, strict=True)):
        scale = min(wanted, canvas_w / region.width_px, canvas_h / region.height_px)
        scaled.append((max(1, round(region.height_px * scale)), index, scale))
    scaled.sort(key=lambda item: -item[0])
    placements: list[Placement | None] = [None] * len(regions)
    canvas, shelf_y, shelf_h, x = 0, 0, 0, 0
    for height_px, index, scale in scaled:
        width_px = max(1, round(regions[index].width_px * scale))
        if x + width_px > canvas_w:  # next shelf
            shelf_y, shelf_h, x = shelf_y + shelf_h + gap_px, 0, 0
        if shelf_y + height_px > canvas_h:  # next canvas
            canvas, shelf_y, shelf_h, x = canvas + 1, 0, 0, 0
        placements[index] = Placement(regions[index], canvas, x, shelf_y, scale)
        x += width_px + gap_px
        shelf_h = max(shelf_h, height_px)
    return [p for p in placements if p is not None]


def render_canvases(
    images: list[np.ndarray], placed: list[list[Placement]], canvas_px: tuple[int, int]
) -> list[np.ndarray]:
    """The canvases holding `placed[i]`'s crops of `images[i]` (indices are global)."""
    count = 1 + max((p.canvas for ps in placed for p in ps), default=-1)
    width_px, height_px = canvas_px
    canvases = [np.full((height_px, width_px, 3), CANVAS_FILL_BGR, np.uint8) for _ in range(count)]
    for image, placements in zip(images, placed, strict=True):
        for p in placements:
            r = p.region
            crop = image[r.y0 : r.y1, r.x0 : r.x1]
            if p.scale != 1.0:
                shrink = p.scale < 1.0
                crop = cv2.resize(
                    crop,
                    (p.width_px, p.height_px),
                    interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
                )
            canvases[p.canvas][p.y : p.y + p.height_px, p.x : p.x + p.width_px] = crop
    return canvases


def moving_fraction(xyxy: np.ndarray, mask: np.ndarray, frame_wh: tuple[int, int]) -> np.ndarray:
    """Per box (frame pixels), the share of the motion-mask cells under it that moved."""
    if not len(xyxy):
        return np.zeros(0, np.float32)
    rows, cols = mask.shape
    summed = cv2.integral(mask.astype(np.uint8))  # (rows+1)×(cols+1)
    scale = np.array([cols / frame_wh[0], rows / frame_wh[1]] * 2, np.float32)
    cells = xyxy * scale
    x0 = np.clip(np.floor(cells[:, 0]).astype(int), 0, cols - 1)
    y0 = np.clip(np.floor(cells[:, 1]).astype(int), 0, rows - 1)
    x1 = np.clip(np.ceil(cells[:, 2]).astype(int), x0 + 1, cols)
    y1 = np.clip(np.ceil(cells[:, 3]).astype(int), y0 + 1, rows)
    moved = summed[y1, x1] - summed[y0, x1] - summed[y1, x0] + summed[y0, x0]
    return (moved / ((x1 - x0) * (y1 - y0))).astype(np.float32)


def to_frame(dets: Detections, placements: list[Placement]) -> Detections:
    """Canvas boxes mapped back to frame pixels through the placement holding each box's centre
    (clipped to that region); boxes centred on the canvas background are dropped."""
    if not len(dets) or not placements:
        return Detections.empty()
    centres = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2
    owner = np.full(len(dets), -1)
    for i, p in enumerate(placements):
        inside = (
            (centres[:, 0] >= p.x)
            & (centres[:, 0] < p.x + p.width_px)
            & (centres[:, 1] >= p.y)
            & (centres[:, 1] < p.y + p.height_px)
        )
        owner[inside & (owner < 0)] = i
    keep = np.nonzero(owner >= 0)[0]
    xyxy = np.zeros((len(keep), 4), np.float32)
    for row, (box, i) in enumerate(zip(dets.xyxy[keep], owner[keep], strict=True)):
        p = placements[i]
        r = p.region
        x = np.clip((box[[0, 2]] - p.x) / p.scale + r.x0, r.x0, r.x1)
        y = np.clip((box[[1, 3]] - p.y) / p.scale + r.y0, r.y0, r.y1)
        xyxy[row] = (x[0], y[0], x[1], y[1])
    return Detections(xyxy, dets.confidence[keep], dets.class_id[keep])
