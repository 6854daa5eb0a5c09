"""Looking harder for plates (issue #14): candidate geometry (detect/plate_geometry.py), colour
and vertical-edge proposals (detect/plate_proposals.py), CTC lead / tail / top-row hints
(detect/plate_ctc.py `ctc_read`), completing a partial read (detect/plate_format.py
`complete_plate`) and the reader's `PlateSearch` on rendered GA 36 plates
(sample_streams/plate_render.py) pasted onto a synthetic vehicle crop."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.plates import DEFAULT_SEARCH_NAME, SEARCHES
from detect.ocr import OCR_MODEL_NAMES
from detect.plate_ctc import ctc_read, province_then_letter
from detect.plate_format import LineRead, complete_plate, is_known_layout, normalise_plate
from detect.plate_geometry import (
    box_quad,
    min_area_quad,
    offset_quad,
    quad_box,
    quad_size,
    rectify,
    top_row_quad,
    two_row_quads,
    widened_left_quad,
    widened_right_quad,
)
from detect.plate_proposals import colour_proposals, edge_proposals, novel, overlaps
from detect.plate_reader import DEFAULT_SEARCH, PlateReader, PlateSearch
from models.build import ensure_models
from models.registry import default_cache_dir
from sample_streams.plate_render import render_plate

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
PLATE_XY = (150, 205)  # top-left of the pasted plate in the synthetic vehicle crop


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union


def vehicle_with_plate(layout: str, text: str, plate_width_px: int) -> tuple[np.ndarray, tuple]:
    """A 400×300 synthetic car rear (grey-red body, dark window, bumper, tyres, tail lights)
    with a rendered plate pasted low in the middle; the plate's box."""
    car = np.full((300, 400, 3), (70, 60, 150), np.uint8)
    cv2.rectangle(car, (60, 30), (340, 120), (40, 35, 30), -1)  # rear window
    cv2.rectangle(car, (0, 250), (400, 300), (25, 25, 25), -1)  # tyres and road shadow
    cv2.rectangle(car, (20, 150), (80, 180), (40, 40, 220), -1)  # tail lights
    cv2.rectangle(car, (320, 150), (380, 180), (40, 40, 220), -1)
    cv2.rectangle(car, (0, 235), (400, 250), (110, 110, 110), -1)  # bumper
    plate = render_plate(layout, text)  # type: ignore[arg-type]
    height = round(plate_width_px * plate.shape[0] / plate.shape[1])
    small = cv2.resize(plate, (plate_width_px, height), interpolation=cv2.INTER_AREA)
    x, y = PLATE_XY
    car[y : y + height, x : x + plate_width_px] = small
    return car, (float(x), float(y), float(x + plate_width_px), float(y + height))


@pytest.fixture(scope="module")
def cache() -> Path:
    cache = default_cache_dir().resolve()
    ensure_models(cache, list(OCR_MODEL_NAMES.values()))
    return cache


@pytest.fixture(scope="module")
def reader(cache: Path) -> PlateReader:
    return PlateReader.from_model_cache(cache)


# --- geometry --------------------------------------------------------------------------


def test_offsets_move_each_side_along_the_quads_own_axes() -> None:
    quad = box_quad((10.0, 20.0, 110.0, 60.0))  # 100 × 40
    assert quad_box(offset_quad(quad, 0.1, 0.2, 0.5, 0.25)) == pytest.approx((0, 0, 130, 70))
    assert quad_size(quad) == pytest.approx((100.0, 40.0))
    top, bottom = two_row_quads(quad)
    assert quad_box(top)[1] == 20.0 and quad_box(top)[3] == pytest.approx(20 + 0.37 * 40)
    assert quad_box(bottom)[1] == pytest.approx(20 + 0.37 * 40) and quad_box(bottom)[3] == 60
    assert quad_size(top)[0] < 100.0  # the top row is narrower than the bottom row
    probe = quad_box(top_row_quad(quad))
    assert probe[3] == pytest.approx(20 + 0.15 * 40) and probe[1] == pytest.approx(20 - 0.8 * 40)
    assert quad_box(widened_left_quad(quad))[0] == pytest.approx(10 - 60)
    assert quad_box(widened_right_quad(quad))[2] == pytest.approx(110 + 25)


def test_offsets_follow_a_rotated_quad() -> None:
    angle = np.radians(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([(-50, -20), (50, -20), (50, 20), (-50, 20)], float) @ rot.T + 200
    quad = min_area_quad(tuple((float(x), float(y)) for x, y in corners))
    grown = offset_quad(quad, 0.1, 0.1, 0.0, 0.0)
    assert quad_size(grown) == pytest.approx((120.0, 40.0), abs=0.1)


def test_rectify_straightens_a_tilted_plate() -> None:
    plate = render_plate("blue", "京A12345")
    h, w = plate.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 12, 0.5)
    matrix[:, 2] += (450 - w / 2, 300 - h / 2)  # the plate's centre to the canvas's
    canvas = cv2.warpAffine(plate, matrix, (900, 600))
    corners = np.array([(0, 0, 1), (w, 0, 1), (w, h, 1), (0, h, 1)], float) @ matrix.T
    upright = rectify(canvas, tuple((float(x), float(y)) for x, y in corners), 48)
    assert upright.shape[0] == 48 and upright.shape[1] == pytest.approx(48 * w / h, abs=2)
    expected = cv2.resize(plate, (upright.shape[1], 48), interpolation=cv2.INTER_AREA)
    assert np.abs(upright.astype(int) - expected.astype(int)).mean() < 25
    assert rectify(canvas, ((1.0, 1.0),) * 4, 48).size == 0


# --- proposals -------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["blue", "yellow", "green"])
def test_colour_proposals_locate_a_coloured_plate(layout: str) -> None:
    text = "粤BD12345" if layout == "green" else "京A12345"
    car, box = vehicle_with_plate(layout, text, 100)
    found = colour_proposals(car)
    assert found and max(iou(p.xyxy, box) for p in found) > 0.5  # green: its lower part
    assert all(p.source == "colour" and 0.0 < p.score <= 1.0 for p in found)


def test_edge_proposals_locate_a_white_plate_and_colour_does_not() -> None:
    car, box = vehicle_with_plate("police", "京A1234警", 110)
    assert max((iou(p.xyxy, box) for p in edge_proposals(car)), default=0.0) > 0.5
    assert all(iou(p.xyxy, box) < 0.3 for p in colour_proposals(car))


def test_a_vehicle_without_plate_proposes_no_coloured_plate() -> None:
    car, _box = vehicle_with_plate("blue", "京A12345", 100)
    car[200:240, 140:260] = (70, 60, 150)  # painted over with the body colour
    assert colour_proposals(car) == []


@pytest.mark.parametrize("shape", [(3, 3, 3), (0, 0, 3), (12, 200, 3)])
def test_tiny_images_propose_nothing(shape: tuple[int, int, int]) -> None:
    image = np.full(shape, 128, np.uint8)
    assert colour_proposals(image) == [] and edge_proposals(image) == []


def test_novel_proposals_skip_known_boxes_and_each_other() -> None:
    car, box = vehicle_with_plate("blue", "京A12345", 100)
    found = colour_proposals(car)
    assert novel(found, [box], limit=5) == []
    assert len(novel(found + found, [], limit=5)) == len(novel(found, [], limit=5))
    assert (
        overlaps((0, 0, 10, 10), (2, 2, 4, 4)) == 1.0 and overlaps((0, 0, 1, 1), (5, 5, 6, 6)) == 0
    )


# --- CTC hints and completion -------------------------------------------------------------


CHARS = ["", "京", "使", "A", "B", "1", "2", "警"]


def probs(*rows: dict[str, float]) -> np.ndarray:
    """A T × classes softmax from per-frame {char: p}; the rest of each frame is the blank."""
    out = np.zeros((len(rows), len(CHARS)), np.float32)
    for t, row in enumerate(rows):
        for ch, p in row.items():
            out[t, CHARS.index(ch)] = p
        out[t, 0] = 1.0 - sum(row.values())
    return out


def test_ctc_read_finds_a_province_and_a_suffix_hidden_under_blanks() -> None:
    read = ctc_read(probs({"京": 0.3}, {"A": 0.9}, {"1": 0.9}, {}, {"2": 0.8}, {"警": 0.2}), CHARS)
    assert (read.text, read.confidences) == ("A12", pytest.approx((0.9, 0.9, 0.8)))
    assert read.lead == ("京", pytest.approx(0.3)) and read.tail == ("警", pytest.approx(0.2))
    assert read.top_row == ("京A", pytest.approx((0.3, 0.9)))
    silent = ctc_read(probs({}, {}), CHARS)
    assert (silent.text, silent.lead, silent.tail) == ("", None, None)


def test_province_then_letter_keeps_the_order() -> None:
    pair = province_then_letter(probs({"京": 0.8}, {"B": 0.2}, {"A": 0.7}), CHARS)
    assert pair == ("京A", pytest.approx((0.8, 0.7)))
    letter_first = province_then_letter(probs({"B": 0.9}, {"京": 0.9}, {}), CHARS)
    assert letter_first is not None and max(letter_first[1]) * min(letter_first[1]) == 0.0
    assert province_then_letter(probs({"京": 0.9}), CHARS) is None


def test_complete_plate_adds_one_likely_hidden_character() -> None:
    five = (0.9,) * 6
    assert complete_plate(LineRead("A12345", five, ("京", 0.3), None)) == normalise_plate(
        "京A12345", (0.3, *five)
    )
    assert complete_plate(LineRead("A12345", five, ("京", 0.01), None)) == normalise_plate(
        "A12345", five
    )  # too unlikely: left as read
    police = complete_plate(LineRead("京A1234", (0.9,) * 6, None, ("警", 0.2)))
    assert police is not None and (police.text, police.plate_format) == ("京A1234警", "special")
    embassy = complete_plate(LineRead("123456", (0.9,) * 6, ("使", 0.4), None))
    assert embassy is not None and embassy.text == "使123456" and is_known_layout(embassy)
    both = complete_plate(LineRead("A1234", (0.9,) * 5, ("京", 0.5), ("警", 0.5)))
    assert both is not None and not is_known_layout(both)  # one hidden character at most
    whole = complete_plate(LineRead("京A12345", (0.9,) * 7, ("沪", 0.9), None))
    assert whole is not None and whole.text == "京A12345"


# --- the reader ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "text", "rows"),
    [("blue", "京A12345", 1), ("police", "沪B1234警", 1), ("yellow_2row", "鲁B12345", 2)],
)
def test_reader_locates_and_reads_a_plate_on_a_synthetic_vehicle(
    reader: PlateReader, layout: str, text: str, rows: int
) -> None:
    car, box = vehicle_with_plate(layout, text, 120)
    sighting = reader.sight(car, T0, (1000.0, 500.0))
    assert sighting is not None
    read = sighting.read
    assert (read.text, read.rows) == (text, rows)
    x1, y1, x2, y2 = box
    assert iou(read.box_xyxy_px, (x1 + 1000, y1 + 500, x2 + 1000, y2 + 500)) > 0.5


def test_a_two_row_plate_is_joined_from_a_tall_box(cache: Path) -> None:
    """A motorcycle plate (220×140 mm) is one tall text box: split in rows, read, joined."""
    car, _box = vehicle_with_plate("motorcycle_2row", "川A7B285", 90)
    for name in ("lean", "probe"):
        read = PlateReader.from_model_cache(cache, search=SEARCHES[name]).read(car, T0)
        assert read is not None and (read.text, read.rows) == ("川A7B285", 2)


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_a_3x3_crop_gives_no_read_and_no_crash(cache: Path, name: str) -> None:
    reader = PlateReader.from_model_cache(cache, search=SEARCHES[name])
    for crop in (np.full((3, 3, 3), 200, np.uint8), np.zeros((20, 3, 3), np.uint8)):
        assert reader.read(crop, T0) is None


def test_search_settings_are_checked_and_the_default_is_the_tuned_one() -> None:
    with pytest.raises(ValueError):
        PlateSearch(max_candidates=0)
    with pytest.raises(ValueError):
        PlateSearch(det_max_width_px=100)
    assert SEARCHES[DEFAULT_SEARCH_NAME] == DEFAULT_SEARCH
    assert replace(DEFAULT_SEARCH, max_candidates=3).max_candidates == 3
