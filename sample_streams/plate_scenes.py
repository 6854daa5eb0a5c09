"""The plate evaluation set (issue #14): rendered Chinese plates composited onto real vehicles.

Hosts are real pixels: the car of OpenCV's licenseplate_motion.jpg (its US plate painted over by
a larger Chinese one, straight on), the white van parked in vtest.avi's first frame (its rear
plate, 13 px wide in the footage), the white pickup of darknet's dog.jpg (front bumper, seen
from the side, so always at a slant) and the bus of bus.jpg (lower side panel). A sample is one
vehicle crop, scaled so the plate has the drawn character height, with one plate warped onto
it, then degraded by its condition. The bus and pickup have no plate of their own in the
photos: theirs are placements, not restorations.

Conditions: `clean` (20-40 px characters, near frontal, no degradation) and the degraded ones,
one each — `perspective` (±35° yaw, ±15° pitch), `motion_blur` (a 5-11 px line kernel),
`noise` (σ 8-16), `low_light` (×0.2-0.35 gain, gamma, σ 4 noise), `rain` (streaks), `jpeg`
(quality 8-20), `small` (12-14 px characters). Labels come by construction: `sample_specs`
turns a seed into every sample's parameters with no pixels involved, so the committed truth
(bench/data/plates_truth.json) is checked against the code cheaply; `render_sample` draws one.
Splits are fixed by seed: tune = `TUNE_SEED`, test = `TEST_SEED`.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from sample_streams.plate_render import LAYOUTS, LayoutName, layout, random_text, render_plate

TUNE_SEED = 14_001
TEST_SEED = 14_002
SAMPLES_PER_CONDITION = 30
CACHE_DIR = Path("var/plate_scenes")
RECIPE_VERSION = 1
Split = Literal["tune", "test"]
Condition = Literal[
    "clean", "perspective", "motion_blur", "noise", "low_light", "rain", "jpeg", "small"
]
CONDITIONS: tuple[Condition, ...] = (
    "clean", "perspective", "motion_blur", "noise", "low_light", "rain", "jpeg", "small",
)  # fmt: skip
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
MAX_VEHICLE_SIDE_PX = 960  # a vehicle filling a 1080p frame; also bounds each host's plate size


@dataclass(frozen=True)
class Host:
    """A real vehicle: where its picture comes from, its box there, the plate's centre and
    width in that picture's pixels, the plate's usual yaw (degrees; + turns it right) and the
    COCO class the vehicle is."""

    name: str
    source: str
    vehicle_xyxy: tuple[int, int, int, int]
    plate_centre_px: tuple[float, float]
    plate_width_px: float
    yaw_deg: float
    vehicle_class: str


HOSTS: tuple[Host, ...] = (
    Host("sedan_rear", "licenseplate_motion.jpg", (0, 0, 600, 482), (294.0, 262.0), 196.0,
         0.0, "car"),
    Host("van_rear", "vtest:0", (648, 40, 726, 102), (664.0, 82.5), 13.0, 0.0, "car"),
    Host("pickup_front", "dog.jpg", (466, 78, 708, 174), (679.0, 153.0), 20.0, 45.0, "truck"),
    Host("bus_side", "bus.jpg", (0, 220, 810, 900), (575.0, 652.0), 100.0, -10.0, "bus"),
)  # fmt: skip


@dataclass(frozen=True)
class SampleSpec:
    """Everything that decides one sample's pixels, and its truth: the plate text, layout
    and the plate's four corners in the vehicle crop (clockwise from top-left, pixels)."""

    sample_id: str
    split: Split
    condition: Condition
    host: str
    layout: LayoutName
    text: str
    char_height_px: float
    yaw_deg: float
    pitch_deg: float
    render_seed: int
    vehicle_scale: float
    plate_quad_px: tuple[tuple[float, float], ...]

    @property
    def plate_xyxy_px(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.plate_quad_px]
        ys = [p[1] for p in self.plate_quad_px]
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def rows(self) -> int:
        return layout(self.layout).rows

    @property
    def colour(self) -> str:
        return layout(self.layout).colour


def _plate_quad(host: Host, scale: float, width_px: float, height_px: float, yaw: float,
                pitch: float) -> tuple[tuple[float, float], ...]:  # fmt: skip
    """The plate's corners after a yaw/pitch turn about its centre (a pinhole at 3 plate
    widths, enough foreshortening for a nearby camera)."""
    cx = (host.plate_centre_px[0] - host.vehicle_xyxy[0]) * scale
    cy = (host.plate_centre_px[1] - host.vehicle_xyxy[1]) * scale
    focal = 3.0 * width_px
    ry, rp = math.radians(yaw), math.radians(pitch)
    corners = []
    for x, y in ((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)):
        px, py, pz = x * width_px, y * height_px, 0.0
        px, pz = px * math.cos(ry) + pz * math.sin(ry), -px * math.sin(ry) + pz * math.cos(ry)
        py, pz = py * math.cos(rp) - pz * math.sin(rp), py * math.sin(rp) + pz * math.cos(rp)
        depth = focal + pz
        corners.append((round(cx + px * focal / depth, 2), round(cy + py * focal / depth, 2)))
    return tuple(corners)


def _max_char_height(host: Host, plate_width_mm: float, char_height_mm: float) -> float:
    """The largest character height a host allows within `MAX_VEHICLE_SIDE_PX`."""
    x1, y1, x2, y2 = host.vehicle_xyxy
    max_plate_width_px = host.plate_width_px * MAX_VEHICLE_SIDE_PX / max(x2 - x1, y2 - y1)
    return max_plate_width_px * char_height_mm / plate_width_mm


def sample_specs(split: Split) -> list[SampleSpec]:
    """The split's samples: `SAMPLES_PER_CONDITION` per condition, layouts and hosts cycled
    so every condition sees every layout, from the split's seed."""
    rng = random.Random(TUNE_SEED if split == "tune" else TEST_SEED)
    specs = []
    for condition in CONDITIONS:
        for i in range(SAMPLES_PER_CONDITION):
            name = LAYOUTS[i % len(LAYOUTS)]
            lay = layout(name)
            text = random_text(name, rng)
            low, high = (12.0, 14.0) if condition == "small" else (20.0, 40.0)
            if condition not in ("clean", "small", "perspective"):
                low, high = 16.0, 36.0
            tallest_mm = max(c.h_mm for c in lay.cells)
            fits = [h for h in HOSTS if _max_char_height(h, lay.width_mm, tallest_mm) >= low]
            host = fits[rng.randrange(len(fits))]
            high = min(high, _max_char_height(host, lay.width_mm, tallest_mm))
            char_h = round(rng.uniform(low, high), 1)
            height_px = char_h * lay.height_mm / tallest_mm
            width_px = height_px * lay.width_mm / lay.height_mm
            if condition == "perspective":
                yaw = host.yaw_deg + rng.uniform(-35.0, 35.0)
                pitch = rng.uniform(-15.0, 15.0)
            else:
                yaw = host.yaw_deg * 0.3 + rng.uniform(-5.0, 5.0)
                pitch = rng.uniform(-4.0, 4.0)
            yaw = max(-60.0, min(60.0, yaw))
            scale = width_px / host.plate_width_px
            quad = _plate_quad(host, scale, width_px, height_px, yaw, pitch)
            specs.append(SampleSpec(
                f"{split}-{condition}-{i:02d}", split, condition, host.name, name, text,
                char_h, round(yaw, 2), round(pitch, 2), rng.randrange(2**31), round(scale, 4),
                quad,
            ))  # fmt: skip
    return specs


def truth_row(spec: SampleSpec) -> list[object]:
    """One sample's committed truth: id, host, layout, text, character height, yaw, pitch and
    the plate's box in the vehicle crop (0.1 px)."""
    box = [round(v, 1) for v in spec.plate_xyxy_px]
    return [spec.sample_id, spec.host, spec.layout, spec.text, spec.char_height_px,
            spec.yaw_deg, spec.pitch_deg, box]  # fmt: skip


def truth_json(splits: tuple[Split, ...] = ("tune", "test")) -> str:
    """The committed ground truth (bench/data/plates_truth.json): one sample a line."""
    rows = [json.dumps(truth_row(s), ensure_ascii=False) for sp in splits for s in sample_specs(sp)]
    head = json.dumps({"recipe_version": RECIPE_VERSION, "seeds": [TUNE_SEED, TEST_SEED],
                       "columns": ["sample_id", "host", "layout", "text", "char_height_px",
                                   "yaw_deg", "pitch_deg", "plate_xyxy_px"]})  # fmt: skip
    return head[:-1] + ', "samples": [\n' + ",\n".join(rows) + "\n]}\n"


@cache
def _host_image(source: str) -> np.ndarray:
    if source.startswith("vtest:"):
        capture = cv2.VideoCapture(str(OPENCV_DATA / "vtest.avi"))
        ok, frame = capture.read()
        capture.release()
        if not ok:
            raise FileNotFoundError("vtest.avi (Debian opencv-doc) not readable")
        return np.asarray(frame)
    path = {
        "licenseplate_motion.jpg": OPENCV_DATA / "licenseplate_motion.jpg",
        "dog.jpg": Path("/usr/share/darknet/data/dog.jpg"),
        "bus.jpg": Path("var/models/assets/bus.jpg"),
    }[source]
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"{path} not found (scripts/setup.sh installs it)")
    return np.asarray(image)


def host_vehicle(host: Host, scale: float) -> np.ndarray:
    """The host's vehicle as photographed (no plate composited), scaled by `scale`."""
    return _vehicle(host, scale)


def _vehicle(host: Host, scale: float) -> np.ndarray:
    x1, y1, x2, y2 = host.vehicle_xyxy
    crop = _host_image(host.source)[y1:y2, x1:x2]
    size = (max(8, round((x2 - x1) * scale)), max(8, round((y2 - y1) * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(crop, size, interpolation=interp))


def _composite(vehicle: np.ndarray, plate: np.ndarray, quad: np.ndarray) -> np.ndarray:
    # Pre-shrink with area averaging so the perspective warp does not alias.
    side = float(np.linalg.norm(quad[1] - quad[0]))
    shrink = max(1.0, plate.shape[1] / max(2.0 * side, 1.0))
    if shrink > 1.0:
        plate = cv2.resize(plate, (round(plate.shape[1] / shrink), round(plate.shape[0] / shrink)),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
    h, w = plate.shape[:2]
    source = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(source, quad.astype(np.float32))
    size = (vehicle.shape[1], vehicle.shape[0])
    warped = cv2.warpPerspective(plate, matrix, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(np.ones((h, w), np.float32), matrix, size, flags=cv2.INTER_LINEAR)
    # The vehicle's own light falls on the plate: scale by the surroundings' brightness.
    x1, y1 = np.maximum(quad.min(axis=0).astype(int) - 4, 0)
    x2, y2 = quad.max(axis=0).astype(int) + 4
    around = vehicle[y1:y2, x1:x2]
    light = float(np.clip(around.mean() / 150.0, 0.7, 1.05)) if around.size else 1.0
    a = alpha[..., None]
    out = vehicle.astype(np.float32) * (1 - a) + warped.astype(np.float32) * light * a
    return np.clip(out, 0, 255).astype(np.uint8)


def _degrade(image: np.ndarray, condition: Condition, rng: np.random.Generator) -> np.ndarray:
    out: np.ndarray = image.astype(np.float32)
    if condition == "motion_blur":
        length = int(rng.integers(5, 12))
        kernel: np.ndarray = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        angle = float(rng.uniform(-30, 30))
        rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        kernel = (kernel / max(float(kernel.sum()), 1e-6)).astype(np.float32)
        out = cv2.filter2D(out, -1, kernel)
    elif condition == "noise":
        out += rng.normal(0, rng.uniform(8, 16), out.shape)
    elif condition == "low_light":
        gain = rng.uniform(0.2, 0.35)
        out = 255.0 * (out / 255.0) ** 1.3 * gain + rng.normal(0, 4, out.shape)
    elif condition == "rain":
        streaks: np.ndarray = np.zeros(out.shape[:2], np.float32)
        count = int(out.shape[0] * out.shape[1] / 600)
        slant = rng.uniform(-0.3, 0.3)
        for _ in range(count):
            x, y = rng.uniform(0, out.shape[1]), rng.uniform(0, out.shape[0])
            length = rng.uniform(0.04, 0.12) * out.shape[0]
            end = (int(x + slant * length), int(y + length))
            cv2.line(streaks, (int(x), int(y)), end, float(rng.uniform(0.3, 0.7)), 1)
        streaks = cv2.GaussianBlur(streaks, (3, 3), 0)[..., None]
        out = out * (1 - 0.5 * streaks) + 220.0 * 0.5 * streaks
        out = out * 0.8 + 20
    out = np.clip(out, 0, 255).astype(np.uint8)
    if condition == "jpeg":
        quality = int(rng.integers(8, 21))
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        out = out if decoded is None else np.asarray(decoded)
    return np.asarray(out)


def render_sample(spec: SampleSpec) -> np.ndarray:
    """One sample's BGR vehicle crop, the same pixels for the same spec."""
    host = next(h for h in HOSTS if h.name == spec.host)
    rng = np.random.default_rng(spec.render_seed)
    vehicle = _vehicle(host, spec.vehicle_scale)
    plate = render_plate(spec.layout, spec.text)
    plate = cv2.GaussianBlur(plate, (0, 0), 0.6 * plate.shape[0] / 140)  # a lens, not vectors
    image = _composite(vehicle, plate, np.array(spec.plate_quad_px, np.float32))
    if spec.condition != "clean":
        image = _degrade(image, spec.condition, rng)
    noisy = image.astype(np.float32) + rng.normal(0, 1.5, image.shape)  # sensor noise
    return np.clip(noisy, 0, 255).astype(np.uint8)


def cached_sample(spec: SampleSpec) -> np.ndarray:
    """`render_sample`, cached as PNG under var/plate_scenes/ (keyed by the spec's hash)."""
    key = hashlib.sha256(f"{RECIPE_VERSION}{json.dumps(asdict(spec))}".encode()).hexdigest()
    path = CACHE_DIR / f"{spec.sample_id}-{key[:12]}.png"
    if path.is_file():
        image = cv2.imread(str(path))
        if image is not None:
            return np.asarray(image)
    image = render_sample(spec)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return image
