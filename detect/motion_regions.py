"""Detection on motion regions: crop what moved at native sub-stream resolution, pack, detect.

The whole-frame pass shrinks a 640×360 sub-stream frame to the detector's 448×256 input, so a
person 15 px wide at the sub stream is ≈ 10 px to the model, below what NanoDet finds. The
motion gate (`ingest.motion`) already knows which pixels changed; here its mask becomes padded
boxes in frame pixels, merged where they touch, cut out at native resolution (× `crop_scale`)
and shelf-packed into canvases — the regions of every frame of a batch share them — each
canvas cut to what its crops cover (rounded up to the detector's 32 px step, at most its
input size) when the detector runs any input size (`SizedInputDetector`: NanoDet's ONNX input
is dynamic, and its cost is linear in the input's area), so the detector sees the moving parts
larger than the whole-frame pass does, pays for about what moved, and never sees the empty
parts of the frame (Frigate detects on motion regions too). On a frame that gets the
whole-frame pass, a crop that would show no more than that pass (a region larger than a
canvas) is left out.

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

import numpy as np

from detect.detections import Detections
from detect.detector import BatchDetector, SizedInputDetector, validate_frames
from detect.nms import batched_nms
from detect.region_packing import (
    Placement,
    Region,
    canvas_sizes,
    motion_regions,
    moving_fraction,
    pack_regions,
    render_canvases,
    to_frame,
)
from ingest.frame import Frame


@dataclass(frozen=True)
class MotionRegionSettings:
    """How motion becomes detector input; chosen on the tune frames of `bench.motion_regions`.

    `padding_px` (frame pixels) is added around each moving blob, so a walker's whole body and
    some context is in its crop; `crop_scale` enlarges crops (1: native sub-stream pixels), and
    a crop lower than `enlarge_below_px` is enlarged towards that height, at most
    `max_crop_scale`× (small crops are the far people, and cheap to enlarge), and one taller
    than `shrink_above_px` (0: none) shrunk towards it, never below the whole-frame pass's
    scale (measured: 96 px cost test recall, so off);
    `min_blob_px` drops blobs of fewer mask pixels (noise); `canvas_px` (W, H) is the detector's
    input and the largest canvas; `gap_px` separates packed crops; every `full_every_frames`-th
    frame of a camera gets a whole-frame pass; `nms_iou` merges region and whole-frame boxes.
    A region box is kept only with confidence ≥ `min_score` and when ≥ `min_moving_frac` of the
    mask cells under it moved: the crops show static things beside a walker (a tripod, a cone)
    larger than the whole-frame pass does, and those are its false positives; the moving ones
    are the point.
    """

    padding_px: int = 12
    crop_scale: float = 1.0
    enlarge_below_px: int = 0
    max_crop_scale: float = 2.0
    shrink_above_px: int = 0
    min_blob_px: int = 2
    canvas_px: tuple[int, int] = (448, 256)
    gap_px: int = 4
    full_every_frames: int = 4
    nms_iou: float = 0.4
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
        if self.shrink_above_px < 0:
            raise ValueError(f"shrink_above_px must be ≥ 0, got {self.shrink_above_px}")
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


def crop_scales(
    regions: list[Region], settings: MotionRegionSettings, whole_scales: list[float]
) -> list[float]:
    """Each region's scale on a canvas: `crop_scale`, more for low crops (`enlarge_below_px`,
    up to `max_crop_scale`), less for tall ones (`shrink_above_px`), never below its frame's
    whole-frame scale (`whole_scales`, the whole-frame pass's input / frame)."""
    scales = []
    for region, whole in zip(regions, whole_scales, strict=True):
        scale = min(
            settings.max_crop_scale,
            max(settings.crop_scale, settings.enlarge_below_px / region.height_px),
        )
        if settings.shrink_above_px and region.height_px * scale > settings.shrink_above_px:
            scale = max(whole, settings.shrink_above_px / region.height_px)
        scales.append(scale)
    return scales


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
        # per camera: its last whole-frame boxes and the cells that moved since that pass
        self._still: dict[str, tuple[Detections, np.ndarray | None]] = {}
        self._lock = threading.Lock()
        self.full_passes = 0
        self.canvases = 0
        self.packed_px = 0  # crop pixels placed on canvases (their sum / canvas area: the fill)
        self.canvas_area_px = 0  # the canvases' input pixels (what the detector ran on)

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
        placed = self._pack(frames, regions, full)
        placements = [p for ps in placed for p in ps]
        count = 1 + max((p.canvas for p in placements), default=-1)
        sized = self.base if isinstance(self.base, SizedInputDetector) else None
        sizes = (
            canvas_sizes(placements, settings.canvas_px) if sized else [settings.canvas_px] * count
        )
        canvases = render_canvases(images, placed, sizes)
        with self._lock:
            self.canvases += len(canvases)
            self.canvas_area_px += sum(w * h for w, h in sizes)
            self.packed_px += sum(p.width_px * p.height_px for p in placements)
        full_found = self.full.detect([images[i] for i in full]) if full else []
        canvas_found = (
            (sized.detect_sized if sized else self.base.detect)(canvases) if canvases else []
        )
        parts: list[list[Detections]] = [[] for _ in frames]
        for i, dets in zip(full, full_found, strict=True):
            parts[i].append(dets)
        with self._lock:
            for i, frame in enumerate(frames):
                if i in full:
                    self._still[frame.camera_id] = (parts[i][0], _moved_at_pass(frame.motion_mask))
                else:
                    parts[i].append(self._unmoved(frame))
        for i, frame_placements in enumerate(placed):
            on_canvas: dict[int, list[Placement]] = {}
            for p in frame_placements:
                on_canvas.setdefault(p.canvas, []).append(p)
            found = [to_frame(canvas_found[c], mine) for c, mine in on_canvas.items()]
            if found:
                parts[i].append(self._moving(Detections.merge(found), frames[i]))
        return [self._merge(p) for p in parts]

    def _unmoved(self, frame: Frame) -> Detections:
        """The camera's last whole-frame boxes under which nothing moved since that pass (its
        own frame's motion counts: a walker's box there is stale the moment they step on)."""
        still, moved = self._still.get(frame.camera_id, (Detections.empty(), None))
        if frame.motion_mask is None or not len(still):
            return Detections.empty()
        if moved is not None and moved.shape != frame.motion_mask.shape:
            return Detections.empty()  # the frame's geometry changed: the boxes are stale
        moved = frame.motion_mask.copy() if moved is None else moved | frame.motion_mask
        self._still[frame.camera_id] = (still, moved)
        moving = moving_fraction(still.xyxy, moved, (frame.width_px, frame.height_px))
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

    def _pack(
        self, frames: list[Frame], regions: list[list[Region]], full: list[int]
    ) -> list[list[Placement]]:
        """Every frame's regions packed into shared canvases, per frame. On a frame with a
        whole-frame pass, a crop no larger than that pass shows it is left out."""
        canvas_w, canvas_h = self.settings.canvas_px
        wholes = [min(canvas_w / f.width_px, canvas_h / f.height_px) for f in frames]
        flat = [(i, region) for i, rs in enumerate(regions) for region in rs]
        scales = crop_scales([r for _, r in flat], self.settings, [wholes[i] for i, _ in flat])
        kept = [
            (i, region, scale)
            for (i, region), scale in zip(flat, scales, strict=True)
            if i not in full
            or min(scale, canvas_w / region.width_px, canvas_h / region.height_px)
            > wholes[i] + 1e-9
        ]
        placements = pack_regions(
            [region for _, region, _ in kept],
            self.settings.canvas_px,
            [scale for _, _, scale in kept],
            self.settings.gap_px,
        )
        placed: list[list[Placement]] = [[] for _ in regions]
        for (i, _, _), placement in zip(kept, placements, strict=True):
            placed[i].append(placement)
        return placed

    def _merge(self, parts: list[Detections]) -> Detections:
        merged = Detections.merge(parts)
        if len(parts) < 2 or not len(merged):
            return merged
        keep = batched_nms(merged.xyxy, merged.confidence, merged.class_id, self.settings.nms_iou)
        return merged[keep]


def _moved_at_pass(mask: np.ndarray | None) -> np.ndarray | None:
    """The pass frame's moving cells; a mask where everything moved (the gate's first frame,
    a lighting change) tells nothing about which boxes move, so it starts empty."""
    if mask is None:
        return None
    return np.zeros_like(mask, bool) if mask.all() else mask.astype(bool, copy=True)
