"""Synthetic scenes with known ground truth: real person and vehicle cut-outs moving over vtest.

Sprites are real pixels: persons are cut from vtest.avi by subtracting the median background
(connected components of the difference mask, shaped like a standing person); vehicles are cut
from stills by GrabCut inside a hand-checked box (the white pickup of darknet's `dog.jpg`, the
white van parked in vtest's first frame). Objects move at constant velocity over the median
background of vtest, drawn far-to-near (by bottom edge), so crossings occlude for real; the
ground truth box of an object is its full sprite box, kept while at least `MIN_VISIBLE` of its
pixels show.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from detect.detections import COCO_CLASSES, Detections

VTEST_PATH = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
DOG_JPG_PATH = Path("/usr/share/darknet/data/dog.jpg")
MIN_VISIBLE = 0.3
PERSON = COCO_CLASSES.index("person")
CAR = COCO_CLASSES.index("car")
TRUCK = COCO_CLASSES.index("truck")
# (source, class, x1, y1, x2, y2): boxes found with NanoDet and checked by eye.
VEHICLE_BOXES: tuple[tuple[str, int, int, int, int, int], ...] = (
    ("dog.jpg", TRUCK, 468, 80, 706, 172),
    ("vtest:0", CAR, 647, 42, 724, 100),
)


@dataclass(frozen=True)
class Sprite:
    """A cut-out: BGR pixels, an alpha mask (0..1, same H×W) and its COCO class id."""

    image: np.ndarray
    alpha: np.ndarray
    class_id: int
    source: str

    def scaled(self, height_px: float) -> Sprite:
        factor = height_px / self.image.shape[0]
        size = (max(2, round(self.image.shape[1] * factor)), max(2, round(height_px)))
        return Sprite(
            cv2.resize(self.image, size, interpolation=cv2.INTER_AREA),
            cv2.resize(self.alpha, size, interpolation=cv2.INTER_AREA),
            self.class_id,
            self.source,
        )


def read_video_frames(path: Path, step: int = 1, limit: int | None = None) -> Iterator[np.ndarray]:
    """Every `step`-th BGR frame of a video file (raises FileNotFoundError if absent)."""
    if not path.is_file():
        raise FileNotFoundError(f"video {path} not found (Debian package opencv-doc ships vtest)")
    capture = cv2.VideoCapture(str(path))
    index, yielded = 0, 0
    try:
        while limit is None or yielded < limit:
            if not capture.grab():
                return
            if index % step == 0:
                ok, frame = capture.retrieve()
                if not ok:
                    return
                yielded += 1
                yield frame
            index += 1
    finally:
        capture.release()


@cache
def _sample_frames(path: Path, step: int) -> tuple[np.ndarray, ...]:
    return tuple(read_video_frames(path, step=step))


def median_background(path: Path = VTEST_PATH) -> np.ndarray:
    """Per-pixel median of every 20th frame of the video: the empty scene."""
    return _median(path)


@cache
def _median(path: Path) -> np.ndarray:
    return np.median(np.stack(_sample_frames(path, 20)), axis=0).astype(np.uint8)


def foreground_mask(frame: np.ndarray, background: np.ndarray, threshold: int = 32) -> np.ndarray:
    diff = cv2.absdiff(frame, background).max(axis=2)
    mask = (diff > threshold).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((7, 5), np.uint8))
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))


@cache
def person_sprites(count: int = 12, path: Path = VTEST_PATH) -> tuple[Sprite, ...]:
    """`count` person cut-outs from vtest: every standing blob of frames 100 apart."""
    background = median_background(path)
    sprites: list[Sprite] = []
    for index, frame in enumerate(_sample_frames(path, 20)[::5]):
        if len(sprites) >= count:
            break
        mask = foreground_mask(frame, background)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
        for label in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[label])
            standing = 75 <= h <= 140 and 1.9 <= h / max(w, 1) <= 4.5 and area > 0.5 * w * h
            inside = x > 2 and y > 2 and x + w < frame.shape[1] - 2 and y + h < frame.shape[0] - 2
            if not (standing and inside):
                continue
            alpha = (labels[y : y + h, x : x + w] == label).astype(np.float32)
            alpha = cv2.GaussianBlur(alpha, (3, 3), 0)
            image = frame[y : y + h, x : x + w].copy()
            sprites.append(Sprite(image, alpha, PERSON, f"vtest:{index * 100}@{x},{y}"))
    sprites = sprites[:count]
    if len(sprites) < count:
        raise RuntimeError(f"only {len(sprites)} person sprites found in {path}")
    return tuple(sprites)


@cache
def vehicle_sprites() -> tuple[Sprite, ...]:
    """Vehicle cut-outs by GrabCut inside `VEHICLE_BOXES`."""
    sprites = []
    for source, class_id, x1, y1, x2, y2 in VEHICLE_BOXES:
        if source.startswith("vtest:"):
            image = _sample_frames(VTEST_PATH, 20)[0]
        else:
            still = cv2.imread(str(DOG_JPG_PATH))
            if still is None:
                raise FileNotFoundError(f"{DOG_JPG_PATH} not found (Debian package darknet)")
            image = still
        sprites.append(grabcut_sprite(image, (x1, y1, x2, y2), class_id, source))
    return tuple(sprites)


def grabcut_sprite(
    image: np.ndarray, box: tuple[int, int, int, int], class_id: int, source: str
) -> Sprite:
    """A cut-out of the object inside `box` (x1, y1, x2, y2) of a still, by GrabCut."""
    x1, y1, x2, y2 = box
    ox, oy = max(0, x1 - 40), max(0, y1 - 40)
    around = np.ascontiguousarray(image[oy : y2 + 40, ox : x2 + 40])
    mask = np.zeros(around.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(7)
    rect = (x1 - ox, y1 - oy, x2 - x1, y2 - y1)
    cv2.grabCut(around, mask, rect, bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    fg = fg.astype(np.float32)[y1 - oy : y2 - oy, x1 - ox : x2 - ox]
    alpha = cv2.GaussianBlur(fg, (3, 3), 0)
    return Sprite(image[y1:y2, x1:x2].copy(), alpha, class_id, source)


def tint(
    sprite: Sprite,
    target_bgr: tuple[int, int, int],
    rows: tuple[float, float],
    keep_darker_than: int = 0,
) -> Sprite:
    """Recolour the sprite's pixels in the row band `rows` (fractions) to `target_bgr`.

    The original shading is kept as brightness rank mapped to ±15 % around the target, so
    folds and highlights stay in order (dark vtest clothes would otherwise saturate); pixels
    darker than `keep_darker_than` (a vehicle's windows and tyres) keep their colour.
    """
    image = sprite.image.copy()
    h = image.shape[0]
    top, bottom = int(rows[0] * h), int(rows[1] * h)
    band = image[top:bottom]
    grey = cv2.cvtColor(band, cv2.COLOR_BGR2GRAY).astype(np.float32)
    inside = (sprite.alpha[top:bottom] > 0.5) & (grey >= keep_darker_than)
    if not inside.any():
        return sprite
    order = np.sort(grey[inside])
    rank = np.searchsorted(order, grey) / max(len(order), 1)
    shading = 0.85 + 0.3 * rank
    recoloured = np.clip(shading[..., None] * np.array(target_bgr, np.float32), 0, 255)
    band[inside] = recoloured[inside].astype(np.uint8)
    return Sprite(image, sprite.alpha, sprite.class_id, f"{sprite.source}+tint{target_bgr}")


def paste(canvas: np.ndarray, sprite: Sprite, x: int, y: int) -> np.ndarray:
    """Alpha-blend `sprite` with its top-left at (x, y); returns the painted mask (H×W bool)."""
    h, w = sprite.image.shape[:2]
    ch, cw = canvas.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, cw), min(y + h, ch)
    painted = np.zeros((ch, cw), bool)
    if x0 >= x1 or y0 >= y1:
        return painted
    alpha = sprite.alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    blended = alpha * sprite.image[y0 - y : y1 - y, x0 - x : x1 - x] + (1 - alpha) * region
    canvas[y0:y1, x0:x1] = blended.astype(np.uint8)
    painted[y0:y1, x0:x1] = alpha[..., 0] > 0.5
    return painted


@dataclass(frozen=True)
class Mover:
    """An object moving at constant velocity; `foot_xy` is its bottom-centre at `start_s`."""

    object_id: int
    sprite: Sprite
    foot_xy: tuple[float, float]
    velocity_px_s: tuple[float, float]
    start_s: float
    end_s: float

    def box_at(self, t_s: float) -> np.ndarray:
        dt = t_s - self.start_s
        fx = self.foot_xy[0] + self.velocity_px_s[0] * dt
        fy = self.foot_xy[1] + self.velocity_px_s[1] * dt
        h, w = self.sprite.image.shape[:2]
        return np.array([fx - w / 2, fy - h, fx + w / 2, fy], np.float32)


@dataclass(frozen=True)
class TruthFrame:
    """Ground truth of one rendered frame: object ids, full boxes and visible fraction."""

    at_s: float
    object_ids: np.ndarray
    xyxy: np.ndarray
    visibility: np.ndarray


def render(
    background: np.ndarray, movers: list[Mover], t_s: float
) -> tuple[np.ndarray, TruthFrame]:
    """Draw the scene at `t_s` far-to-near and measure what is visible of each object."""
    canvas = background.copy()
    active = [m for m in movers if m.start_s <= t_s <= m.end_s]
    active.sort(key=lambda m: float(m.box_at(t_s)[3]))
    masks, boxes = [], []
    for mover in active:
        box = mover.box_at(t_s)
        masks.append(paste(canvas, mover.sprite, round(float(box[0])), round(float(box[1]))))
        boxes.append(box)
    ids, kept, visible = [], [], []
    fh, fw = background.shape[:2]
    for i, mover in enumerate(active):
        covered = np.zeros_like(masks[i])
        for later in masks[i + 1 :]:
            covered |= later
        total = max(int(masks[i].sum()), 1)
        fraction = float((masks[i] & ~covered).sum()) / total
        full_area = mover.sprite.alpha.shape[0] * mover.sprite.alpha.shape[1]
        in_frame = float((mover.sprite.alpha > 0.5).sum()) or 1.0
        on_screen = int(masks[i].sum()) / in_frame
        if fraction >= MIN_VISIBLE and on_screen >= 0.5 and full_area > 0:
            ids.append(mover.object_id)
            box = boxes[i].copy()
            box[[0, 2]] = np.clip(box[[0, 2]], 0, fw)
            box[[1, 3]] = np.clip(box[[1, 3]], 0, fh)
            kept.append(box)
            visible.append(fraction * on_screen)
    truth = TruthFrame(
        t_s,
        np.array(ids, np.int64),
        np.array(kept, np.float32).reshape(-1, 4),
        np.array(visible, np.float32),
    )
    return canvas, truth


def crossing_scene(seed: int, duration_s: float = 24.0) -> list[Mover]:
    """Pairs of people walking head-on past each other (one hides the other), diagonal walkers
    and a vehicle driving across the paved area at ~200 px/s (40 px per frame at 5 fps)."""
    if duration_s < 6.0:
        raise ValueError(f"a crossing scene needs at least 6 s, got {duration_s}")
    rng = np.random.default_rng(seed)
    people = list(person_sprites())
    rng.shuffle(people)
    movers: list[Mover] = []
    for pair in range(3):
        foot_y = 260.0 + 75 * pair + rng.uniform(-15, 15)
        height = 55 + 0.12 * foot_y
        speed = rng.uniform(35, 70, size=2)
        meet_x = rng.uniform(250, 520)
        meet_s = rng.uniform(min(5.0, duration_s / 3), max(duration_s - 8, duration_s * 2 / 3))
        for side, sign in enumerate((1.0, -1.0)):
            sprite = people[2 * pair + side].scaled(height + rng.uniform(-6, 6))
            y = foot_y + side * rng.uniform(4, 22)
            x = meet_x - sign * speed[side] * meet_s
            movers.append(
                Mover(len(movers) + 1, sprite, (x, y), (sign * speed[side], 0.0), 0.0, duration_s)
            )
    for k in range(2):
        sprite = people[6 + k].scaled(rng.uniform(85, 105))
        start = (rng.uniform(150, 600), 470.0)
        velocity = (rng.choice([-1.0, 1.0]) * rng.uniform(15, 35), -rng.uniform(20, 35))
        movers.append(
            Mover(len(movers) + 1, sprite, start, velocity, rng.uniform(0, 6), duration_s)
        )
    truck = vehicle_sprites()[0].scaled(70)
    movers.append(Mover(len(movers) + 1, truck, (-150.0, 215.0), (200.0, 8.0), 2.0, duration_s))
    return movers


@dataclass(frozen=True)
class SyntheticSequence:
    """Rendered frames at `fps` with their ground truth."""

    fps: float
    frames: list[np.ndarray]
    truth: list[TruthFrame]


def render_sequence(movers: list[Mover], fps: float, duration_s: float) -> SyntheticSequence:
    background = median_background()
    frames, truth = [], []
    for k in range(int(duration_s * fps)):
        image, gt = render(background, movers, k / fps)
        frames.append(image)
        truth.append(gt)
    return SyntheticSequence(fps, frames, truth)


def noisy_detections(
    truth: list[TruthFrame], classes: dict[int, int], seed: int
) -> list[Detections]:
    """A detector noise model over ground truth: box jitter (3 % of size), 5 % misses,
    confidence falling with occlusion (so hidden objects land in ByteTrack's low band), plus
    one low-confidence clutter box in a tenth of the frames. `classes` maps object id → class."""
    rng = np.random.default_rng(seed)
    out = []
    for gt in truth:
        keep = rng.random(len(gt.object_ids)) > 0.05
        boxes = gt.xyxy[keep].copy()
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        scale = np.stack([w, h, w, h], axis=1)
        boxes += rng.normal(0, 0.03, boxes.shape).astype(np.float32) * scale
        confidence = np.clip(
            0.3 + 0.6 * gt.visibility[keep] + rng.normal(0, 0.05, keep.sum()), 0.05, 0.99
        )
        class_id = np.array([classes[int(i)] for i in gt.object_ids[keep]], np.int64)
        if rng.random() < 0.1:
            x, y = rng.uniform(0, 700), rng.uniform(0, 500)
            boxes = np.vstack([boxes, [[x, y, x + 40, y + 90]]])
            confidence = np.append(confidence, rng.uniform(0.1, 0.3))
            class_id = np.append(class_id, PERSON)
        out.append(Detections(boxes.astype(np.float32), confidence.astype(np.float32), class_id))
    return out


PALETTE_BGR: dict[str, tuple[int, int, int]] = {
    "white": (236, 236, 232), "black": (28, 28, 30), "grey": (112, 110, 108),
    "silver": (178, 176, 172), "red": (35, 30, 200), "blue": (185, 85, 30),
    "green": (50, 150, 45), "yellow": (40, 205, 225), "orange": (25, 125, 240),
    "brown": (40, 75, 125),
}  # fmt: skip
PERSON_UPPER_ROWS = (0.17, 0.52)
PERSON_LOWER_ROWS = (0.52, 0.93)


@dataclass(frozen=True)
class ColourCase:
    """A crop of a recoloured real sprite over the real background, with its true colours."""

    crop: np.ndarray
    class_name: str
    expected: dict[str, str]


def _composite_crop(sprite: Sprite, foot_xy: tuple[int, int]) -> np.ndarray:
    canvas = median_background().copy()
    h, w = sprite.image.shape[:2]
    x, y = foot_xy[0] - w // 2, foot_xy[1] - h
    paste(canvas, sprite, x, y)
    return canvas[max(y, 0) : y + h, max(x, 0) : x + w].copy()


def colour_cases(seed: int = 0, persons: int = 4) -> list[ColourCase]:
    """Every palette colour on each vehicle sprite, and on persons' upper and lower bodies
    (lower colour = a different palette colour), at random places on the paved area."""
    rng = np.random.default_rng(seed)
    names = list(PALETTE_BGR)
    cases = []
    for sprite in vehicle_sprites():
        for name in names:
            tinted = tint(sprite.scaled(rng.uniform(60, 90)), PALETTE_BGR[name], (0.0, 1.0), 45)
            foot = (int(rng.uniform(150, 600)), int(rng.uniform(230, 420)))
            class_name = COCO_CLASSES[sprite.class_id]
            cases.append(ColourCase(_composite_crop(tinted, foot), class_name, {"colour": name}))
    for k, sprite in enumerate(person_sprites()[:persons]):
        for i, upper in enumerate(names):
            lower = names[(i + 3 + k) % len(names)]
            tinted = tint(
                sprite.scaled(rng.uniform(85, 120)), PALETTE_BGR[upper], PERSON_UPPER_ROWS
            )
            tinted = tint(tinted, PALETTE_BGR[lower], PERSON_LOWER_ROWS)
            foot = (int(rng.uniform(150, 600)), int(rng.uniform(300, 470)))
            expected = {"upper_colour": upper, "lower_colour": lower}
            cases.append(ColourCase(_composite_crop(tinted, foot), "person", expected))
    return cases
