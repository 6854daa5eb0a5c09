"""Chinese licence plates drawn to the national standard's layouts (GA 36-2018), for the plate
evaluation set (issue #14, `sample_streams.plate_scenes`).

Each layout is in millimetres: the plate's size, its background and text colours, and one box
per character. Rendering is at `PX_PER_MM` (3 px/mm: 1320×420 for a blue plate) and is scaled down
later, so every character keeps its real 45×90 mm (or 43×90 mm for new-energy) proportion:
each glyph is cut to its ink box and stretched into its cell, as the plate font's tall, narrow
glyphs are. The font is Noto Sans CJK Bold (Debian fonts-noto-cjk, installed by
scripts/setup.sh) for both Chinese and Latin characters; the real plate font is not packaged.

Layouts: blue (white text) and yellow (black text) 440×140 mm, 7 characters, a dot after the
second; yellow two-row 440×220 mm (trucks: province + letter small on top, five large below)
and 220×140 mm (motorcycles); green new-energy 480×140 mm, 8 characters, a white-to-green
gradient; white police (black text, a red 警 last); black HK/Macau (粤Z····港/澳), consulate
(····领) and embassy (red 使 first). Every plate has a thin frame line inset from the edge and
two rivets at the top.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PX_PER_MM = 3.0
FONT_PATH = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
FONT_INDEX_SC = 2  # the .ttc's faces: JP, KR, SC, TC, HK — simplified Chinese glyph shapes
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O
DIGITS = "0123456789"

LayoutName = Literal[
    "blue", "yellow", "yellow_2row", "motorcycle_2row", "green", "police", "hk_macau",
    "consulate", "embassy",
]  # fmt: skip
LAYOUTS: tuple[LayoutName, ...] = (
    "blue", "yellow", "yellow_2row", "motorcycle_2row", "green", "police", "hk_macau",
    "consulate", "embassy",
)  # fmt: skip
BGR = tuple[int, int, int]
# Colours in BGR, picked from photographs of real plates (painted, not the ideal RGB).
BLUE: BGR = (160, 70, 10)
YELLOW: BGR = (20, 190, 245)
WHITE: BGR = (245, 245, 245)
BLACK: BGR = (20, 20, 20)
RED: BGR = (30, 30, 210)
GREEN_TOP: BGR = (235, 245, 235)
GREEN_BOTTOM: BGR = (80, 190, 60)


@dataclass(frozen=True)
class CharBox:
    """One character's cell in millimetres (x, y of the top-left corner, width, height)."""

    x_mm: float
    y_mm: float
    w_mm: float
    h_mm: float


@dataclass(frozen=True)
class Layout:
    """A plate layout: size in mm, colours, the character cells, rows, and the report colour
    (`PlateRead.colour` names: blue, yellow, green, white, black)."""

    name: LayoutName
    width_mm: float
    height_mm: float
    background: BGR
    text: BGR
    cells: tuple[CharBox, ...]
    rows: int
    colour: str
    dot_after: int | None = 2  # a separator dot after this many characters (1-row plates)


def _row(n: int, char_w: float, gap: float, gap_after_2: float, y: float, h: float,
         width: float) -> tuple[CharBox, ...]:  # fmt: skip
    total = n * char_w + (n - 2) * gap + gap_after_2
    x = (width - total) / 2.0
    cells = []
    for i in range(n):
        cells.append(CharBox(x, y, char_w, h))
        x += char_w + (gap_after_2 if i == 1 else gap)
    return tuple(cells)


def _one_row(name: LayoutName, bg: BGR, fg: BGR, colour: str) -> Layout:
    # GA 36: 45×90 mm characters, 12 mm apart, 34 mm between the 2nd and 3rd (the dot).
    return Layout(name, 440, 140, bg, fg, _row(7, 45, 12, 34, 25, 90, 440), 1, colour)


@cache
def layout(name: LayoutName) -> Layout:
    """The layout of one plate kind."""
    if name == "blue":
        return _one_row(name, BLUE, WHITE, "blue")
    if name == "yellow":
        return _one_row(name, YELLOW, BLACK, "yellow")
    if name == "police":
        return _one_row(name, WHITE, BLACK, "white")
    if name in ("hk_macau", "consulate", "embassy"):
        return _one_row(name, BLACK, WHITE, "black")
    if name == "green":  # 43×90 mm characters, 9 mm apart, 49 mm after the 2nd
        return Layout(name, 480, 140, GREEN_TOP, BLACK, _row(8, 43, 9, 49, 25, 90, 480), 1,
                      "green")  # fmt: skip
    if name == "yellow_2row":  # top: 2 × (80×60) mm; bottom: 5 × (65×110) mm, 15 mm apart
        top = (CharBox(110, 15, 80, 60), CharBox(250, 15, 80, 60))
        bottom = tuple(CharBox(27.5 + i * 80, 90, 65, 110) for i in range(5))
        return Layout(name, 440, 220, YELLOW, BLACK, top + bottom, 2, "yellow", None)
    # motorcycle, 220×140 mm: top 2 × (50×40) mm, bottom 5 × (34×70) mm
    top = (CharBox(55, 10, 50, 40), CharBox(115, 10, 50, 40))
    bottom = tuple(CharBox(14 + i * 39, 58, 34, 70) for i in range(5))
    return Layout("motorcycle_2row", 220, 140, YELLOW, BLACK, top + bottom, 2, "yellow", None)


def random_text(name: LayoutName, rng: random.Random) -> str:
    """A valid plate text for a layout: province + letter + 5 alphanumerics (at most two
    letters, no I/O), 6 for new-energy (D or F first: small electric / hybrid car), the
    special kinds with their suffix or prefix."""

    def serial(n: int, max_letters: int) -> str:
        chars = [rng.choice(DIGITS) for _ in range(n)]
        for i in rng.sample(range(n), rng.randint(0, max_letters)):
            chars[i] = rng.choice(LETTERS)
        return "".join(chars)

    province = rng.choice(PROVINCES)
    if name == "green":
        return province + rng.choice(LETTERS) + rng.choice("DF") + serial(1, 1) + serial(4, 0)
    if name == "police":
        return province + rng.choice(LETTERS) + serial(4, 0) + "警"
    if name == "hk_macau":
        return "粤Z" + serial(4, 1) + rng.choice("港澳")
    if name == "consulate":
        return province + rng.choice(LETTERS) + serial(4, 0) + "领"
    if name == "embassy":
        return "使" + serial(6, 0)
    return province + rng.choice(LETTERS) + serial(5, 2)


def _text_colour(lay: Layout, text: str, index: int) -> BGR:
    if text[index] == "警" or (lay.name == "embassy" and index == 0):
        return RED
    return lay.text


@cache
def _glyph(char: str) -> np.ndarray:
    """A character's ink as a float mask (0..1), cut to its ink box."""
    font = ImageFont.truetype(str(FONT_PATH), 200, index=FONT_INDEX_SC)
    canvas = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(canvas).text((40, 0), char, font=font, fill=255)
    mask = np.asarray(canvas, np.float32) / 255.0
    ys, xs = np.nonzero(mask > 0.05)
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _fit(mask: np.ndarray, w_px: int, h_px: int) -> np.ndarray:
    """Stretch a glyph to its cell's height; to its width too unless it is narrow (1, J...)."""
    import cv2

    gh, gw = mask.shape
    natural_w = gw * h_px / gh
    target_w = w_px if natural_w > 0.55 * w_px else max(1, round(natural_w * 1.15))
    return np.asarray(cv2.resize(mask, (int(target_w), h_px), interpolation=cv2.INTER_AREA))


def render_plate(name: LayoutName, text: str) -> np.ndarray:
    """The plate as a BGR image at `PX_PER_MM`."""
    import cv2

    lay = layout(name)
    if len(text) != len(lay.cells):
        raise ValueError(f"{name} plates have {len(lay.cells)} characters, got {text!r}")
    s = PX_PER_MM
    w_px, h_px = round(lay.width_mm * s), round(lay.height_mm * s)
    image = np.empty((h_px, w_px, 3), np.float32)
    if name == "green":  # white at the top to green at the bottom
        t = np.linspace(0.0, 1.0, h_px, dtype=np.float32)[:, None, None] ** 1.4
        top, bottom = np.array(GREEN_TOP, np.float32), np.array(GREEN_BOTTOM, np.float32)
        image[:] = (1 - t) * top + t * bottom
    else:
        image[:] = lay.background
    frame_colour = lay.text if name != "embassy" else WHITE
    inset, thick = round(3 * s), max(1, round(1.2 * s))
    cv2.rectangle(image, (inset, inset), (w_px - inset - 1, h_px - inset - 1), frame_colour,
                  thick, lineType=cv2.LINE_AA)  # fmt: skip
    for index, (cell, char) in enumerate(zip(lay.cells, text, strict=True)):
        cw, ch = round(cell.w_mm * s), round(cell.h_mm * s)
        ink = _fit(_glyph(char), cw, ch)[..., None]
        x0 = round(cell.x_mm * s + (cw - ink.shape[1]) / 2)
        y0 = round(cell.y_mm * s)
        region = image[y0 : y0 + ch, x0 : x0 + ink.shape[1]]
        region[:] = region * (1 - ink) + ink * np.array(_text_colour(lay, text, index), np.float32)
    if lay.dot_after is not None:
        left, right = lay.cells[lay.dot_after - 1], lay.cells[lay.dot_after]
        centre = ((left.x_mm + left.w_mm + right.x_mm) / 2 * s, (lay.height_mm / 2) * s)
        cv2.circle(image, (round(centre[0]), round(centre[1])), round(5 * s), lay.text, -1,
                   lineType=cv2.LINE_AA)  # fmt: skip
    rivet_y = 12 if lay.rows == 1 else 9
    for rivet_x in (lay.width_mm * 0.2, lay.width_mm * 0.8):
        centre_px = (round(rivet_x * s), round(rivet_y * s))
        cv2.circle(image, centre_px, round(4.5 * s), (170, 170, 170), -1, lineType=cv2.LINE_AA)
        cv2.circle(image, centre_px, round(2 * s), (90, 90, 90), -1, lineType=cv2.LINE_AA)
    return np.clip(image, 0, 255).astype(np.uint8)
