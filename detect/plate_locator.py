"""Where a plate may be on a vehicle crop (issue #14): candidate text lines for the plate reader
(detect/plate_reader.py). PP-OCRv4 text detection runs on the crop's lower part, resized to
`PlateSearch.det_max_width_px` at most (small crops upscaled to `DET_MIN_WIDTH_PX`), and its
lines are ranked by how plate-like they are: aspect, a saturated plate colour around them,
centred, low. Optionally colour and vertical-edge proposals (detect/plate_proposals.py) that no
detected line covers are looked at again: text detection on an upscaled neighbourhood, whose
best line (or the proposal itself) joins the candidates. Lines are rotated rectangles (min-area
quads) in the crop's own pixels, so the reader can rectify and read them at full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detect.ocr import TextReader
from detect.plate_colours import PLATE_COLOURS, PlateColourTable, saturated_share
from detect.plate_format import MIN_HINT_PROBABILITY
from detect.plate_geometry import (
    Quad,
    box_quad,
    min_area_quad,
    padded_quad,
    quad_box,
    quad_size,
    scale_quad,
)
from detect.plate_proposals import ProposalSource, colour_proposals, edge_proposals, novel

DET_MIN_WIDTH_PX = 320  # small vehicle crops are upscaled to this width for the text detector
DET_MAX_UPSCALE = 4.0
LINE_ASPECT_RANGE = (1.1, 9.0)  # width / height of a plate text line (two-row plates ≈ 1.3-2)
MIN_LINE_PX = 4
REFINE_HEIGHT_PX = 40  # a proposal is upscaled to about this height for a second detection
REFINE_MAX_UPSCALE = 4.0
MIN_SIDE_PX = 16


@dataclass(frozen=True)
class PlateSearch:
    """How hard the reader looks: the text detector's width limit on the vehicle's lower part,
    how many ranked lines are read, which proposal cues add candidates (and how many novel
    proposals per cue), and whether partial reads are probed (detect/plate_reader.py) and how
    likely a character hidden under CTC blanks must be to complete one, how much wider than its
    aspect a line is drawn for the recogniser, the stretch of a second read of a line whose
    first read is no sure plate (None: no second read; the better-scoring read counts), and the
    plate colour table (detect/plate_colours.py) that ranks lines, proposes regions and names
    a read's colour; with `deblur` the reader looks again at a crop it read no sure plate on,
    its motion blur undone (detect/plate_deblur.py) — with `deblur_needs_line` only when its
    first look found a plate-like line (a candidate) at all.

    The defaults were chosen on the tune split of bench/plates.py (variant `probe_s2_det960`,
    the best voted-track exact rate of the variants there, then `probe_s2_det960_deblur`:
    motion-blurred reads 0.21 -> 0.67 exact, the other conditions unchanged, 1.7x the time a
    track; BENCHMARKS.md, "Licence plates"): colour and edge proposals added cost and no read
    there, so they are off. `deblur_needs_line` (tune variant `probe_s2_det960_deblur_line`):
    the same per-read exact rate on tune, while a vehicle with no plate-like line at all — most
    live crops — no longer pays the second look (BENCHMARKS.md, "Plates from the main
    stream")."""

    det_max_width_px: int = 960
    max_candidates: int = 4
    proposals: tuple[ProposalSource, ...] = ()
    max_proposals: int = 2
    probe_partial_reads: bool = True
    min_hint_probability: float = MIN_HINT_PROBABILITY
    line_stretch: float = 2.0
    reread_stretch: float | None = None
    colours: PlateColourTable = PLATE_COLOURS
    deblur: bool = True
    deblur_needs_line: bool = True

    def __post_init__(self) -> None:
        if self.det_max_width_px < DET_MIN_WIDTH_PX or self.max_candidates < 1:
            raise ValueError("det_max_width_px ≥ 320 and max_candidates ≥ 1")
        stretches = (self.line_stretch, self.reread_stretch or self.line_stretch)
        if not all(0.5 <= stretch <= 4.0 for stretch in stretches):
            raise ValueError("line_stretch and reread_stretch within 0.5-4")


DEFAULT_SEARCH = PlateSearch()


class PlateLocator:
    """Candidate plate lines on a vehicle crop's lower part (see the module docstring)."""

    def __init__(self, text_reader: TextReader, search: PlateSearch = DEFAULT_SEARCH) -> None:
        self.search = search
        self._text_reader = text_reader

    def candidates(self, source: np.ndarray) -> tuple[list[Quad], list[Quad]]:
        """Candidate line quads in `source` pixels — the most plate-like detected lines, then
        the lines found again in novel colour / edge proposals (see `PlateSearch`) — and every
        detected line."""
        w = source.shape[1]
        search = self.search
        scale = min(DET_MAX_UPSCALE, max(1.0, DET_MIN_WIDTH_PX / w), search.det_max_width_px / w)
        region = source
        if scale != 1.0:
            interpolation = cv2.INTER_CUBIC if scale > 1.0 else cv2.INTER_AREA
            region = cv2.resize(source, None, fx=scale, fy=scale, interpolation=interpolation)
        region = np.ascontiguousarray(region)
        lines = [min_area_quad(q) for q in self._text_reader.detect_lines(region)]
        ranked = rank_lines(region, lines, search.colours)
        chosen = [scale_quad(q, 1.0 / scale) for q in ranked[: search.max_candidates]]
        known = [quad_box(q) for q in lines]
        lines = [scale_quad(q, 1.0 / scale) for q in lines]
        for cue in search.proposals:
            if cue == "colour":
                proposals = colour_proposals(region, search.colours)
            else:
                proposals = edge_proposals(region)
            for proposal in novel(proposals, known, search.max_proposals):
                known.append(proposal.xyxy)
                x1, y1, x2, y2 = (v / scale for v in proposal.xyxy)
                chosen.extend(self._refine(source, (x1, y1, x2, y2)))
        return chosen, lines

    def _refine(self, source: np.ndarray, box: tuple[float, float, float, float]) -> list[Quad]:
        """Text lines found by detecting again on an upscaled neighbourhood of a proposal box
        (source pixels); the box itself when none is found."""
        x1, y1, x2, y2 = box
        bw, bh = x2 - x1, y2 - y1
        around = (x1 - 0.3 * bw, y1 - 0.6 * bh, x2 + 0.3 * bw, y2 + 0.6 * bh)
        crop = box_crop(source, around)
        left, top = max(0.0, float(int(around[0]))), max(0.0, float(int(around[1])))
        factor = min(REFINE_MAX_UPSCALE, max(1.0, REFINE_HEIGHT_PX / max(bh, 1.0)))
        if min(crop.shape[:2]) * factor < MIN_SIDE_PX:
            return []
        zoomed = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        lines = [min_area_quad(q) for q in self._text_reader.detect_lines(zoomed)]
        ranked = rank_lines(zoomed, lines, self.search.colours)[:1]
        if not ranked:
            return [box_quad(box)]
        return [scale_quad(q, 1.0 / factor, (left, top)) for q in ranked]


def rank_lines(
    region: np.ndarray, lines: list[Quad], colours: PlateColourTable = PLATE_COLOURS
) -> list[Quad]:
    """Plate-like lines of `region`, most plate-like first: aspect, saturated plate colour
    around, centred, low in the region; a line across the whole region (livery, a sign) is
    none."""
    h, w = region.shape[:2]
    scored: list[tuple[float, Quad]] = []
    for line in lines:
        bw, bh = quad_size(line)
        x1, y1, x2, y2 = quad_box(line)
        if bh < MIN_LINE_PX or not LINE_ASPECT_RANGE[0] <= bw / bh <= LINE_ASPECT_RANGE[1]:
            continue
        if x2 - x1 > 0.9 * w:
            continue
        colour = saturated_share(box_crop(region, quad_box(padded_quad(line))), colours)
        centred = 1.0 - abs((x1 + x2) / 2 - w / 2) / (w / 2)
        low = (y1 + y2) / 2 / max(h, 1)
        scored.append((colour + 0.5 * centred + 0.3 * low, line))
    scored.sort(key=lambda s: -s[0])
    return [line for _score, line in scored]


def box_crop(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The part of `image` inside `box` (clipped to the image; possibly empty)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    left, top = max(0, int(x1)), max(0, int(y1))
    right, bottom = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
    return image[top : max(top, bottom), left : max(left, right)]
