"""Object detectors: the `Detector` interface, NanoDet on ONNX Runtime, and tiled detection.

Tiling is a capability a backend declares through `Detector.tiled`: NanoDet returns a
`TiledDetector` over its own session, a backend that cannot tile returns None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import onnxruntime as ort

from detect.detections import DEFAULT_CLASSES, Detections, class_ids
from detect.nms import batched_nms
from models.letterbox import LetterboxTransform, letterbox

NANODET_MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
NANODET_STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)
NANODET_MEAN_SCALAR = tuple(float(v) for v in NANODET_MEAN_BGR)
NANODET_INV_STD_NCHW = (1.0 / NANODET_STD_BGR).reshape(1, 3, 1, 1)
NANODET_STRIDES = (8, 16, 32)
NANODET_REG_BINS = 11
SIZE_MULTIPLE_PX = 32


@runtime_checkable
class BatchDetector(Protocol):
    """A batched detector: BGR uint8 H×W×3 frames in, one `Detections` per frame out.

    All that one-shot users (query images) need; the analysis worker wants a `Detector`."""

    def detect(self, frames: list[np.ndarray]) -> list[Detections]: ...


@runtime_checkable
class Detector(BatchDetector, Protocol):
    """A detector backend: batched detection plus its declared optional capabilities."""

    def tiled(self, grid: TileGrid) -> Detector | None:
        """This detector run on the full frame plus `grid`'s tiles, merged; None when the
        backend cannot tile (the caller then keeps full frames and says so)."""
        ...


@runtime_checkable
class SizedInputDetector(BatchDetector, Protocol):
    """A detector whose model runs at any input size (sides multiples of 32): the motion-region
    path (#16) gives it canvases cut to what they hold, so their cost follows their content."""

    def detect_sized(self, images: list[np.ndarray]) -> list[Detections]:
        """Detections per image, each run at its own size (no resize); boxes in image pixels."""
        ...


def validate_frames(frames: list[np.ndarray]) -> None:
    """Raise ValueError naming the first frame that is not a non-empty BGR uint8 H×W×3 array."""
    if not isinstance(frames, list | tuple):
        raise ValueError(f"frames must be a list of images, got {type(frames).__name__}")
    for i, frame in enumerate(frames):
        if not isinstance(frame, np.ndarray):
            raise ValueError(f"frame {i}: expected numpy array, got {type(frame).__name__}")
        if frame.dtype != np.uint8:
            raise ValueError(f"frame {i}: expected dtype uint8 (BGR), got {frame.dtype}")
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {i}: expected shape H×W×3, got {frame.shape}")
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise ValueError(f"frame {i}: empty image (shape {frame.shape})")


@dataclass(frozen=True)
class NanoDetSettings:
    """NanoDet decoding parameters; `input_size` is (W, H), multiples of 32."""

    input_size: tuple[int, int] = (416, 416)
    score_threshold: float = 0.35
    nms_iou: float = 0.6
    classes: tuple[str, ...] = DEFAULT_CLASSES
    max_detections: int = 100
    intra_op_threads: int = 1
    # decoded apart from `classes` (their own best class per cell, their own NMS), so adding
    # them leaves the boxes of `classes` exactly as they were: the rules' stall proxies (#13)
    side_classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        w, h = self.input_size
        if w <= 0 or h <= 0 or w % SIZE_MULTIPLE_PX or h % SIZE_MULTIPLE_PX:
            raise ValueError(f"input_size {self.input_size} must be positive multiples of 32")
        if not 0.0 < self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {self.score_threshold}")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {self.nms_iou}")
        if self.intra_op_threads < 0:
            raise ValueError(f"intra_op_threads must be >= 0, got {self.intra_op_threads}")
        class_ids(self.classes)
        class_ids(self.side_classes)
        if set(self.classes) & set(self.side_classes):
            raise ValueError(f"side_classes must not repeat classes, got {self.side_classes}")


def _cell_centres_px(size_wh: tuple[int, int], stride: int) -> np.ndarray:
    cols, rows = size_wh[0] // stride, size_wh[1] // stride
    ys, xs = np.mgrid[0:rows, 0:cols]
    return (np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32) + 0.5) * stride


def decode_distances(dist: np.ndarray, stride: int) -> np.ndarray:
    """(K, 44) bin logits -> (K, 4) distances l, t, r, b in input pixels (softmax expectation)."""
    logits = dist.reshape(-1, 4, NANODET_REG_BINS)
    logits = logits - logits.max(axis=2, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=2, keepdims=True)
    return (probs @ np.arange(NANODET_REG_BINS, dtype=np.float32)) * stride


class NanoDetDetector:
    """NanoDet (COCO-80) on ONNX Runtime: one batched session call per `detect`."""

    def __init__(
        self,
        model_path: Path,
        input_size: tuple[int, int] = (416, 416),
        score_threshold: float = 0.35,
        nms_iou: float = 0.6,
        classes: tuple[str, ...] = DEFAULT_CLASSES,
        intra_op_threads: int = 1,
        max_detections: int = 100,
        side_classes: tuple[str, ...] = (),
    ) -> None:
        self.settings = NanoDetSettings(
            tuple(input_size),  # type: ignore[arg-type]
            score_threshold,
            nms_iou,
            tuple(classes),
            max_detections,
            intra_op_threads,
            tuple(side_classes),
        )
        if not Path(model_path).is_file():
            raise FileNotFoundError(f"detector model file not found: {model_path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        # Idle ORT threads must sleep, not spin: spinning doubled detection CPU on 2 cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._class_ids = class_ids(self.settings.classes)
        self._side_class_ids = class_ids(self.settings.side_classes)
        self._centres: dict[tuple[int, int], dict[int, np.ndarray]] = {}  # per input size

    @property
    def input_size(self) -> tuple[int, int]:
        return self.settings.input_size

    def preprocess(self, frames: list[np.ndarray]) -> tuple[np.ndarray, list[LetterboxTransform]]:
        """Letterbox + normalise into an N×3×H×W float32 batch."""
        validate_frames(frames)
        boxed = [letterbox(f, self.settings.input_size) for f in frames]
        return _blob([b[0] for b in boxed], self.settings.input_size), [b[1] for b in boxed]

    def raw_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run the model on a preprocessed batch; outputs by name (cls_s8, dist_s8, ...)."""
        names = [o.name for o in self._session.get_outputs()]
        return dict(zip(names, self._session.run(names, {"images": batch}), strict=True))

    def tiled(self, grid: TileGrid) -> TiledDetector:
        """Tiling capability: this session on the full frame and `grid`'s tiles."""
        return TiledDetector(self, grid)

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        """Detections per frame, boxes in source pixels, classes limited to `settings.classes`
        (then those of `settings.side_classes`, if any, after them)."""
        if len(frames) == 0:
            return []
        batch, transforms = self.preprocess(frames)
        return self._found(self.raw_outputs(batch), transforms, self.settings.input_size)

    def detect_sized(self, images: list[np.ndarray]) -> list[Detections]:
        """Detections per image, each image the model's input as it is (sides multiples of 32,
        no letterbox): the motion-region canvases (#16), whose cost so follows their size. The
        model's input is dynamic; images of one size share a session call."""
        validate_frames(images)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            height_px, width_px = image.shape[:2]
            if height_px % SIZE_MULTIPLE_PX or width_px % SIZE_MULTIPLE_PX:
                raise ValueError(f"image {i}: sides must be multiples of 32, got {image.shape}")
            by_size.setdefault((width_px, height_px), []).append(i)
        found: dict[int, Detections] = {}
        for size, indices in by_size.items():
            outputs = self.raw_outputs(_blob([images[i] for i in indices], size))
            same = [LetterboxTransform(1.0, 1.0, 0.0, 0.0, *size)] * len(indices)
            found.update(zip(indices, self._found(outputs, same, size), strict=True))
        return [found[i] for i in range(len(images))]

    def _found(
        self,
        outputs: dict[str, np.ndarray],
        transforms: list[LetterboxTransform],
        size: tuple[int, int],
    ) -> list[Detections]:
        """The batch's detections, `size` its input (W, H), boxes mapped by `transforms`."""
        if size not in self._centres:
            self._centres[size] = {s: _cell_centres_px(size, s) for s in NANODET_STRIDES}
        centres = self._centres[size]
        found = [
            self._decode(outputs, i, t, self._class_ids, centres) for i, t in enumerate(transforms)
        ]
        if not len(self._side_class_ids):
            return found
        return [
            Detections.merge([main, self._decode(outputs, i, t, self._side_class_ids, centres)])
            for i, (main, t) in enumerate(zip(found, transforms, strict=True))
        ]

    def _decode(
        self,
        outputs: dict[str, np.ndarray],
        index: int,
        transform: LetterboxTransform,
        wanted_ids: np.ndarray,
        centres_px: dict[int, np.ndarray],
    ) -> Detections:
        boxes, scores, labels = [], [], []
        for stride in NANODET_STRIDES:
            cls = outputs[f"cls_s{stride}"][index][:, wanted_ids]
            best = cls.argmax(axis=1)
            best_score = cls[np.arange(len(cls)), best]
            keep = np.nonzero(best_score > self.settings.score_threshold)[0]
            if not len(keep):
                continue
            dist = decode_distances(outputs[f"dist_s{stride}"][index][keep], stride)
            centres = centres_px[stride][keep]
            boxes.append(np.concatenate([centres - dist[:, :2], centres + dist[:, 2:]], axis=1))
            scores.append(best_score[keep])
            labels.append(wanted_ids[best[keep]])
        if not boxes:
            return Detections.empty()
        xyxy = np.concatenate(boxes)
        score = np.concatenate(scores)
        label = np.concatenate(labels)
        kept = batched_nms(xyxy, score, label, self.settings.nms_iou)
        kept = kept[: self.settings.max_detections]
        return Detections(
            xyxy=transform.to_source(xyxy[kept]),
            confidence=score[kept].astype(np.float32),
            class_id=label[kept].astype(np.int64),
        )


def _blob(images: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """Images of `size` (W, H) as NanoDet's normalised N×3×H×W float32 batch."""
    batch = cv2.dnn.blobFromImages(images, 1.0, size, NANODET_MEAN_SCALAR, False, False)
    np.multiply(batch, NANODET_INV_STD_NCHW, out=batch)  # mean subtracted above, in one pass
    return batch


@dataclass(frozen=True)
class TileGrid:
    """Tiling of a frame into `cols`×`rows` overlapping tiles (plus the full frame)."""

    cols: int = 2
    rows: int = 2
    overlap_frac: float = 0.2

    def __post_init__(self) -> None:
        if self.cols < 1 or self.rows < 1:
            raise ValueError(f"tile grid must be at least 1×1, got {self.cols}×{self.rows}")
        if not 0.0 <= self.overlap_frac < 1.0:
            raise ValueError(f"overlap_frac must be in [0, 1), got {self.overlap_frac}")

    def tiles(self, width_px: int, height_px: int) -> list[tuple[int, int, int, int]]:
        """Tile rectangles x0, y0, x1, y1 covering the frame."""
        rects = []
        for axis_len, count in ((width_px, self.cols), (height_px, self.rows)):
            size = axis_len / (count - (count - 1) * self.overlap_frac)
            step = size * (1 - self.overlap_frac)
            starts = [round(i * step) for i in range(count)]
            rects.append([(s, min(axis_len, round(s + size))) for s in starts])
        return [(x0, y0, x1, y1) for (y0, y1) in rects[1] for (x0, x1) in rects[0]]


class TiledDetector:
    """Runs a base detector on the full frame and on overlapping tiles, merged by per-class NMS.

    Costs (1 + cols·rows)× the base detector; finds small, far-away objects the full frame misses.
    """

    def __init__(
        self, base: NanoDetDetector, grid: TileGrid | None = None, edge_margin_frac: float = 0.03
    ) -> None:
        self.base = base
        self.grid = grid or TileGrid()
        self.edge_margin_frac = edge_margin_frac

    def tiled(self, grid: TileGrid) -> None:
        """Tiles of tiles are not offered: tile the base detector instead."""
        return None

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        validate_frames(frames)
        crops: list[np.ndarray] = []
        rects: list[tuple[int, int, int, int]] = []
        owners: list[int] = []
        for i, frame in enumerate(frames):
            h, w = frame.shape[:2]
            for x0, y0, x1, y1 in [(0, 0, w, h), *self.grid.tiles(w, h)]:
                crops.append(frame[y0:y1, x0:x1])
                rects.append((x0, y0, x1, y1))
                owners.append(i)
        parts: list[list[Detections]] = [[] for _ in frames]
        for dets, rect, owner in zip(self.base.detect(crops), rects, owners, strict=True):
            frame_h, frame_w = frames[owner].shape[:2]
            parts[owner].append(_in_frame(dets, rect, frame_w, frame_h, self.edge_margin_frac))
        return [self._merge(p) for p in parts]

    def _merge(self, parts: list[Detections]) -> Detections:
        merged = Detections.merge(parts)
        if not len(merged):
            return merged
        keep = batched_nms(
            merged.xyxy, merged.confidence, merged.class_id, self.base.settings.nms_iou
        )
        return merged[keep[: self.base.settings.max_detections]]


def _in_frame(
    dets: Detections,
    rect: tuple[int, int, int, int],
    frame_w: int,
    frame_h: int,
    margin_frac: float,
) -> Detections:
    """Tile detections shifted to frame pixels, minus boxes cut by an inner tile border.

    A box touching a tile border that is not a frame border is a truncated object: the full
    frame or the overlapping neighbour tile sees it whole.
    """
    x0, y0, x1, y1 = rect
    margin = margin_frac * max(x1 - x0, y1 - y0)
    xyxy = dets.xyxy + np.array([x0, y0, x0, y0], np.float32)
    cut = np.zeros(len(xyxy), bool)
    if x0 > 0:
        cut |= xyxy[:, 0] <= x0 + margin
    if y0 > 0:
        cut |= xyxy[:, 1] <= y0 + margin
    if x1 < frame_w:
        cut |= xyxy[:, 2] >= x1 - margin
    if y1 < frame_h:
        cut |= xyxy[:, 3] >= y1 - margin
    keep = ~cut
    return Detections(xyxy[keep], dets.confidence[keep], dets.class_id[keep])


@dataclass(frozen=True)
class DetectorConfig:
    """Per-camera detector choice: `tiles` (cols, rows) of (1, 1) means no tiling;
    `motion_regions` adds detection on the frame's motion regions (`detect.motion_regions`),
    the whole (or tiled) frame then being analysed only periodically."""

    tiles: tuple[int, int] = (1, 1)
    tile_overlap_frac: float = 0.2
    motion_regions: bool = False

    @property
    def grid(self) -> TileGrid | None:
        """The tile grid, None for plain full-frame detection."""
        if self.tiles == (1, 1):
            return None
        return TileGrid(self.tiles[0], self.tiles[1], self.tile_overlap_frac)


def detector_for(config: DetectorConfig, base: Detector) -> Detector | None:
    """The detector a camera with `config` uses, sharing `base`'s session; None when `config`
    asks for tiles and `base` cannot tile."""
    grid = config.grid
    return base if grid is None else base.tiled(grid)
