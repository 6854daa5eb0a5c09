"""Geometry of motion-region detection: mask blobs → padded boxes, shelf packing of the crops
into canvases, rendering them, and mapping canvas boxes back to frame pixels
(`detect.motion_regions` runs the detector on them)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detect.detections import Detections
from models.letterbox import filled

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


def canvas_sizes(
    placements: list[Placement], canvas_px: tuple[int, int], multiple_px: int = 32
) -> list[tuple[int, int]]:
    """Each canvas's size (W, H): what its crops cover, rounded up to `multiple_px` (the
    detector's input step), at most `canvas_px` — so a canvas costs what it holds."""
    count = 1 + max((p.canvas for p in placements), default=-1)
    used = np.zeros((count, 2), np.int64)
    for p in placements:
        used[p.canvas] = np.maximum(used[p.canvas], (p.x + p.width_px, p.y + p.height_px))
    sizes = -(-used // multiple_px) * multiple_px
    return [(min(int(w), canvas_px[0]), min(int(h), canvas_px[1])) for w, h in sizes.tolist()]


def render_canvases(
    images: list[np.ndarray], placed: list[list[Placement]], sizes: list[tuple[int, int]]
) -> list[np.ndarray]:
    """The canvases (of `sizes`, W × H) holding `placed[i]`'s crops of `images[i]` (canvas
    indices are global)."""
    canvases = [filled(h, w, CANVAS_FILL_BGR) for w, h in sizes]
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


def _corners(region: Region) -> tuple[int, int, int, int]:
    return region.x0, region.y0, region.x1, region.y1


def to_frame(dets: Detections, placements: list[Placement]) -> Detections:
    """Canvas boxes mapped back to frame pixels through the placement holding each box's centre
    (the first such placement; clipped to its region); boxes centred on the canvas background
    are dropped."""
    if not len(dets) or not placements:
        return Detections.empty()
    # per placement: x, y, width, height on the canvas; scale; region x0, y0, x1, y1 in the frame
    table = np.array(
        [(p.x, p.y, p.width_px, p.height_px, p.scale, *_corners(p.region)) for p in placements],
        np.float64,
    )
    x, y, w, h, scale = table[:, :5].T
    centres = ((dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2).astype(np.float64)
    inside = (
        (centres[:, :1] >= x) & (centres[:, :1] < x + w) & (centres[:, 1:] >= y)
        & (centres[:, 1:] < y + h)
    )  # boxes × placements  # fmt: skip
    keep = np.nonzero(inside.any(axis=1))[0]
    owner = inside[keep].argmax(axis=1)
    offset = table[owner][:, [0, 1, 0, 1]]
    region = table[owner][:, 5:]
    frame_xyxy = np.clip(
        (dets.xyxy[keep] - offset) / scale[owner, None] + region[:, [0, 1, 0, 1]],
        region[:, [0, 1, 0, 1]],
        region[:, [2, 3, 2, 3]],
    )
    return Detections(frame_xyxy.astype(np.float32), dets.confidence[keep], dets.class_id[keep])
