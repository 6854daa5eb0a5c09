"""The plate evaluation set: layouts, rendering, determinism, the committed truth, one real read."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from sample_streams import plate_render
from sample_streams.plate_render import LAYOUTS, LayoutName, layout, random_text, render_plate
from sample_streams.plate_scenes import (
    CONDITIONS,
    SAMPLES_PER_CONDITION,
    render_sample,
    sample_specs,
    truth_json,
)

TRUTH_PATH = Path(__file__).resolve().parents[2] / "bench" / "data" / "plates_truth.json"
MAINLAND = re.compile(f"^[{plate_render.PROVINCES}][A-HJ-NP-Z]")


def test_layouts_have_the_standard_sizes_and_cells_inside_the_plate() -> None:
    assert (layout("blue").width_mm, layout("blue").height_mm) == (440, 140)
    assert (layout("green").width_mm, len(layout("green").cells)) == (480, 8)
    assert (layout("yellow_2row").height_mm, layout("yellow_2row").rows) == (220, 2)
    assert (layout("motorcycle_2row").width_mm, layout("motorcycle_2row").rows) == (220, 2)
    for name in LAYOUTS:
        lay = layout(name)
        for cell in lay.cells:
            assert cell.x_mm > 0 and cell.x_mm + cell.w_mm < lay.width_mm, name
            assert cell.y_mm > 0 and cell.y_mm + cell.h_mm < lay.height_mm, name
    blue = layout("blue").cells
    assert blue[0].w_mm == 45 and blue[0].h_mm == 90  # GA 36: 45×90 mm characters
    assert blue[2].x_mm - (blue[1].x_mm + blue[1].w_mm) == 34  # the dot's gap


def test_random_texts_are_valid_plates() -> None:
    rng = random.Random(3)
    for name in LAYOUTS * 20:
        text = random_text(name, rng)
        assert len(text) == len(layout(name).cells)
        assert "I" not in text and "O" not in text
        if name == "embassy":
            assert text[0] == "使" and text[1:].isdigit()
        else:
            assert MAINLAND.match(text), text
        if name == "green":
            assert text[2] in "DF"


@pytest.mark.parametrize(
    ("name", "background", "ink"),
    [
        ("blue", plate_render.BLUE, plate_render.WHITE),
        ("yellow", plate_render.YELLOW, plate_render.BLACK),
        ("police", plate_render.WHITE, plate_render.BLACK),
        ("hk_macau", plate_render.BLACK, plate_render.WHITE),
    ],
)
def test_plate_colours_and_size(
    name: LayoutName, background: tuple[int, ...], ink: tuple[int, ...]
) -> None:
    text = random_text(name, random.Random(1))
    image = render_plate(name, text)
    lay = layout(name)
    s = plate_render.PX_PER_MM
    assert image.shape == (round(lay.height_mm * s), round(lay.width_mm * s), 3)
    # Between the frame line and the first character: background.
    assert np.abs(image[round(70 * s), round(8 * s)].astype(int) - background).max() <= 2
    # Inside the character cells most strong pixels are the ink colour.
    cell = lay.cells[3]
    x0, y0 = round(cell.x_mm * s), round(cell.y_mm * s)
    region = image[y0 : y0 + round(cell.h_mm * s), x0 : x0 + round(cell.w_mm * s)].reshape(-1, 3)
    near_ink = np.abs(region.astype(int) - ink).max(axis=1) <= 10
    assert 0.15 < near_ink.mean() < 0.8


def test_police_suffix_is_red() -> None:
    image = render_plate("police", "京A1234警")
    cell = layout("police").cells[6]
    s = plate_render.PX_PER_MM
    rows = slice(round(cell.y_mm * s), round((cell.y_mm + cell.h_mm) * s))
    cols = slice(round(cell.x_mm * s), round((cell.x_mm + cell.w_mm) * s))
    region = image[rows, cols].reshape(-1, 3)
    red = (region[:, 2] > 150) & (region[:, 0] < 80) & (region[:, 1] < 80)
    assert red.mean() > 0.1


def test_splits_are_fixed_disjoint_and_cover_every_condition_and_layout() -> None:
    tune, test = sample_specs("tune"), sample_specs("test")
    assert len(tune) == len(test) == SAMPLES_PER_CONDITION * len(CONDITIONS)
    assert not {s.text for s in tune} & {s.text for s in test}
    for specs in (tune, test):
        assert {s.condition for s in specs} == set(CONDITIONS)
        assert {s.layout for s in specs} == set(LAYOUTS)
        small = [s for s in specs if s.condition == "small"]
        assert min(s.char_height_px for s in small) >= 12.0
        assert max(s.char_height_px for s in small) <= 14.0
    assert sample_specs("test") == test


def test_rendering_is_deterministic_and_the_plate_is_where_the_truth_says() -> None:
    spec = next(s for s in sample_specs("test") if s.condition == "clean")
    first, second = render_sample(spec), render_sample(spec)
    assert np.array_equal(first, second)
    x1, y1, x2, y2 = (round(v) for v in spec.plate_xyxy_px)
    assert 0 <= x1 < x2 <= first.shape[1] and 0 <= y1 < y2 <= first.shape[0]
    plate = first[y1 + 3 : y2 - 3, x1 + 3 : x2 - 3].reshape(-1, 3).astype(float)
    bg = np.array(layout(spec.layout).background if spec.layout != "green" else (80, 190, 60))
    # Plate pixels are mostly the plate's background or ink, not the vehicle.
    assert (np.abs(plate - bg).max(axis=1) < 90).mean() > 0.3


def test_committed_truth_is_in_step_with_the_code() -> None:
    committed = TRUTH_PATH.read_text()
    assert committed == truth_json(), "run .venv/bin/python -m bench.plates --write-truth"
    assert len(json.loads(committed)["samples"]) == 2 * SAMPLES_PER_CONDITION * len(CONDITIONS)


@pytest.mark.slow
def test_the_reader_reads_a_clean_rendered_plate() -> None:
    from detect.plate_reader import PlateReader

    reader = PlateReader.from_model_cache()
    specs = [
        s for s in sample_specs("tune")
        if s.condition == "clean" and s.host == "sedan_rear" and s.layout in ("blue", "yellow")
    ][:3]  # fmt: skip
    reads = [reader.read(render_sample(s), datetime(2026, 6, 3, tzinfo=UTC)) for s in specs]
    assert [r.text if r else None for r in reads] == [s.text for s in specs]
    for read, spec in zip(reads, specs, strict=True):
        assert read is not None
        x1, _, _, y2 = spec.plate_xyxy_px
        assert abs(read.box_xyxy_px[0] - x1) < 8 and abs(read.box_xyxy_px[3] - y2) < 8


@pytest.mark.slow
def test_bench_fuzzy_recall_finds_stored_plates_and_misses_unread_ones() -> None:
    from bench.plates import edit_distance, fuzzy_recall, wilson

    truths = [s.text for s in sample_specs("test")[:20]]
    stored: list[tuple[str, tuple[str, ...]] | None] = [(t, ()) for t in truths]
    assert fuzzy_recall(truths, stored)["all"]["rate"] == 1.0
    stored[:10] = [None] * 10  # ten plates never read
    assert fuzzy_recall(truths, stored)["all"]["rate"] == 0.5
    assert edit_distance("京A12345", "京A1245") == 1
    low, high = wilson(9, 10)
    assert 0.55 < low < 0.6 and 0.98 < high <= 1.0
