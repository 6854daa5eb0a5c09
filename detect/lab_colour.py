"""Class-aware CIELAB colour descriptor of an object crop: the colour part of the re-ID embedding.

Layout (fixed, `LAB_COLOUR_DIM` = 3 × `LAB_REGION_BINS` = 192 floats), the regions of
`detect.colour` (person: upper / lower body; any other class: the whole box):

    [ upper body (64) | lower body (64) | whole box (64) ]

Each region is a histogram over a 4 × 4 × 4 grid of OpenCV 8-bit Lab (L = L*·255/100,
a = a* + 128, b = b* + 128): `L_BINS` equal lightness bands, and a and b each cut at
`AB_EDGES` = 128 ± 12. Neutral grey lies on the middle edge of both axes, so the sign of a faint
tint (bluish or yellowish, greenish or reddish) decides the cell: dark navy, black and dark brown
clothes, which a hue/saturation histogram lumps into the same grey bins, stay apart; strong
colours fall in the outer cells. A filled slot is L1-normalised then square-rooted (Hellinger),
and the vector is L2-normalised, so dot products are Bhattacharyya coefficients.

Measured on vtest (bench/search_quality.py, embedding v3): on the 128-query secondary set this
descriptor alone reaches rank-1 0.820 / mAP 0.850, the HSV descriptor of `detect.colour` 0.758 /
0.812.
"""

from __future__ import annotations

import cv2
import numpy as np

from detect.colour import slotted_descriptor, slotted_descriptors

L_BINS = 4
AB_EDGES = np.array([116, 128, 140])  # cells of 12 units around neutral (128)
AB_BINS = len(AB_EDGES) + 1
LAB_REGION_BINS = L_BINS * AB_BINS * AB_BINS
LAB_COLOUR_DIM = 3 * LAB_REGION_BINS
LAB_COLOUR_VERSION = "lab4x4x4-3slot-v1"


def lab_region_histogram(bgr: np.ndarray) -> np.ndarray:
    """L1-normalised `LAB_REGION_BINS` histogram of a BGR uint8 region (index (l·4 + a)·4 + b)."""
    lab = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2LAB).reshape(-1, 3)
    l_bin = lab[:, 0].astype(np.int64) * L_BINS // 256
    a_bin = np.searchsorted(AB_EDGES, lab[:, 1], side="right")
    b_bin = np.searchsorted(AB_EDGES, lab[:, 2], side="right")
    index = (l_bin * AB_BINS + a_bin) * AB_BINS + b_bin
    hist = np.bincount(index, minlength=LAB_REGION_BINS).astype(np.float32)
    return hist / max(float(hist.sum()), 1.0)


def lab_colour_descriptor(crop: np.ndarray, class_name: str) -> np.ndarray:
    """`LAB_COLOUR_DIM` float32 vector, L2-normalised, laid out as in the module docstring."""
    return slotted_descriptor(crop, class_name, lab_region_histogram, LAB_REGION_BINS)


def lab_colour_descriptors(crops: list[np.ndarray], class_names: list[str]) -> np.ndarray:
    """N×`LAB_COLOUR_DIM` matrix of `lab_colour_descriptor` rows."""
    return slotted_descriptors(crops, class_names, lab_region_histogram, LAB_REGION_BINS)
