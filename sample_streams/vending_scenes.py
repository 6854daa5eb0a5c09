"""Scripted street-vending evaluation scenes (issue #13): real crops over vtest's empty square.

A scene is a camera zoomed on vtest's paved square (full-resolution region `VIEW_XYXY`, shown at
640×360 like a sub stream) whose empty plate is the median of vtest's frames. Everything drawn
on it is real pixels: vtest's own pedestrians (`synthetic.person_sprites`), vehicles cut by
GrabCut from real photos (the white pickup of darknet's dog.jpg — NanoDet calls it truck or car
at this scale; the car of OpenCV's licenseplate_motion.jpg — car), and goods cut from vtest
itself (the cloth lying on its grass, its traffic cones: static foreground the detector has no
class for). Each object stands on its foot point with a soft contact shadow and a height taken
from vtest's perspective (`person_height_px`), drawn far to near.

Labels come by construction: a scene's script says when a stall is set up and packed away, when
a car parks, when a truck drives through. `truth()` lists every such episode with `expected`
true where the zone's rule must fire (long enough, inside the schedule) and false for hard
negatives (passers-by, a group talking, a person waiting at the edge, a brief stop, a stall out
of hours, lighting changes). Scenes are split into tune and test by scene id, fixed here.
The scripts live in `vending_script`. Everything is seeded, so `render_frames` gives the same
pixels every run; `write_scene` caches an H.264 file under var/vending_scenes/.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from detect.detections import COCO_CLASSES
from detect.zone_rules import Schedule, TimeWindow, ViolationKind, ZoneKind, ZoneRule
from sample_streams import synthetic
from sample_streams.synthetic import Sprite

VIEW_XYXY = (256, 170, 768, 458)  # the part of vtest's 768×576 frame the camera sees
FRAME_SIZE_PX = (640, 360)
VIEW_SCALE = FRAME_SIZE_PX[0] / (VIEW_XYXY[2] - VIEW_XYXY[0])  # 1.25
FPS = 2.0
DWELL_S = 90.0  # every scene rule's min_dwell_s (the default 300 s would need 8-minute scenes)
TIMEZONE = "Asia/Shanghai"
DAY = datetime(2026, 6, 3, tzinfo=ZoneInfo(TIMEZONE))  # a Wednesday
VENDING_HOURS = Schedule(windows=(TimeWindow.parse("07:00-22:00"),))
TRUCK_HOURS = Schedule(windows=(TimeWindow.parse("07:00-09:00"),))
NOISE_SIGMA = 1.5  # sensor noise, grey levels
CACHE_DIR = Path("var/vending_scenes")
RECIPE_VERSION = 1  # bump when rendering changes in a way a scene's repr does not show
DARKNET_DOG = Path("/usr/share/darknet/data/dog.jpg")
PLATE_CAR = Path("/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg")

SceneKind = Literal[
    "stall", "fire_lane", "passers_by", "group_talking", "waiting_edge", "off_schedule",
    "lighting", "restricted_truck",
]  # fmt: skip
Split = Literal["tune", "test"]

# Zones in view pixels (640×360); ids are fixed so truth and rules agree.
ZONE_POLYGONS_PX: dict[int, tuple[tuple[float, float], ...]] = {
    1: ((10, 80), (195, 72), (205, 170), (10, 185)),  # west square, left of the sign post
    2: ((300, 140), (600, 140), (632, 305), (330, 305)),  # east square
    3: ((290, 4), (545, 4), (565, 95), (320, 95)),  # the access road
}


def person_height_px(foot_y_px: float) -> float:
    """A standing person's height in view pixels with the foot at `foot_y_px` (vtest's
    perspective, 55 + 0.12·y at full resolution, measured on its pedestrians)."""
    full_y = VIEW_XYXY[1] + foot_y_px / VIEW_SCALE
    return VIEW_SCALE * (55.0 + 0.12 * full_y)


def _grabcut(image: np.ndarray, box: tuple[int, int, int, int], pad: int) -> np.ndarray:
    x1, y1, x2, y2 = box
    ox, oy = max(0, x1 - pad), max(0, y1 - pad)
    around = np.ascontiguousarray(image[oy : y2 + pad, ox : x2 + pad])
    mask = np.zeros(around.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(7)
    cv2.grabCut(around, mask, (x1 - ox, y1 - oy, x2 - x1, y2 - y1), bgd, fgd, 5,
                cv2.GC_INIT_WITH_RECT)  # fmt: skip
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float32)
    return cv2.GaussianBlur(fg[y1 - oy : y2 - oy, x1 - ox : x2 - ox], (3, 3), 0)


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"{path} not found (Debian packages darknet / opencv-doc)")
    return image


# name -> (source, box, COCO class or None, height as a fraction of a person's, GrabCut pad)
PROP_SOURCES: dict[str, tuple[str, tuple[int, int, int, int], str | None, float, int]] = {
    "pickup": ("dog.jpg", (466, 80, 706, 172), "truck", 0.95, 30),
    "car": ("licenseplate_motion.jpg", (20, 30, 580, 460), "car", 0.85, 20),
    "cloth": ("vtest", (66, 494, 162, 530), None, 0.28, 6),
    "cone": ("vtest", (162, 184, 181, 208), None, 0.42, 6),
}


@cache
def prop_sprite(name: str) -> Sprite:
    """The real cut-out `name` of `PROP_SOURCES` at its source size."""
    source, box, class_name, _, pad = PROP_SOURCES[name]
    image = {
        "dog.jpg": lambda: _read(DARKNET_DOG),
        "licenseplate_motion.jpg": lambda: _read(PLATE_CAR),
        "vtest": synthetic.median_background,
    }[source]()
    x1, y1, x2, y2 = box
    class_id = COCO_CLASSES.index(class_name) if class_name else -1
    alpha = _grabcut(image, box, pad)
    return Sprite(image[y1:y2, x1:x2].copy(), alpha, class_id, f"{source}@{box}")


@cache
def view_background() -> np.ndarray:
    """The empty scene as the camera sees it (640×360)."""
    x1, y1, x2, y2 = VIEW_XYXY
    plate = synthetic.median_background()[y1:y2, x1:x2]
    return cv2.resize(plate, FRAME_SIZE_PX, interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Actor:
    """A sprite following `path` [(t_s, foot_x_px, foot_y_px), …] linearly; absent outside it.
    `sway_px` moves a standing person a little, as real people never stand still."""

    sprite_name: str  # "person:<index>" or a PROP_SOURCES name
    path: tuple[tuple[float, float, float], ...]
    height_factor: float = 1.0
    sway_px: float = 0.0

    def foot_at(self, t_s: float) -> tuple[float, float] | None:
        times = [p[0] for p in self.path]
        if t_s < times[0] or t_s > times[-1]:
            return None
        x = float(np.interp(t_s, times, [p[1] for p in self.path]))
        y = float(np.interp(t_s, times, [p[2] for p in self.path]))
        return x + self.sway_px * float(np.sin(2.0 * np.pi * 0.23 * t_s)), y


@dataclass(frozen=True)
class Cloud:
    """A soft shadow (`depth`: fraction of light removed) crossing the view at constant speed."""

    start_s: float
    end_s: float
    from_xy: tuple[float, float]
    to_xy: tuple[float, float]
    radius_px: float
    depth: float


@dataclass(frozen=True)
class Episode:
    """A scripted occupation: `expected` true when the zone's rule must raise `kind` for it."""

    zone_id: int
    kind: ViolationKind
    start_s: float
    end_s: float
    expected: bool
    what: str


@dataclass(frozen=True)
class Scene:
    """One scripted camera: actors, lighting and its episodes; `zones` maps id → zone kind."""

    scene_id: str
    split: Split
    kind: SceneKind
    seed: int
    duration_s: float
    start_at: datetime
    zones: dict[int, ZoneKind]
    actors: tuple[Actor, ...]
    episodes: tuple[Episode, ...] = ()
    gain_keys: tuple[tuple[float, float], ...] = ((0.0, 1.0),)  # (t_s, global gain)
    clouds: tuple[Cloud, ...] = ()
    schedules: dict[int, Schedule] = field(default_factory=dict)

    @property
    def frame_count(self) -> int:
        return int(self.duration_s * FPS)

    def rules(self) -> list[ZoneRule]:
        """The zone rules the detector is given for this camera."""
        w, h = FRAME_SIZE_PX
        return [
            ZoneRule(
                zone_id=zone_id,
                camera_id=self.scene_id,
                zone_name=f"zone{zone_id}",
                polygon=tuple((x / w, y / h) for x, y in ZONE_POLYGONS_PX[zone_id]),
                kind=kind,
                schedule=self.schedules.get(zone_id, Schedule()),
                min_dwell_s=0.0 if kind == "restricted_vehicles" else DWELL_S,
                timezone=TIMEZONE,
            )
            for zone_id, kind in self.zones.items()
        ]


def _sprite(name: str) -> Sprite:
    if name.startswith("person:"):
        return synthetic.person_sprites()[int(name.split(":")[1])]
    return prop_sprite(name)


@cache
def _scaled(name: str, height_px: int) -> Sprite:
    return _sprite(name).scaled(float(height_px))


def _height_px(actor: Actor, foot_y_px: float) -> int:
    base = 1.0 if actor.sprite_name.startswith("person:") else PROP_SOURCES[actor.sprite_name][3]
    return max(4, round(person_height_px(foot_y_px) * base * actor.height_factor))


def _shadow(canvas: np.ndarray, foot_xy: tuple[float, float], width_px: int) -> None:
    """Darken a blurred ellipse under the foot, a little towards the lower right."""
    fx, fy = foot_xy
    ax, ay = max(3, int(0.5 * width_px)), max(2, int(0.1 * width_px))
    sigma = max(1.5, ay / 2)
    pad = int(3 * sigma) + 2
    size = (2 * (ay + pad), 2 * (ax + pad))
    disc = np.zeros(size, np.float32)
    cv2.ellipse(disc, (ax + pad, ay + pad), (ax, ay), 0, 0, 360, 1.0, -1)
    patch = cv2.GaussianBlur(disc, (0, 0), sigma)
    x0, y0 = round(fx + 0.1 * width_px) - ax - pad, round(fy) - ay - pad
    h, w = canvas.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + size[1], w), min(y0 + size[0], h)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    part = patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0, None]
    canvas[cy0:cy1, cx0:cx1] *= 1.0 - 0.45 * part


def render_frame(scene: Scene, index: int) -> np.ndarray:
    """Frame `index` (at `FPS`) of `scene`: BGR uint8 640×360, the same pixels every run."""
    t_s = index / FPS
    canvas = view_background().astype(np.float32)
    placed = []
    for actor in scene.actors:
        foot = actor.foot_at(t_s)
        if foot is not None:
            sprite = _scaled(actor.sprite_name, _height_px(actor, foot[1]))
            placed.append((foot, sprite))
    placed.sort(key=lambda item: item[0][1])
    for foot, sprite in placed:
        _shadow(canvas, foot, sprite.image.shape[1])
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    for (fx, fy), sprite in placed:
        h, w = sprite.image.shape[:2]
        synthetic.paste(image, sprite, round(fx - w / 2), round(fy - h))
    key_times = [float(k[0]) for k in scene.gain_keys]
    key_gains = [float(k[1]) for k in scene.gain_keys]
    light = np.full(image.shape[:2], float(np.interp(t_s, key_times, key_gains)), np.float32)
    for cloud in scene.clouds:
        if cloud.start_s <= t_s <= cloud.end_s:
            share = (t_s - cloud.start_s) / (cloud.end_s - cloud.start_s)
            cx = cloud.from_xy[0] + share * (cloud.to_xy[0] - cloud.from_xy[0])
            cy = cloud.from_xy[1] + share * (cloud.to_xy[1] - cloud.from_xy[1])
            ys, xs = np.ogrid[: image.shape[0], : image.shape[1]]
            distance2 = ((xs - cx) ** 2 + (ys - cy) ** 2) / cloud.radius_px**2
            light *= (1.0 - cloud.depth * np.exp(-distance2)).astype(np.float32)
    noise = np.random.default_rng((scene.seed, index)).normal(0, NOISE_SIGMA, image.shape)
    return np.clip(image * light[..., None] + noise, 0, 255).astype(np.uint8)


def render_frames(scene: Scene) -> Iterator[np.ndarray]:
    for index in range(scene.frame_count):
        yield render_frame(scene, index)


def frame_digest(frame: np.ndarray) -> str:
    """A short sha256 of the frame's bytes (determinism checks, cache names)."""
    return hashlib.sha256(frame.tobytes()).hexdigest()[:16]


def write_scene(scene: Scene, cache_dir: Path = CACHE_DIR) -> Path:
    """The scene as H.264 MP4 (`FPS`, crf 18) under `cache_dir`, built once per script (the
    name carries a digest of the scene's repr and `RECIPE_VERSION`)."""
    import av

    script = hashlib.sha256(f"{RECIPE_VERSION}{scene!r}".encode()).hexdigest()[:16]
    path = cache_dir / f"{scene.scene_id}-{script}.mp4"
    if path.is_file():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=int(FPS))
        stream.width, stream.height = FRAME_SIZE_PX
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in render_frames(scene):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.rename(path)
    return path
