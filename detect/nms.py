"""Box geometry for detection post-processing: IoU matrices and (per-class) greedy NMS."""

from __future__ import annotations

import numpy as np

NMS_BLOCK = 256  # boxes per block of IoU rows (256 × N float64s at a time)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a) × len(b)) of xyxy boxes; zero-area boxes have IoU 0."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, highest score first."""
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    order = np.argsort(-np.asarray(scores), kind="stable")
    boxes = np.asarray(xyxy, np.float64)[order]
    keep: list[int] = []
    alive = np.ones(len(order), bool)
    # the IoU matrix once, in row blocks (bounded memory), instead of one IoU row per kept box
    for start in range(0, len(order), NMS_BLOCK):
        rows = box_iou(boxes[start : start + NMS_BLOCK], boxes) > iou_threshold
        for i in range(start, min(start + NMS_BLOCK, len(order))):
            if alive[i]:
                keep.append(int(order[i]))
                alive[i + 1 :] &= ~rows[i - start, i + 1 :]
    return np.array(keep, np.int64)


def batched_nms(
    xyxy: np.ndarray, scores: np.ndarray, class_id: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Per-class NMS (boxes of different classes never suppress each other)."""
    if len(xyxy) == 0:
        return np.zeros(0, np.int64)
    boxes = np.asarray(xyxy, np.float64)
    span = float(boxes.max() - min(boxes.min(), 0.0)) + 1.0
    shifted = boxes + (np.asarray(class_id, np.float64) * span)[:, None]
    return nms(shifted, scores, iou_threshold)
