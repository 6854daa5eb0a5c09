"""A vehicle re-ID set with a tune/test split by identity and by source cut-out (issue #16 part 5).

Real vehicles (labelled by eye, one identity each): the white van and the teal car parked in
vtest (the car is cut by the frame's right edge), the white pickup of darknet's `dog.jpg`, the bus
of ultralytics' `bus.jpg` and the silver saloon (rear view, motion-blurred) of opencv-doc's
`licenseplate_motion.jpg`. Each is cut out by GrabCut inside a box checked by eye.

Synthetic vehicles (labelled by construction): from a real cut-out of the van, pickup, bus or
saloon, a different vehicle of the same body shape: its body repainted in one palette colour
(windows, tyres and shadows darker than `KEEP_DARKER_THAN` keep their pixels), its length changed
by a horizontal stretch (0.8-1.25: a shorter or longer model) and, for half of them, a livery
band in a second colour. The silhouette is shared with the source: these are look-alike vehicles
of one model, not new shapes, which nothing here can make.

Cameras: each identity is seen by 3 "cameras" (4 views each, a track): a cut-out composited on a
real background (vtest's empty scene, the two Leuven street photos, `dog.jpg`'s street,
`building.jpg`) at the camera's scale, then that camera's lighting (gain, gamma, colour cast),
blur and JPEG quality, some mirrored (the other side of the vehicle). A vtest vehicle's first
camera is vtest itself: real crops of later frames (≥ 400, the person test half); the other real
vehicles' first camera is their own photo.

Split: by source cut-out, so no vehicle's pixels are in both splits: *tune* = the pickup and saloon
shapes (both real vehicles and their synthetic variants), *test* = the van and bus shapes and the
teal car (3 real vehicles and the van's and bus's variants).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from detect.detections import COCO_CLASSES
from models.registry import default_cache_dir
from sample_streams.synthetic import (
    DOG_JPG_PATH,
    PALETTE_BGR,
    VTEST_PATH,
    Sprite,
    grabcut_sprite,
    median_background,
    paste,
    read_video_frames,
    tint,
)

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
KEEP_DARKER_THAN = 45
CUT_OUT_MAX_PX = 240
VIEWS_PER_TRACK = 4
CAMERAS_PER_VEHICLE = 3
VTEST_TEST_FRAMES = (420, 540, 660, 780)  # the person test half (frames ≥ 400)
VTEST_FRAME_STEP = 60
TUNE_SHAPES = ("pickup", "saloon")
TEST_SHAPES = ("van", "bus")


@dataclass(frozen=True)
class RealVehicle:
    """A real vehicle: its still (a path or 'vtest'), box checked by eye, COCO class."""

    name: str
    shape: str
    source: str
    box: tuple[int, int, int, int]
    class_name: str


REAL_VEHICLES = (
    RealVehicle("vtest-van", "van", "vtest", (647, 42, 724, 100), "car"),
    RealVehicle("vtest-car", "car", "vtest", (734, 49, 768, 92), "car"),
    RealVehicle("dog-pickup", "pickup", str(DOG_JPG_PATH), (468, 80, 706, 172), "truck"),
    RealVehicle("bus", "bus", "bus.jpg", (0, 230, 810, 800), "bus"),
    RealVehicle(
        "saloon", "saloon", str(OPENCV_DATA / "licenseplate_motion.jpg"), (15, 25, 585, 445), "car"
    ),
)


@dataclass(frozen=True)
class Camera:
    """How one camera sees a vehicle: background, sprite height, light, blur, JPEG, mirror."""

    name: str
    background: str
    height_px: tuple[float, float]
    gain: float
    gamma: float
    cast_bgr: tuple[float, float, float]
    blur_sigma: float
    jpeg_quality: int
    mirrored: bool


CAMERAS = (
    Camera("paved", "vtest", (60, 80), 1.0, 1.0, (1.0, 1.0, 1.0), 0.0, 90, False),
    Camera("cobbles", "leuvenA.jpg", (90, 130), 0.8, 1.2, (1.05, 1.0, 0.95), 0.8, 75, True),
    Camera("square", "leuvenB.jpg", (40, 55), 1.1, 0.9, (1.0, 1.0, 1.0), 1.2, 60, False),
    Camera("street", "dog.jpg", (70, 100), 1.2, 1.0, (0.9, 1.0, 1.1), 0.5, 85, True),
    Camera("dusk", "building.jpg", (50, 70), 0.6, 1.4, (1.1, 1.0, 0.9), 1.5, 50, False),
)


@dataclass(frozen=True)
class VehicleTrack:
    """One camera's views of one vehicle (BGR crops as the detector's box would cut them)."""

    identity: str
    camera: str
    class_name: str
    crops: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class VehicleSet:
    """Tracks of one split and which identities are real (labelled by eye)."""

    split: str
    tracks: tuple[VehicleTrack, ...]
    real: frozenset[str]

    @property
    def identities(self) -> set[str]:
        return {t.identity for t in self.tracks}


def _image(source: str) -> np.ndarray:
    if source == "vtest":
        return next(read_video_frames(VTEST_PATH, limit=1))
    path = default_cache_dir().resolve() / "assets" / source if source == "bus.jpg" else None
    path = path or Path(source)
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"{path} not found (see bench/vehicle_reid_set.py's docstring)")
    return image


def _background(name: str) -> np.ndarray:
    if name == "vtest":
        return median_background()
    return _image(str(DOG_JPG_PATH) if name == "dog.jpg" else str(OPENCV_DATA / name))


@cache
def real_sprites() -> dict[str, Sprite]:
    """GrabCut cut-outs of the real vehicles, by name (large stills shrunk first so that the box
    is at most `CUT_OUT_MAX_PX` wide or high: GrabCut's time grows with the area)."""
    sprites = {}
    for v in REAL_VEHICLES:
        factor = min(1.0, CUT_OUT_MAX_PX / max(v.box[2] - v.box[0], v.box[3] - v.box[1]))
        image = cv2.resize(
            _image(v.source), None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA
        )
        x1, y1, x2, y2 = (round(c * factor) for c in v.box)
        class_id = COCO_CLASSES.index(v.class_name)
        sprites[v.name] = grabcut_sprite(image, (x1, y1, x2, y2), class_id, v.source)
    return sprites


def variant(sprite: Sprite, rng: np.random.Generator, colour: str) -> tuple[Sprite, str]:
    """A different vehicle of the sprite's shape: repainted, stretched, maybe a livery band."""
    painted = tint(sprite, PALETTE_BGR[colour], (0.0, 1.0), KEEP_DARKER_THAN)
    stretch = float(rng.uniform(0.8, 1.25))
    h, w = painted.image.shape[:2]
    size = (max(2, round(w * stretch)), h)
    image = cv2.resize(painted.image, size, interpolation=cv2.INTER_LINEAR)
    alpha = cv2.resize(painted.alpha, size, interpolation=cv2.INTER_LINEAR)
    stretched = Sprite(image, alpha, sprite.class_id, sprite.source)
    label = f"{colour} x{stretch:.2f}"
    if rng.random() < 0.5:
        band = [c for c in PALETTE_BGR if c != colour][int(rng.integers(0, len(PALETTE_BGR) - 1))]
        top = float(rng.uniform(0.45, 0.7))
        stretched = tint(
            stretched, PALETTE_BGR[band], (top, top + rng.uniform(0.06, 0.12)), KEEP_DARKER_THAN
        )
        label += f" {band} band"
    return stretched, label


def _degrade(crop: np.ndarray, camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """The camera's light (gain ±5 % per view, gamma, cast), blur and JPEG round trip."""
    gain = camera.gain * float(rng.uniform(0.95, 1.05))
    lit = 255.0 * (crop.astype(np.float32) / 255.0) ** camera.gamma * gain
    lit = np.clip(lit * np.array(camera.cast_bgr, np.float32), 0, 255).astype(np.uint8)
    if camera.blur_sigma:
        lit = cv2.GaussianBlur(lit, (0, 0), camera.blur_sigma)
    ok, encoded = cv2.imencode(".jpg", lit, [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg_quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    return np.asarray(decoded)


def composite_track(sprite: Sprite, camera: Camera, rng: np.random.Generator) -> list[np.ndarray]:
    """`VIEWS_PER_TRACK` crops of the sprite driving through the camera's scene."""
    background = _background(camera.background)
    bh, bw = background.shape[:2]
    height = float(rng.uniform(*camera.height_px))
    foot_y = float(rng.uniform(0.65, 0.95)) * bh
    base = (
        sprite
        if not camera.mirrored
        else Sprite(
            sprite.image[:, ::-1].copy(),
            sprite.alpha[:, ::-1].copy(),
            sprite.class_id,
            sprite.source,
        )
    )
    crops = []
    for view in range(VIEWS_PER_TRACK):
        scaled = base.scaled(height * float(rng.uniform(0.95, 1.05)))
        h, w = scaled.image.shape[:2]
        x = int(np.clip(0.2 * bw + view * 0.15 * bw + rng.uniform(-10, 10), 0, max(0, bw - w)))
        y = int(np.clip(foot_y - h, 0, max(0, bh - h)))
        canvas = background.copy()
        paste(canvas, scaled, x, y)
        jx, jy = (rng.normal(0, 0.03, 2) * (w, h)).round().astype(int)
        box = (max(0, x + jx), max(0, y + jy), min(bw, x + jx + w), min(bh, y + jy + h))
        crops.append(_degrade(canvas[box[1] : box[3], box[0] : box[2]], camera, rng))
    return crops


def own_camera(vehicle: RealVehicle, rng: np.random.Generator) -> list[np.ndarray]:
    """The real vehicle's own views: vtest's later frames, else its photo (box jitter 3 %)."""
    x1, y1, x2, y2 = vehicle.box
    if vehicle.source == "vtest":
        frames = list(read_video_frames(VTEST_PATH, VTEST_FRAME_STEP))
        stills = [frames[f // VTEST_FRAME_STEP] for f in VTEST_TEST_FRAMES]
    else:
        stills = [_image(vehicle.source)] * VIEWS_PER_TRACK
    crops = []
    for still in stills:
        jx, jy = (rng.normal(0, 0.03, 2) * (x2 - x1, y2 - y1)).round().astype(int)
        h, w = still.shape[:2]
        box = (max(0, x1 + jx), max(0, y1 + jy), min(w, x2 + jx), min(h, y2 + jy))
        crops.append(still[box[1] : box[3], box[0] : box[2]].copy())
    return crops


def build(split: str, variants_per_shape: int = 10, seed: int = 16) -> VehicleSet:
    """The split's real vehicles and `variants_per_shape` synthetic ones per body shape."""
    if split not in ("tune", "test"):
        raise ValueError(f"split is 'tune' or 'test', got {split!r}")
    shapes = TUNE_SHAPES if split == "tune" else (*TEST_SHAPES, "car")
    rng = np.random.default_rng(seed + (split == "test"))
    sprites = real_sprites()
    tracks: list[VehicleTrack] = []
    real = set()
    for vehicle in (v for v in REAL_VEHICLES if v.shape in shapes):
        real.add(vehicle.name)
        sprite = sprites[vehicle.name]
        tracks.append(
            VehicleTrack(vehicle.name, "own", vehicle.class_name, tuple(own_camera(vehicle, rng)))
        )
        for k in rng.choice(len(CAMERAS), CAMERAS_PER_VEHICLE - 1, replace=False):
            crops = composite_track(sprite, CAMERAS[k], rng)
            tracks.append(
                VehicleTrack(vehicle.name, CAMERAS[k].name, vehicle.class_name, tuple(crops))
            )
        if vehicle.shape not in TUNE_SHAPES + TEST_SHAPES:
            continue
        colours = rng.permutation(list(PALETTE_BGR))
        for n in range(variants_per_shape):
            made, label = variant(sprite, rng, str(colours[n % len(colours)]))
            identity = f"{vehicle.shape}#{n} ({label})"
            for k in rng.choice(len(CAMERAS), CAMERAS_PER_VEHICLE, replace=False):
                crops = composite_track(made, CAMERAS[k], rng)
                tracks.append(
                    VehicleTrack(identity, CAMERAS[k].name, vehicle.class_name, tuple(crops))
                )
    return VehicleSet(split, tuple(tracks), frozenset(real))
