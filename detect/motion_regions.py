"""Detection on motion regions: crop what moved at native sub-stream resolution, pack, detect.

The whole-frame pass shrinks a 640×360 sub-stream frame to the detector's 448×256 input, so a
person 15 px wide at the sub stream is ≈ 10 px to the model, below what NanoDet finds. The
motion gate (`ingest.motion`) already knows which pixels changed; here its mask becomes padded
boxes in frame pixels, merged where they touch, cut out at native resolution (× `crop_scale`)
and shelf-packed into detector-sized canvases — the regions of every frame of a batch share
canvases — so one batched detector call sees the moving parts larger than the whole-frame pass
does, and the empty parts of the frame not at all (Frigate detects on motion regions too).

Stationary objects (a parked car, someone standing) leave the motion mask; a whole-frame pass
finds them: at a camera's first frame, when the frame carries no mask, at a restart, and then
on every `full_every_frames`-th analysed frame (4: 0.8 s at 5 fps). Counted in frames, not
seconds: when analysis sheds load by sampling fewer frames, a time bound would make every frame
a whole-frame pass too and the overload worse (measured: busy 14 cost more with regions than
without under a 0.8 s bound and a sampling stride of 4). Between passes, a box of the
last whole-frame pass under which nothing moved is carried into each frame (nothing moved, so
the object is still there — Frigate keeps stationary objects the same way); where something
moved, the regions see it. The tracker so gets stationary objects on every frame (ByteTrack
confirms a new track only on consecutive hits). All boxes merge by per-class NMS.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from detect.detections import Detections
from detect.detector import BatchDetector, validate_frames
from detect.nms import batched_nms
from ingest.frame import Frame

CANVAS_FILL_BGR = (104, 116, 124)  # NanoDet's mean: what the letterbox pads with


@dataclass(frozen=True)
class MotionRegionSettings:
    """How motion becomes detector input; chosen on the tune frames of `bench.motion_regions`.

    `padding_px` (frame pixels) is added around each moving blob, so a walker's whole body and
    some context is in its crop; `crop_scale` enlarges crops (1: native sub-stream pixels), and
    a crop lower than `enlarge_below_px` is enlarged towards that height, at most
    `max_crop_scale`× (small crops are the far people, and cheap to enlarge);
    `min_blob_px` drops blobs of fewer mask pixels (noise); `canvas_px` (W, H) is the detector's
    input; `gap_px` separates packed crops; every `full_every_frames`-th frame of a camera
    gets a whole-frame pass; `nms_iou` merges region and whole-frame boxes. A region box is
    kept only with confidence ≥ `min_score` and when ≥ `min_moving_frac` of the mask cells under it
    moved: the crops show static things beside a walker (a tripod, a cone) larger than the
    whole-frame pass does, and those are its false positives; the moving ones are the point.
    """

    padding_px: int = 12
    crop_scale: float = 1.0
    enlarge_below_px: int = 0
    max_crop_scale: float = 2.0
    min_blob_px: int = 2
    canvas_px: tuple[int, int] = (448, 256)
    gap_px: int = 4
    full_every_frames: int = 4
    nms_iou: float = 0.6
    min_score: float = 0.35
    min_moving_frac: float = 0.1

    def __post_init__(self) -> None:
        if self.padding_px < 0:
            raise ValueError(f"padding_px must be ≥ 0, got {self.padding_px}")
        if not 0.25 <= self.crop_scale <= self.max_crop_scale <= 4.0:
            raise ValueError(
                f"need 0.25 ≤ crop_scale ≤ max_crop_scale ≤ 4, got {self.crop_scale},"
                f" {self.max_crop_scale}"
            )
        if self.enlarge_below_px < 0:
            raise ValueError(f"enlarge_below_px must be ≥ 0, got {self.enlarge_below_px}")
        if self.min_blob_px < 1:
            raise ValueError(f"min_blob_px must be ≥ 1, got {self.min_blob_px}")
        width_px, height_px = self.canvas_px
        if width_px < 32 or height_px < 32:
            raise ValueError(f"canvas_px must be at least 32×32, got {self.canvas_px}")
        if self.gap_px < 0:
            raise ValueError(f"gap_px must be ≥ 0, got {self.gap_px}")
        if self.full_every_frames < 1:
            raise ValueError(f"full_every_frames must be ≥ 1, got {self.full_every_frames}")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {self.nms_iou}")
        if not 0.0 <= self.min_score < 1.0:
            raise ValueError(f"min_score must be in [0, 1), got {self.min_score}")
        if not 0.0 <= self.min_moving_frac <= 1.0:
            raise ValueError(f"min_moving_frac must be in [0, 1], got {self.min_moving_frac}")


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


def crop_scales(regions: list[Region], settings: MotionRegionSettings) -> list[float]:
    """Each region's scale on a canvas: `crop_scale`, more for low crops (`enlarge_below_px`,
    up to `max_crop_scale`)."""
    return [
        min(
            settings.max_crop_scale,
            max(settings.crop_scale, settings.enlarge_below_px / r.height_px),
        )
        for r in regions
    ]


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


class MotionRegionDetector:
    """A base detector run on motion-region canvases, plus a periodic whole-frame pass.

    `full` (default: `base`) is the whole-frame detector (a tiled one if the camera tiles).
    `detect_frames` takes `Frame`s (camera, time, motion mask); `detect` (the `BatchDetector`
    interface: images only, no motion known) runs the whole-frame pass. Thread-safe: the
    per-camera pass times sit under a lock.
    """

    def __init__(
        self,
        base: BatchDetector,
        settings: MotionRegionSettings | None = None,
        full: BatchDetector | None = None,
    ) -> None:
        self.base = base
        self.full = full or base
        self.settings = settings or MotionRegionSettings()
        self._since_full: dict[str, tuple[int, float]] = {}  # per camera: frames, last pts
        self._still: dict[str, Detections] = {}  # per camera: its last whole-frame boxes
        self._lock = threading.Lock()
        self.full_passes = 0
        self.canvases = 0
        self.packed_px = 0  # crop pixels placed on canvases (their sum / canvas area: the fill)

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        """Whole-frame detection (no motion information)."""
        return self.full.detect(frames)

    def forget(self, camera_id: str) -> None:
        """The camera's next frame gets a whole-frame pass (it restarted or left)."""
        with self._lock:
            self._since_full.pop(camera_id, None)
            self._still.pop(camera_id, None)

    def full_pass_due(self, frame: Frame) -> bool:
        """Whether `frame` gets a whole-frame pass; records it when it does."""
        with self._lock:
            frames, last_s = self._since_full.get(frame.camera_id, (-1, 0.0))
            due = (
                frame.motion_mask is None
                or frames < 0
                or frame.pts_s < last_s
                or frames + 1 >= self.settings.full_every_frames
            )
            self._since_full[frame.camera_id] = (0 if due else frames + 1, frame.pts_s)
            if due:
                self.full_passes += 1
            return due

    def detect_frames(self, frames: list[Frame]) -> list[Detections]:
        """Detections per frame in frame pixels: motion regions of every frame, packed into
        shared canvases, plus the whole-frame pass where it is due."""
        if not frames:
            return []
        images = [frame.image for frame in frames]
        validate_frames(images)
        settings = self.settings
        full = [i for i, frame in enumerate(frames) if self.full_pass_due(frame)]
        regions = [
            []
            if frame.motion_mask is None
            else motion_regions(
                frame.motion_mask,
                (frame.width_px, frame.height_px),
                settings.padding_px,
                settings.min_blob_px,
            )
            for frame in frames
        ]
        placed = self._pack(regions)
        canvases = render_canvases(images, placed, settings.canvas_px)
        with self._lock:
            self.canvases += len(canvases)
            self.packed_px += sum(p.width_px * p.height_px for ps in placed for p in ps)
        if self.full is self.base:  # one batched call for both passes
            found = self.base.detect([images[i] for i in full] + canvases)
            full_found, canvas_found = found[: len(full)], found[len(full) :]
        else:
            full_found = self.full.detect([images[i] for i in full]) if full else []
            canvas_found = self.base.detect(canvases) if canvases else []
        parts: list[list[Detections]] = [[] for _ in frames]
        for i, dets in zip(full, full_found, strict=True):
            parts[i].append(dets)
        with self._lock:
            for i, frame in enumerate(frames):
                if i in full:
                    self._still[frame.camera_id] = parts[i][0]
                else:
                    parts[i].append(self._unmoved(self._still.get(frame.camera_id), frame))
        for i, placements in enumerate(placed):
            for canvas, dets in enumerate(canvas_found):
                mine = [p for p in placements if p.canvas == canvas]
                if mine:
                    parts[i].append(self._moving(to_frame(dets, mine), frames[i]))
        return [self._merge(p) for p in parts]

    def _unmoved(self, still: Detections | None, frame: Frame) -> Detections:
        """The last whole-frame boxes under which nothing moved since."""
        if still is None or frame.motion_mask is None or not len(still):
            return Detections.empty()
        frame_wh = (frame.width_px, frame.height_px)
        moving = moving_fraction(still.xyxy, frame.motion_mask, frame_wh)
        return still[moving < self.settings.min_moving_frac]

    def _moving(self, dets: Detections, frame: Frame) -> Detections:
        """Region boxes that are confident and on moving pixels."""
        if frame.motion_mask is None or not len(dets):
            return dets
        frame_wh = (frame.width_px, frame.height_px)
        moving = moving_fraction(dets.xyxy, frame.motion_mask, frame_wh)
        keep = (dets.confidence >= self.settings.min_score) & (
            moving >= self.settings.min_moving_frac
        )
        return dets[keep]

    def _pack(self, regions: list[list[Region]]) -> list[list[Placement]]:
        """Every frame's regions packed into shared canvases, per frame."""
        flat = [(i, region) for i, rs in enumerate(regions) for region in rs]
        flat_regions = [region for _, region in flat]
        placements = pack_regions(
            flat_regions,
            self.settings.canvas_px,
            crop_scales(flat_regions, self.settings),
            self.settings.gap_px,
        )
        placed: list[list[Placement]] = [[] for _ in regions]
        for (i, _), placement in zip(flat, placements, strict=True):
            placed[i].append(placement)
        return placed

    def _merge(self, parts: list[Detections]) -> Detections:
        merged = Detections.merge(parts)
        if len(parts) < 2 or not len(merged):
            return merged
        keep = batched_nms(merged.xyxy, merged.confidence, merged.class_id, self.settings.nms_iou)
        return merged[keep]
