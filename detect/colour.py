"""Class-aware HSV colour descriptor of an object crop (person: upper/lower body; else whole box).

Layout (fixed, `COLOUR_DIM` = 3 × `REGION_BINS` = 162 floats):

    [ upper body (54) | lower body (54) | whole box (54) ]

A person fills the first two slots and leaves the third zero; every other class fills only the
third, so a person and a car never look alike by colour. Each region histogram has
`HUE_BINS`×`SAT_BINS`×`VAL_BINS` = 48 chromatic bins (saturation and value both at least
`CHROMA_MIN`) plus `GREY_BINS` = 6 achromatic bins indexed by value (black … white). A filled slot
is L1-normalised, then square-rooted (Hellinger map, so that dot products of the final vectors are
Bhattacharyya coefficients), and the whole vector is L2-normalised.

Person regions skip the head and feet and keep the middle of the box width, where the body is:
upper = rows 15–50 %, lower = 50–90 %, columns 20–80 %. Other classes use rows and columns
10–90 %.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from detect.detections import PERSON_CLASSES

HUE_BINS = 12
SAT_BINS = 2
VAL_BINS = 2
GREY_BINS = 6
CHROMA_MIN = 48  # OpenCV HSV units (0-255): below this saturation or value a pixel is grey
REGION_BINS = HUE_BINS * SAT_BINS * VAL_BINS + GREY_BINS
COLOUR_DIM = 3 * REGION_BINS
COLOUR_VERSION = "hsv12x2x2+g6-3slot-v1"


@dataclass(frozen=True)
class RegionSpec:
    """A sub-rectangle of a box as fractions of its height and width."""

    top: float
    bottom: float
    left: float
    right: float

    def cut(self, crop: np.ndarray) -> np.ndarray:
        h, w = crop.shape[:2]
        y0, y1 = int(self.top * h), max(int(self.top * h) + 1, round(self.bottom * h))
        x0, x1 = int(self.left * w), max(int(self.left * w) + 1, round(self.right * w))
        return crop[y0:y1, x0:x1]


PERSON_UPPER = RegionSpec(0.15, 0.50, 0.20, 0.80)
PERSON_LOWER = RegionSpec(0.50, 0.90, 0.20, 0.80)
WHOLE_BOX = RegionSpec(0.10, 0.90, 0.10, 0.90)


def check_crop(crop: np.ndarray) -> None:
    """Raise ValueError naming the problem unless `crop` is a non-empty H×W×3 uint8 BGR image."""
    if not isinstance(crop, np.ndarray):
        raise ValueError(f"crop must be a numpy array, got {type(crop).__name__}")
    if crop.dtype != np.uint8:
        raise ValueError(f"crop must be uint8 BGR, got dtype {crop.dtype}")
    if crop.ndim != 3 or crop.shape[2] != 3:
        raise ValueError(f"crop must be H×W×3 BGR, got shape {crop.shape}")
    if crop.shape[0] < 2 or crop.shape[1] < 2:
        raise ValueError(f"crop is empty or degenerate: shape {crop.shape}")


def region_histogram(bgr: np.ndarray) -> np.ndarray:
    """L1-normalised 54-bin HSV histogram of a BGR region (chromatic bins, then grey bins)."""
    hsv = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2HSV).reshape(-1, 3)
    hue = hsv[:, 0].astype(np.int64)  # 0..179
    sat = hsv[:, 1].astype(np.int64)
    val = hsv[:, 2].astype(np.int64)
    chromatic = (sat >= CHROMA_MIN) & (val >= CHROMA_MIN)
    hue_bin = np.minimum(hue * HUE_BINS // 180, HUE_BINS - 1)
    sat_bin = np.minimum((sat - CHROMA_MIN) * SAT_BINS // (256 - CHROMA_MIN), SAT_BINS - 1)
    val_bin = np.minimum((val - CHROMA_MIN) * VAL_BINS // (256 - CHROMA_MIN), VAL_BINS - 1)
    colour_index = (hue_bin * SAT_BINS + sat_bin) * VAL_BINS + val_bin
    grey_index = HUE_BINS * SAT_BINS * VAL_BINS + np.minimum(val * GREY_BINS // 256, GREY_BINS - 1)
    index = np.where(chromatic, colour_index, grey_index)
    hist = np.bincount(index, minlength=REGION_BINS).astype(np.float32)
    return hist / max(float(hist.sum()), 1.0)


RegionHistogram = Callable[[np.ndarray], np.ndarray]


def slotted_descriptor(
    crop: np.ndarray, class_name: str, histogram: RegionHistogram, bins: int
) -> np.ndarray:
    """The three-slot layout of the module docstring over any `bins`-long region histogram:
    Hellinger-mapped (square root) and L2-normalised."""
    check_crop(crop)
    vector = np.zeros((3, bins), np.float32)
    if class_name in PERSON_CLASSES:
        vector[0] = histogram(PERSON_UPPER.cut(crop))
        vector[1] = histogram(PERSON_LOWER.cut(crop))
    else:
        vector[2] = histogram(WHOLE_BOX.cut(crop))
    flat = np.sqrt(vector.reshape(-1))
    return (flat / max(float(np.linalg.norm(flat)), 1e-12)).astype(np.float32)


def slotted_descriptors(
    crops: list[np.ndarray], class_names: list[str], histogram: RegionHistogram, bins: int
) -> np.ndarray:
    """N×(3·`bins`) matrix of `slotted_descriptor` rows."""
    if len(crops) != len(class_names):
        raise ValueError(f"{len(crops)} crops but {len(class_names)} class names")
    rows = [
        slotted_descriptor(c, n, histogram, bins) for c, n in zip(crops, class_names, strict=True)
    ]
    return np.stack(rows) if rows else np.zeros((0, 3 * bins), np.float32)


def colour_descriptor(crop: np.ndarray, class_name: str) -> np.ndarray:
    """`COLOUR_DIM` float32 vector, L2-normalised, laid out as in the module docstring."""
    return slotted_descriptor(crop, class_name, region_histogram, REGION_BINS)


def colour_descriptors(crops: list[np.ndarray], class_names: list[str]) -> np.ndarray:
    """N×`COLOUR_DIM` matrix of `colour_descriptor` rows."""
    return slotted_descriptors(crops, class_names, region_histogram, REGION_BINS)
