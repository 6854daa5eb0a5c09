"""Optional detector backend: user-supplied Ultralytics YOLO weights (.pt / .onnx).

Needs the optional `ultralytics` extra (and torch for .pt); no weights ship with the project.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from detect.detections import DEFAULT_CLASSES, Detections, class_ids
from detect.detector import validate_frames

SUPPORTED_SUFFIXES = (".pt", ".onnx")


def _yolo_class() -> Any:
    try:
        from ultralytics import YOLO
    except ImportError as exc:
        raise ImportError(
            "UltralyticsDetector needs the optional `ultralytics` package (pip install ultralytics)"
        ) from exc
    return YOLO


class UltralyticsDetector:
    """YOLO weights a user provides, behind the same `detect(frames)` interface as NanoDet.

    Class ids are COCO-80 as in `Detections`; weights trained on other label sets are refused.
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
        self._model = _yolo_class()(str(weights), task="detect")
        names = getattr(self._model, "names", None) or {}
        if names and len(names) != 80:
            raise ValueError(f"{weights.name} has {len(names)} classes; only COCO-80 is supported")
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.input_size_px = input_size_px
        self._class_ids = class_ids(classes)

    @staticmethod
    def build_untrained(out_path: Path, config: str = "yolo11n.yaml") -> Path:
        """Save an untrained YOLO built offline from a bundled config (plumbing tests only)."""
        model = _yolo_class()(config)
        model.save(str(out_path))
        return Path(out_path)

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        validate_frames(frames)
        if not frames:
            return []
        results = self._model.predict(
            list(frames), conf=self.score_threshold, iou=self.nms_iou, imgsz=self.input_size_px,
            classes=[int(c) for c in self._class_ids], verbose=False,
        )  # fmt: skip
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
