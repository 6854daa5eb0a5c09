"""Attributes: colour names on recoloured real crops, vehicle type, direction, speed, dwell, and
the confidences of direction, compass and stationary that the search filter reads."""

from __future__ import annotations

import numpy as np
import pytest

from bench.tracking import colour_accuracy
from detect.attributes import (
    colour_attributes,
    colour_vote,
    compass_bearing,
    motion_attributes,
    motion_summary,
    track_attributes,
    vehicle_type,
)
from index.catalog.attributes import AttributeFilter
from sample_streams import synthetic


def test_colour_accuracy_on_recoloured_real_crops_is_at_least_0_9() -> None:
    accuracy, fields = colour_accuracy(seed=3)
    assert fields >= 100
    assert accuracy >= 0.9


@pytest.mark.parametrize("name", list(synthetic.PALETTE_BGR))
def test_solid_patches_are_named_by_the_palette(name: str) -> None:
    rng = np.random.default_rng(0)
    patch = np.clip(
        np.array(synthetic.PALETTE_BGR[name], np.float32) + rng.normal(0, 6, (40, 30, 3)), 0, 255
    ).astype(np.uint8)
    named, confidence = colour_vote(patch).named()
    assert named == name
    assert confidence > 0.8


def test_person_upper_and_lower_colours_are_read_separately() -> None:
    sprite = synthetic.person_sprites()[0].scaled(110)
    red_top = synthetic.tint(sprite, synthetic.PALETTE_BGR["red"], synthetic.PERSON_UPPER_ROWS)
    both = synthetic.tint(red_top, synthetic.PALETTE_BGR["blue"], synthetic.PERSON_LOWER_ROWS)
    case = synthetic._composite_crop(both, (400, 420))
    named = colour_attributes([case], "person", [1.0])
    assert named["upper_colour"] == "red" and named["lower_colour"] == "blue"
    assert 0.0 < float(named["upper_colour_confidence"]) <= 1.0  # type: ignore[arg-type]


def test_bad_crop_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="uint8"):
        colour_attributes([np.zeros((10, 10, 3), np.float32)], "car", [1.0])


def test_vehicle_type_is_the_majority_vehicle_class() -> None:
    assert vehicle_type({"car": 7, "truck": 3}) == ("car", 0.7)
    assert vehicle_type({"person": 4}) is None


def walk(dx_px_s: float, dy_px_s: float, seconds: float = 4.0) -> list[tuple[float, ...]]:
    rows: list[tuple[float, ...]] = []
    for k in range(int(seconds * 5) + 1):
        t = k / 5
        x, y = 300 + dx_px_s * t, 300 + dy_px_s * t
        rows.append((t, x - 20, y - 90, x + 20, y))
    return rows


@pytest.mark.parametrize(
    ("dx", "dy", "sector"),
    [(50, 0, "E"), (-50, 0, "W"), (0, -50, "N"), (0, 50, "S"), (40, -40, "NE"), (-40, 40, "SW")],
)
def test_direction_sectors_in_image_space(dx: float, dy: float, sector: str) -> None:
    out = motion_attributes(walk(dx, dy), camera_heading_deg=None)
    assert out["direction"] == sector
    assert out["stationary"] is False


def test_speed_dwell_and_stationary() -> None:
    moving = motion_summary(walk(50, 0))
    assert moving.dwell_s == pytest.approx(4.0)
    assert moving.mean_speed_px_s == pytest.approx(50, rel=0.05)
    rng = np.random.default_rng(1)
    parked = [(t, x1 + rng.normal(0, 2), y1, x2, y2) for t, x1, y1, x2, y2 in walk(0, 0)]
    out = motion_attributes(parked, camera_heading_deg=None)
    assert out["stationary"] is True and out["direction"] == "none"


def there_and_back() -> list[tuple[float, ...]]:
    """225 px right in 3 s, then 100 px back left in 2 s: net heading E, ~70 % of the path E."""
    out = walk(75, 0)[:16]
    x_end = 300 + 75 * 3.0
    for k in range(1, 11):
        x = x_end - 50 * k / 5
        out.append((3.0 + k / 5, x - 20, 210, x + 20, 300))
    return out


def test_direction_confidence_is_the_share_of_path_along_the_heading() -> None:
    straight = motion_attributes(walk(50, 0), camera_heading_deg=None)
    assert straight["direction_confidence"] == 1.0
    wavering = motion_attributes(there_and_back(), camera_heading_deg=None)
    assert wavering["direction"] == "E"
    assert wavering["direction_confidence"] == pytest.approx(225 / 325, abs=0.03)
    # the search filter's min_confidence reads it
    assert AttributeFilter(direction="E", min_confidence=0.6).match(wavering) is not None
    assert AttributeFilter(direction="E", min_confidence=0.8).match(wavering) is None
    assert AttributeFilter(direction="E", min_confidence=0.8).match(straight) is not None


def test_compass_confidence_follows_the_bearing_of_each_step() -> None:
    # camera looks south (180°): right in the image is west; the way back is east
    out = motion_attributes(there_and_back(), camera_heading_deg=180.0)
    assert out["compass"] == "W"
    assert out["compass_confidence"] == out["direction_confidence"]
    assert out["compass_confidence"] == pytest.approx(225 / 325, abs=0.03)
    assert AttributeFilter(compass="W", min_confidence=0.8).match(out) is None


def test_stationary_confidence_grows_with_the_distance_from_the_limit() -> None:
    # box 90 px high: the stationary limit is a 45 px spread of the ground point
    still = motion_attributes(walk(0, 0), camera_heading_deg=None)
    edge = motion_attributes(walk(21, 0), camera_heading_deg=None)  # spread ≈ 42 px
    walker = motion_attributes(walk(50, 0), camera_heading_deg=None)
    assert still["stationary"] is True and still["stationary_confidence"] == 1.0
    assert still["direction_confidence"] == still["stationary_confidence"]
    assert edge["stationary"] is True and 0.5 <= float(edge["stationary_confidence"]) < 0.6  # type: ignore[arg-type]
    assert walker["stationary"] is False and walker["stationary_confidence"] == 1.0
    assert AttributeFilter(stationary=True, min_confidence=0.7).match(edge) is None
    assert AttributeFilter(stationary=True, min_confidence=0.7).match(still) == {"stationary": 1.0}


def test_compass_bearing_uses_camera_heading() -> None:
    # camera looks east (90°): moving up the image is moving east, moving right is south
    assert compass_bearing(90.0, 90.0) == 90.0
    assert compass_bearing(0.0, 90.0) == 180.0
    out = motion_attributes(walk(0, -50), camera_heading_deg=90.0)
    assert out["compass"] == "E"


def test_track_attributes_are_json_friendly() -> None:
    import json

    crop = np.full((60, 120, 3), synthetic.PALETTE_BGR["yellow"], np.uint8)
    out = track_attributes("car", {"car": 5}, [crop], [1.0], walk(60, 0))
    json.dumps(out)
    assert out["colour"] == "yellow" and out["vehicle_type"] == "car"
    assert out["direction"] == "E" and out["dwell_s"] == pytest.approx(4.0)
