"""Plate-candidate proposals without the text detector (issue #14): from plate background colours
and from vertical-edge density, the classic plate-localisation cues. The text detector misses
plates whose line it splits or merges with livery, or whose characters are small; these cues
propose where a plate may be, and the reader then looks there again more closely (upscaled text
detection on the proposal) before reading.

Colour: the saturated plate backgrounds of the plate colour table (detect/plate_colours.py:
blue, yellow, green new-energy) masked in HSV, closed over the characters, opened to drop
specks. Edges: |∂I/∂x| of the grey image above its 90th percentile (character strokes are
vertical edges packed along a line), closed along the line so the characters join. Either
mask's connected components are kept when plate-shaped: width / height 1.3-7 (two-row plates
are 1.57-2, one-row 3.1-3.4, with margins for slant), at least `MIN_HEIGHT_PX` high, under
`MAX_AREA_SHARE` of the region, and filled at least `MIN_FILL`. White and black backgrounds are
left to the edge cue: white vans and black tyres would flood a colour mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from detect.plate_colours import PLATE_COLOURS, PlateColourTable, saturated

ProposalSource = Literal["colour", "edges"]
ASPECT_RANGE = (1.3, 7.0)
MIN_HEIGHT_PX = 6
MIN_WIDTH_PX = 14
MAX_AREA_SHARE = 0.08
MIN_FILL = 0.45
EDGE_PERCENTILE = 90.0
MIN_SIDE_PX = 16  # smaller regions propose nothing


@dataclass(frozen=True)
class Proposal:
    """A plate-shaped region (x1, y1, x2, y2 in the image's pixels), where it came from, and
    how plate-like it is (the cue's fill of the box, 0-1)."""

    xyxy: tuple[float, float, float, float]
    source: ProposalSource
    score: float


def _components(mask: np.ndarray, source: ProposalSource) -> list[Proposal]:
    h, w = mask.shape
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found: list[Proposal] = []
    for i in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if bh < MIN_HEIGHT_PX or bw < MIN_WIDTH_PX or bw * bh > MAX_AREA_SHARE * h * w:
            continue
        fill = area / float(bw * bh)
        if not ASPECT_RANGE[0] <= bw / bh <= ASPECT_RANGE[1] or fill < MIN_FILL:
            continue
        found.append(Proposal((float(x), float(y), float(x + bw), float(y + bh)), source, fill))
    return found


def _kernel_px(image: np.ndarray) -> int:
    """A closing length that joins characters of plates 8-40 px high in this image."""
    return max(3, round(min(image.shape[:2]) / 40))


def colour_proposals(
    image: np.ndarray, colours: PlateColourTable = PLATE_COLOURS
) -> list[Proposal]:
    """Plate-shaped blobs of a saturated plate background colour in a BGR image, best first."""
    if image.ndim != 3 or min(image.shape[:2]) < MIN_SIDE_PX:
        return []
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    k = _kernel_px(image)
    close = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * k + 1, k + 1))
    speck = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
    found: list[Proposal] = []
    for colour in saturated(colours):
        mask = cv2.morphologyEx(colour.mask(hsv), cv2.MORPH_CLOSE, close)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, speck)
        found.extend(_components(mask, "colour"))
    return sorted(found, key=lambda p: -p.score)


def edge_proposals(image: np.ndarray) -> list[Proposal]:
    """Plate-shaped bands of dense vertical edges in a BGR image, best first."""
    if image.ndim != 3 or min(image.shape[:2]) < MIN_SIDE_PX:
        return []
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    edges = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3))
    threshold = max(float(np.percentile(edges, EDGE_PERCENTILE)), 1.0)
    mask: np.ndarray = (edges > threshold).astype(np.uint8) * 255
    k = _kernel_px(image)
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * k + 1, 3))
    )
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k + 1, max(3, k)))
    )
    return sorted(_components(mask, "edges"), key=lambda p: -p.score)


def overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over the smaller box's area (1.0 when one box holds the other)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / smaller if smaller > 0 else 0.0


def novel(
    proposals: list[Proposal],
    known: list[tuple[float, float, float, float]],
    limit: int,
    max_overlap: float = 0.5,
) -> list[Proposal]:
    """Up to `limit` proposals, in order, overlapping no known box or earlier kept proposal by
    more than `max_overlap` (of the smaller box)."""
    kept: list[Proposal] = []
    boxes = list(known)
    for proposal in proposals:
        if len(kept) >= limit:
            break
        if all(overlaps(proposal.xyxy, box) <= max_overlap for box in boxes):
            kept.append(proposal)
            boxes.append(proposal.xyxy)
    return kept
