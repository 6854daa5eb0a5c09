"""`Detections`: one frame's boxes as parallel numpy arrays (the detect stage's value type)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

DEFAULT_CLASSES: tuple[str, ...] = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
# The classes every stage treats as persons or vehicles (attributes, plates, re-ID calibration,
# person-search rules, redaction): defined once here, the lowest module that names classes.
PERSON_CLASSES: frozenset[str] = frozenset({"person"})
VEHICLE_TYPES: tuple[str, ...] = ("car", "bus", "truck", "motorcycle", "bicycle")  # vocabulary
VEHICLE_CLASSES: frozenset[str] = frozenset(VEHICLE_TYPES)


def class_ids(names: tuple[str, ...] | list[str]) -> np.ndarray:
    """COCO class ids for `names`; raises ValueError naming an unknown class."""
    unknown = [n for n in names if n not in COCO_CLASSES]
    if unknown:
        raise ValueError(f"unknown class name(s): {unknown}; known: COCO-80 names")
    return np.array([COCO_CLASSES.index(n) for n in names], dtype=np.int64)


@dataclass(frozen=True)
class Detections:
    """Boxes of one frame: `xyxy` (N×4 float32, source pixels), `confidence` (N), `class_id` (N).

    `tracker_id` is filled by the tracker (N, int64) and `data` holds extra per-box arrays.
    Index with a boolean mask, an index array or a slice to get a new `Detections`.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray | None = None
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must be N×4, got {self.xyxy.shape}")
        if len(self.confidence) != n or len(self.class_id) != n:
            raise ValueError("confidence and class_id must have one entry per box")
        if self.tracker_id is not None and len(self.tracker_id) != n:
            raise ValueError("tracker_id must have one entry per box")
        for key, values in self.data.items():
            if len(values) != n:
                raise ValueError(f"data[{key!r}] must have one entry per box")

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
        )

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        """Concatenate detections of the same frame (tracker ids and data keys must agree)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        tracker_id = (
            np.concatenate([p.tracker_id for p in parts])
            if all(p.tracker_id is not None for p in parts)
            else None
        )
        keys = set(parts[0].data)
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]).astype(np.float32),
            confidence=np.concatenate([p.confidence for p in parts]).astype(np.float32),
            class_id=np.concatenate([p.class_id for p in parts]).astype(np.int64),
            tracker_id=tracker_id,
            data={k: np.concatenate([p.data[k] for p in parts]) for k in keys},
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Detections:
        if isinstance(index, int | np.integer):
            index = [int(index)]
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            data={k: v[index] for k, v in self.data.items()},
        )

    @property
    def class_name(self) -> list[str]:
        return [COCO_CLASSES[i] for i in self.class_id]

    @property
    def area_px(self) -> np.ndarray:
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def with_tracker_id(self, tracker_id: np.ndarray) -> Detections:
        return Detections(self.xyxy, self.confidence, self.class_id, tracker_id, dict(self.data))
