"""Plate-candidate geometry (issue #14): quadrilaterals in a vehicle crop and the boxes derived
from them — padding, the probe above a one-row read for a two-row plate's small top row, the
line widened to the left for a read that lost its province or to the right for one that lost
its suffix, the two rows of a tall box — and rectification of a quad to an upright line image
for the recogniser.

A quad is 4 (x, y) corners in pixels, clockwise from top-left. Offsets move each side of the
quad along the quad's own axes, by fractions of its width (left, right) or height (top,
bottom): positive grows, negative shrinks, so a slanted plate's probes stay on the plate.
The probe fractions come from the GA 36-2018 layouts (sample_streams/plate_render.py).
"""

from __future__ import annotations

import cv2
import numpy as np

Quad = tuple[tuple[float, float], ...]

# A two-row plate's top row (province, letter) is 0.55× the bottom row's height and 0.6× its
# width, centred, 0.11-0.14× its height above it. A detected line's box has a margin of about a
# quarter of its glyphs' height, so the probe spans from 0.8 heights above the line's box to
# 0.15 heights into it.
TOP_ROW_OFFSETS = (-0.15, -0.15, 0.8, -0.85)
# Five characters of a seven-character plate span 0.66 of its text width: grow left by 0.6.
WIDEN_LEFT_OFFSETS = (0.6, 0.08, 0.1, 0.1)
# Six of seven span 0.86: grow right by 0.25 for a lost suffix (警, 领, 港, 澳, 学, 挂).
WIDEN_RIGHT_OFFSETS = (0.05, 0.25, 0.1, 0.1)
LINE_PAD_OFFSETS = (0.04, 0.04, 0.12, 0.12)
# Where a two-row plate's text box splits: the top row's text ends at 0.37 of it (both layouts),
# and spans its middle 0.58 (0.21 of the width in from either side, a margin left).
TWO_ROW_TEXT_SPLIT = 0.37
TWO_ROW_TOP_INSET = 0.15


def box_quad(box: tuple[float, float, float, float]) -> Quad:
    """An axis-aligned box (x1, y1, x2, y2) as a quad."""
    x1, y1, x2, y2 = box
    return ((x1, y1), (x2, y1), (x2, y2), (x1, y2))


def quad_box(quad: Quad) -> tuple[float, float, float, float]:
    """The axis-aligned box around a quad."""
    xs = [p[0] for p in quad]
    ys = [p[1] for p in quad]
    return (min(xs), min(ys), max(xs), max(ys))


def quad_size(quad: Quad) -> tuple[float, float]:
    """Width and height of a quad: the means of its opposite sides."""
    p = np.asarray(quad, np.float64)
    width = (np.linalg.norm(p[1] - p[0]) + np.linalg.norm(p[2] - p[3])) / 2
    height = (np.linalg.norm(p[3] - p[0]) + np.linalg.norm(p[2] - p[1])) / 2
    return float(width), float(height)


def order_corners(points: np.ndarray) -> Quad:
    """Four points as top-left, top-right, bottom-right, bottom-left (tilts under 45°)."""
    s = points.sum(axis=1)
    d = points[:, 0] - points[:, 1]
    ordered = [points[s.argmin()], points[d.argmax()], points[s.argmax()], points[d.argmin()]]
    return tuple((float(p[0]), float(p[1])) for p in ordered)


def min_area_quad(quad: Quad) -> Quad:
    """The smallest rotated rectangle around a quad (a text detector's polygon), as a quad."""
    rect = cv2.minAreaRect(np.asarray(quad, np.float32))
    return order_corners(np.asarray(cv2.boxPoints(rect), np.float64))


def scale_quad(quad: Quad, factor: float, offset: tuple[float, float] = (0.0, 0.0)) -> Quad:
    """Every corner times `factor`, plus `offset`."""
    ox, oy = offset
    return tuple((x * factor + ox, y * factor + oy) for x, y in quad)


def offset_quad(quad: Quad, left: float, right: float, top: float, bottom: float) -> Quad:
    """The quad with each side moved outward by a fraction of its width or height."""
    p = np.asarray(quad, np.float64)
    across = ((p[1] - p[0]) + (p[2] - p[3])) / 2  # left to right
    down = ((p[3] - p[0]) + (p[2] - p[1])) / 2  # top to bottom
    tl = p[0] - left * across - top * down
    tr = p[1] + right * across - top * down
    br = p[2] + right * across + bottom * down
    bl = p[3] - left * across + bottom * down
    return tuple((float(q[0]), float(q[1])) for q in (tl, tr, br, bl))


def two_row_quads(quad: Quad) -> tuple[Quad, Quad]:
    """The top and bottom rows of a two-row plate's text quad."""
    return (
        offset_quad(quad, -TWO_ROW_TOP_INSET, -TWO_ROW_TOP_INSET, 0.0, -(1.0 - TWO_ROW_TEXT_SPLIT)),
        offset_quad(quad, 0.0, 0.0, -TWO_ROW_TEXT_SPLIT, 0.0),
    )


def top_row_quad(bottom_row: Quad) -> Quad:
    """Where a two-row plate's top row lies, given its bottom row's text quad."""
    return offset_quad(bottom_row, *TOP_ROW_OFFSETS)


def widened_left_quad(line: Quad) -> Quad:
    """A line's quad grown to the left, to take in the province a partial read lost."""
    return offset_quad(line, *WIDEN_LEFT_OFFSETS)


def widened_right_quad(line: Quad) -> Quad:
    """A line's quad grown to the right, to take in the suffix a partial read lost."""
    return offset_quad(line, *WIDEN_RIGHT_OFFSETS)


def padded_quad(line: Quad) -> Quad:
    """A text line's quad with a margin for the recogniser."""
    return offset_quad(line, *LINE_PAD_OFFSETS)


def rectify(image: np.ndarray, quad: Quad, height_px: int, stretch: float = 1.0) -> np.ndarray:
    """The image inside `quad` warped to an upright crop `height_px` high and `stretch` times
    as wide as the quad's aspect makes it; corners outside the image see replicated border
    pixels. Empty (0×0) for a degenerate quad."""
    width, height = quad_size(quad)
    if width < 1.0 or height < 1.0:
        return np.zeros((0, 0, 3), np.uint8)
    out_w = max(8, min(16 * height_px, round(stretch * height_px * width / height)))
    target = np.array(
        [[0, 0], [out_w - 1, 0], [out_w - 1, height_px - 1], [0, height_px - 1]], np.float32
    )
    matrix = cv2.getPerspectiveTransform(np.asarray(quad, np.float32), target)
    interpolation = cv2.INTER_CUBIC if height < height_px else cv2.INTER_LINEAR
    return np.asarray(
        cv2.warpPerspective(
            image, matrix, (out_w, height_px), flags=interpolation, borderMode=cv2.BORDER_REPLICATE
        )
    )
