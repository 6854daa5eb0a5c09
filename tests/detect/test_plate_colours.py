"""The one plate colour table (detect/plate_colours.py): the colour a read reports, the saturated
share that ranks lines and the colour proposals all follow it; rendered GA 36 plates
(sample_streams/plate_render.py) of every layout."""

from __future__ import annotations

import random
from dataclasses import replace

import cv2
import numpy as np
import pytest

from detect.plate_colours import (
    PLATE_COLOURS,
    ColourRange,
    colour_table,
    plate_colour,
    saturated,
    saturated_share,
)
from detect.plate_locator import rank_lines
from detect.plate_proposals import colour_proposals
from sample_streams.plate_render import LAYOUTS, layout, random_text, render_plate


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_layout_reports_its_background_colour(name: str) -> None:
    text = random_text(name, random.Random(14))  # type: ignore[arg-type]
    plate = render_plate(name, text)  # type: ignore[arg-type]
    assert plate_colour(plate) == layout(name).colour


def test_saturated_share_counts_blue_yellow_green_only() -> None:
    blue = render_plate("blue", "京A12345")
    police = render_plate("police", "京A1234警")
    embassy = render_plate("embassy", "使123456")
    assert saturated_share(blue) > 0.6
    assert saturated_share(police) < 0.1 and saturated_share(embassy) < 0.1
    assert saturated_share(np.zeros((0, 0, 3), np.uint8)) == 0.0
    assert [r.colour for r in saturated(PLATE_COLOURS)] == ["blue", "yellow", "green"]


def test_unknown_when_no_colour_covers_enough() -> None:
    assert plate_colour(np.zeros((0, 0, 3), np.uint8)) == "unknown"
    assert plate_colour(np.full((20, 60, 3), 120, np.uint8)) == "unknown"  # mid grey


def test_the_table_passed_is_the_one_used() -> None:
    """A table whose blue needs more saturation than the plate has: the blue plate reports
    no colour, shares nothing, proposes nothing and no longer ranks its line first."""
    blue = cv2.resize(render_plate("blue", "京A12345"), (440, 140), interpolation=cv2.INTER_AREA)
    strict = tuple(
        replace(r, saturation=(250, 255)) if r.colour == "blue" else r for r in PLATE_COLOURS
    )
    assert plate_colour(blue, strict) == "unknown"
    assert saturated_share(blue, strict) < 0.05
    canvas = np.full((300, 400, 3), 90, np.uint8)  # a grey car rear with a 100 px plate
    canvas[200:232, 150:250] = cv2.resize(blue, (100, 32), interpolation=cv2.INTER_AREA)
    assert colour_proposals(canvas) and not colour_proposals(canvas, strict)
    grey = np.full_like(blue, 90)
    region = np.concatenate([grey, blue], axis=1)  # two lines as centred and as low
    grey_line = ((0.0, 0.0), (440.0, 0.0), (440.0, 140.0), (0.0, 140.0))
    blue_line = ((440.0, 0.0), (880.0, 0.0), (880.0, 140.0), (440.0, 140.0))
    assert rank_lines(region, [grey_line, blue_line])[0] == blue_line
    assert rank_lines(region, [grey_line, blue_line], strict)[0] == grey_line  # a tie: in order


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        ColourRange("blue", (130, 95), (70, 255), (50, 255), True)
    with pytest.raises(ValueError):
        ColourRange("blue", (95, 200), (70, 255), (50, 255), True)
    assert colour_table((70, 50), (70, 50), (40, 50)) == PLATE_COLOURS
