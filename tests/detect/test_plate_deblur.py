"""Motion-blur removal for plate reading (detect/plate_deblur.py): the cepstral estimate finds a
line blur's length and direction, Wiener deconvolution undoes it, and the reader's second look
(`PlateSearch.deblur`) reads plates that the first look misreads or misses, and is not taken
where the first look found no plate-like line at all (`deblur_needs_line`). Blurs are made
with plain box kernels (cv2.filter2D), not the module's own kernel; the plates are rendered
GA 36 plates on a synthetic car rear (tests/detect/test_plate_search.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from detect import plate_reader
from detect.ocr import OCR_MODEL_NAMES
from detect.plate_deblur import MotionBlur, deblur, estimate_motion_blur, line_kernel
from detect.plate_reader import DEFAULT_SEARCH, PlateReader
from models.build import ensure_models
from models.registry import default_cache_dir
from sample_streams.plate_scenes import HOSTS, host_vehicle
from skynet.settings import Settings
from tests.detect.test_plate_search import vehicle_with_plate

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
HORIZONTAL_11 = np.ones((1, 11), np.float32) / 11
RISING_DIAGONAL_7 = np.fliplr(np.eye(7, dtype=np.float32)) / 7  # up and to the right, 7·√2 px


@pytest.fixture(scope="module")
def cache() -> Path:
    cache = default_cache_dir().resolve()
    ensure_models(cache, list(OCR_MODEL_NAMES.values()))
    return cache


@pytest.mark.parametrize(
    ("kernel", "length_px", "angle_deg"),
    [(HORIZONTAL_11, 11, 0.0), (np.ones((1, 6), np.float32) / 6, 6, 0.0),
     (RISING_DIAGONAL_7, 10, 45.0)],
)  # fmt: skip
def test_the_cepstrum_finds_the_blur(kernel: np.ndarray, length_px: int, angle_deg: float) -> None:
    car, _box = vehicle_with_plate("blue", "京A12345", 160)
    blur = estimate_motion_blur(cv2.filter2D(car, -1, kernel))
    assert blur is not None
    assert abs(blur.length_px - length_px) <= 1 and abs(blur.angle_deg - angle_deg) <= 6


def test_deblurring_brings_the_plate_back() -> None:
    car, box = vehicle_with_plate("blue", "京A12345", 160)
    blurred = cv2.filter2D(car, -1, HORIZONTAL_11)
    restored = deblur(blurred, MotionBlur(11, 0.0))
    x1, y1, x2, y2 = (int(v) for v in box)

    def error(image: np.ndarray) -> float:
        return float(np.abs(image[y1:y2, x1:x2].astype(int) - car[y1:y2, x1:x2]).mean())

    assert restored.shape == car.shape and restored.dtype == np.uint8
    assert error(restored) < 0.6 * error(blurred)


def test_the_line_kernel_is_a_normalised_line() -> None:
    flat = line_kernel(MotionBlur(7, 0.0))
    assert flat.shape == (9, 9) and flat.sum() == pytest.approx(1.0)
    assert flat[4].sum() == pytest.approx(1.0)  # all on the centre row
    assert flat[4, 2:7] == pytest.approx([1 / 7] * 5, abs=1e-3)
    steep = line_kernel(MotionBlur(9, 90.0))
    assert steep[:, 5].sum() == pytest.approx(1.0)  # upright, symmetric top to bottom
    assert steep == pytest.approx(steep[::-1])


def test_tiny_images_have_no_estimate() -> None:
    assert estimate_motion_blur(np.full((20, 200, 3), 128, np.uint8)) is None


@pytest.mark.parametrize("kernel", [HORIZONTAL_11, RISING_DIAGONAL_7], ids=["h11", "diagonal7"])
def test_the_reader_looks_again_at_a_blurred_plate(cache: Path, kernel: np.ndarray) -> None:
    """Without the second look the blurred plate is misread or missed; with it, read."""
    car, _box = vehicle_with_plate("yellow", "鲁B7C265", 160)
    blurred = cv2.filter2D(car, -1, kernel)
    without = PlateReader.from_model_cache(cache, search=replace(DEFAULT_SEARCH, deblur=False))
    first_look = without.read(blurred, T0)
    assert first_look is None or first_look.text != "鲁B7C265"
    read = PlateReader.from_model_cache(cache).read(blurred, T0)
    assert read is not None and (read.text, read.colour) == ("鲁B7C265", "yellow")


def test_a_wide_crop_is_looked_at_again_shrunk_and_its_box_mapped_back(cache: Path) -> None:
    """A 1200 px wide vehicle (a bus-like side): the second look runs at the detector's 960 px
    and the read's box is in the crop's own pixels."""
    car, (x1, y1, x2, y2) = vehicle_with_plate("yellow", "鲁B7C265", 160)
    wide = cv2.copyMakeBorder(car, 0, 0, 400, 400, cv2.BORDER_REPLICATE)
    blurred = cv2.filter2D(wide, -1, HORIZONTAL_11)
    without = PlateReader.from_model_cache(cache, search=replace(DEFAULT_SEARCH, deblur=False))
    first_look = without.read(blurred, T0)
    assert first_look is None or first_look.text != "鲁B7C265"
    read = PlateReader.from_model_cache(cache).read(blurred, T0)
    assert read is not None and read.text == "鲁B7C265"
    bx1, by1, bx2, by2 = read.box_xyxy_px
    assert abs(bx1 - (x1 + 400)) < 12 and abs(bx2 - (x2 + 400)) < 12
    assert abs(by1 - y1) < 10 and abs(by2 - y2) < 10


def test_an_operator_can_turn_the_second_look_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """SKYNET_PLATE_DEBLUR=false (skynet/runtime.py builds the reader's PlateSearch from it)."""
    assert Settings().plate_deblur is True and DEFAULT_SEARCH.deblur is True
    monkeypatch.setenv("SKYNET_PLATE_DEBLUR", "false")
    assert Settings().plate_deblur is False


def test_a_vehicle_without_a_plate_like_line_gets_no_second_look(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dog.jpg's pickup (no plate; front bumper at 2×, a main-stream-sized crop): the first
    look finds no plate-like line, so the default reader estimates no blur and reads nothing;
    a reader taking the second look after every unsure first look pays for it in vain."""
    pickup = host_vehicle(next(h for h in HOSTS if h.name == "pickup_front"), 2.0)
    looks: list[tuple[int, ...]] = []
    estimate = plate_reader.estimate_motion_blur

    def counted(image: np.ndarray) -> object:
        looks.append(image.shape)
        return estimate(image)

    monkeypatch.setattr(plate_reader, "estimate_motion_blur", counted)
    assert DEFAULT_SEARCH.deblur_needs_line is True
    assert PlateReader.from_model_cache(cache).read(pickup, T0) is None
    assert looks == []
    always = replace(DEFAULT_SEARCH, deblur_needs_line=False)
    assert PlateReader.from_model_cache(cache, search=always).read(pickup, T0) is None
    assert len(looks) == 1
