"""Plate background colours (issue #14): the one table of HSV ranges behind every colour cue of
the plate reader — the colour a read reports (`plate_colour`, detect/plate_reader.py), the share
of saturated plate colour around a candidate line that ranks it (`saturated_share`,
detect/plate_locator.py) and the colour masks that propose plate regions
(detect/plate_proposals.py).

The kinds (GA 36-2018): blue with white text (small cars), yellow with black (large vehicles,
motorcycles, learners), green new-energy (a white-to-green gradient), white police / military,
black embassy / consulate / HK-Macau. Ranges are in OpenCV's HSV (hue 0-179, saturation and
value 0-255), both ends inclusive. Blue, yellow and green are saturated backgrounds; white and
black are not, and a white van or a black tyre would flood a mask of them, so they name a
read's colour but neither rank lines nor propose regions. `PLATE_COLOURS` was chosen on the
tune split of bench/plates.py among the three sets of numbers the reader, the locator and the
proposals used before they shared this table: every plate was read the same with each, and
the reader's numbers named the plate's colour best (0.907 of reads, against 0.892 and 0.887;
BENCHMARKS.md, "Licence plates").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detect.plate_values import PlateColour

MIN_COLOUR_SHARE = 0.3  # a read's colour is "unknown" when no colour covers this share of it


@dataclass(frozen=True)
class ColourRange:
    """One plate background colour as an HSV box (inclusive bounds) and whether it is a
    saturated colour (one that ranks lines and proposes regions)."""

    colour: PlateColour
    hue: tuple[int, int]
    saturation: tuple[int, int]
    value: tuple[int, int]
    saturated: bool

    def __post_init__(self) -> None:
        bounds = ((self.hue, 179), (self.saturation, 255), (self.value, 255))
        if not all(0 <= low <= high <= top for (low, high), top in bounds):
            raise ValueError(f"HSV bounds out of order or range for {self.colour}")

    def mask(self, hsv: np.ndarray) -> np.ndarray:
        """255 where an HSV image's pixel is in this range, else 0."""
        lower = (self.hue[0], self.saturation[0], self.value[0])
        upper = (self.hue[1], self.saturation[1], self.value[1])
        return np.asarray(cv2.inRange(hsv, lower, upper))


PlateColourTable = tuple[ColourRange, ...]


def colour_table(
    blue: tuple[int, int], yellow: tuple[int, int], green: tuple[int, int]
) -> PlateColourTable:
    """The five plate colours with the saturated ones' (minimum saturation, minimum value);
    hues blue 95-130, yellow 15-34, green 35-94; white is saturation < 40 at value ≥ 170,
    black value < 60."""
    return (
        ColourRange("blue", (95, 130), (blue[0], 255), (blue[1], 255), True),
        ColourRange("yellow", (15, 34), (yellow[0], 255), (yellow[1], 255), True),
        ColourRange("green", (35, 94), (green[0], 255), (green[1], 255), True),
        ColourRange("white", (0, 179), (0, 39), (170, 255), False),
        ColourRange("black", (0, 179), (0, 255), (0, 59), False),
    )


PLATE_COLOURS = colour_table(blue=(70, 50), yellow=(70, 50), green=(40, 50))


def _hsv(image: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2HSV))


def plate_colour(plate: np.ndarray, table: PlateColourTable = PLATE_COLOURS) -> PlateColour:
    """A BGR plate crop's background colour: the table's colour covering most of its pixels,
    "unknown" when none covers `MIN_COLOUR_SHARE` (or the crop is empty)."""
    if plate.size == 0:
        return "unknown"
    hsv = _hsv(plate)
    shares = [(float(np.mean(r.mask(hsv) > 0)), r.colour) for r in table]
    share, colour = max(shares, key=lambda s: s[0])
    return colour if share >= MIN_COLOUR_SHARE else "unknown"


def saturated_share(region: np.ndarray, table: PlateColourTable = PLATE_COLOURS) -> float:
    """Share of a BGR region's pixels in any saturated plate colour (0 when empty)."""
    if region.size == 0:
        return 0.0
    hsv = _hsv(region)
    inside = np.zeros(hsv.shape[:2], bool)
    for colour in saturated(table):
        inside |= colour.mask(hsv) > 0
    return float(np.mean(inside))


def saturated(table: PlateColourTable) -> PlateColourTable:
    """The table's saturated colours (blue, yellow, green)."""
    return tuple(r for r in table if r.saturated)
