"""Optional detector backend: user-supplied Ultralytics YOLO weights (.pt / .onnx).

Needs the optional `ultralytics` extra (and torch); no weights ship with the project. The main
product never imports this module unless a user asks for it, so torch is never needed otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from detect.detections import COCO_CLASSES, DEFAULT_CLASSES, Detections, class_ids
from detect.detector import TileGrid, validate_frames

SUPPORTED_SUFFIXES = (".pt", ".onnx")
SIZE_MULTIPLE_PX = 32


def _yolo_class() -> Any:
    try:
        from ultralytics import YOLO
    except ImportError as exc:
        raise ImportError(
            "UltralyticsDetector needs the optional `ultralytics` package and torch "
            "(see scripts/setup_yolo.sh, which builds .venv-yolo)"
        ) from exc
    return YOLO


def onnx_input_size_px(weights: Path) -> int | None:
    """The square input side a static ONNX export was made for; None when it is dynamic."""
    import onnx

    graph_input = onnx.load(str(weights), load_external_data=False).graph.input[0]
    dims = graph_input.type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ValueError(f"{weights.name}: expected a 4-D image input, got {len(dims)} dims")
    height, width = (d.dim_value if d.HasField("dim_value") else None for d in dims[2:])
    if height is None or width is None:
        return None
    if height != width:
        raise ValueError(f"{weights.name}: non-square ONNX input {width}×{height} is not supported")
    return int(height)


def check_coco_names(names: dict[int, str], source: str) -> None:
    """Raise ValueError unless `names` is the COCO-80 label set in COCO order."""
    ordered = tuple(names[i] for i in sorted(names))
    if ordered != COCO_CLASSES:
        differ = [
            f"{i}: {got!r} (COCO {want!r})"
            for i, (got, want) in enumerate(zip(ordered, COCO_CLASSES, strict=False))
            if got != want
        ][:3]
        raise ValueError(
            f"{source} has {len(ordered)} classes that are not COCO-80 in COCO order "
            f"(first differences: {differ or 'class count'}); only COCO-80 weights are supported"
        )


class UltralyticsDetector:
    """YOLO weights a user provides, behind the same `detect(frames)` interface as NanoDet.

    Class ids are COCO-80 as in `Detections`; weights trained on other label sets are refused.
    Boxes come back in source-frame pixels (Ultralytics undoes its own letterbox). Declares no
    tiling capability: cameras that ask for tiles get full frames (the worker logs it).
    """

    def __init__(
        self,
        weights: Path,
        score_threshold: float = 0.25,
        nms_iou: float = 0.7,
        classes: tuple[str, ...] = DEFAULT_CLASSES,
        input_size_px: int = 640,
    ) -> None:
        weights = Path(weights)
        if weights.suffix not in SUPPORTED_SUFFIXES:
            raise ValueError(f"weights must be one of {SUPPORTED_SUFFIXES}, got {weights.name}")
        if not weights.is_file():
            raise FileNotFoundError(f"YOLO weights not found: {weights}")
        if not 0.0 <= score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {score_threshold}")
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou}")
        if input_size_px <= 0 or input_size_px % SIZE_MULTIPLE_PX:
            raise ValueError(
                f"input_size_px must be a positive multiple of 32, got {input_size_px}"
            )
        if weights.suffix == ".onnx":
            exported_px = onnx_input_size_px(weights)
            if exported_px is not None and exported_px != input_size_px:
                raise ValueError(
                    f"{weights.name} was exported for {exported_px} px input; "
                    f"input_size_px={input_size_px} does not match"
                )
        self._class_ids = class_ids(classes)
        self._model = _yolo_class()(str(weights), task="detect")
        check_coco_names(dict(self._model.names), weights.name)
        self.weights = weights
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.input_size_px = input_size_px

    def tiled(self, grid: TileGrid) -> None:
        """Not offered: NanoDet's tiling merges with its own NMS settings, YOLO's are internal."""
        return None

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        validate_frames(frames)
        if not frames:
            return []
        results = self._model.predict(
            list(frames), conf=self.score_threshold, iou=self.nms_iou, imgsz=self.input_size_px,
            classes=[int(c) for c in self._class_ids], verbose=False,
        )  # fmt: skip
        if len(results) != len(frames):
            raise RuntimeError(
                f"ultralytics returned {len(results)} results for {len(frames)} frames"
            )
        return [self._to_detections(r) for r in results]

    @staticmethod
    def _to_detections(result: Any) -> Detections:
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        return Detections(
            xyxy=boxes.xyxy.cpu().numpy().astype(np.float32),
            confidence=boxes.conf.cpu().numpy().astype(np.float32),
            class_id=boxes.cls.cpu().numpy().astype(np.int64),
        )
