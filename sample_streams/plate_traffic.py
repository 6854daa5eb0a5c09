"""A vehicle-heavy sample camera with known plates (issue #14): main 1080p + sub 640×360.

No road footage with Chinese plates is available offline, so vehicles with composited plates
(sample_streams/plate_scenes.py `render_sample`: rendered GA 36-2018 plates warped onto the
real vehicles of the plates bench, its TUNE split's clean samples of the sedan, pickup and bus
hosts) drive one after another across the empty vtest scene (its per-pixel median, stretched to
16:9). Each vehicle is scaled so its plate characters are `CHAR_HEIGHT_RANGE_PX` high on the
1080p main stream (a third of that on the sub stream: 4.7-10.7 px), and crosses the frame in
`CROSSING_S` seconds, entering `SPACING_S` after the previous one. Both files are encoded
from the same rendered frames (as sample_streams/footage.py does for the sample cameras), so
they show one field of view; GOP 2 s, 25 fps, H.264 without B-frames.

The truth (each vehicle's text, layout, time span and box at any time) comes from the seed
alone (`traffic_vehicles`), so labels need no file; the clip is cached under
var/sample_streams/plate_traffic-<hash>/.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from sample_streams.footage import FPS, GOP_S, MAIN_SIZE_PX, SUB_SIZE_PX, FootageError
from sample_streams.plate_scenes import SampleSpec, render_sample, sample_specs
from sample_streams.synthetic import median_background

SEED = 14_003
HOSTS = ("sedan_rear", "pickup_front", "bus_side")
CHAR_HEIGHT_RANGE_PX = (14.0, 32.0)  # on the 1080p main stream
MAX_VEHICLE_WIDTH_PX = 900
CROSSING_S = 4.0
SPACING_S = 4.5
ROAD_BOTTOM_PX = 1040  # where the vehicles' boxes end (their wheels), 1080p pixels
RECIPE_VERSION = 1


@dataclass(frozen=True)
class TrafficVehicle:
    """One vehicle of the clip: its plate (truth), the sample it is drawn from, its size on
    the main stream and when it crosses (left to right, or right to left)."""

    index: int
    sample_id: str
    host: str
    layout: str
    text: str
    char_height_main_px: float
    size_main_px: tuple[int, int]  # (W, H)
    enter_s: float
    left_to_right: bool

    @property
    def leave_s(self) -> float:
        return self.enter_s + CROSSING_S

    def left_px(self, t_s: float) -> float:
        """Its box's left edge at `t_s` (main-stream pixels, may be off the frame)."""
        w = self.size_main_px[0]
        share = (t_s - self.enter_s) / CROSSING_S
        travel = MAIN_SIZE_PX[0] + w
        return -w + share * travel if self.left_to_right else MAIN_SIZE_PX[0] - share * travel

    def box_at(self, t_s: float) -> tuple[float, float, float, float] | None:
        """Its box in main-stream pixels at `t_s` (clipped to the frame), None when out."""
        if not self.enter_s <= t_s < self.leave_s:
            return None
        w, h = self.size_main_px
        x1 = self.left_px(t_s)
        box = (max(0.0, x1), float(ROAD_BOTTOM_PX - h), min(float(MAIN_SIZE_PX[0]), x1 + w),
               float(ROAD_BOTTOM_PX))  # fmt: skip
        return box if box[2] > box[0] else None


def traffic_vehicles(count: int, seed: int = SEED) -> list[TrafficVehicle]:
    """The clip's vehicles from the seed alone (no pixels)."""
    rng = random.Random(seed)
    pool = [s for s in sample_specs("tune") if s.condition == "clean" and s.host in HOSTS]
    vehicles = []
    for i in range(count):
        spec = pool[i % len(pool)]
        char_px = rng.uniform(*CHAR_HEIGHT_RANGE_PX)
        w, h = _rendered_size(spec)
        scale = min(char_px / spec.char_height_px, MAX_VEHICLE_WIDTH_PX / w)
        vehicles.append(TrafficVehicle(
            i, spec.sample_id, spec.host, spec.layout, spec.text,
            round(spec.char_height_px * scale, 1), (round(w * scale), round(h * scale)),
            round(1.0 + i * SPACING_S, 3), rng.random() < 0.5,
        ))  # fmt: skip
    return vehicles


@cache
def vehicle_image(sample_id: str) -> np.ndarray:
    """The rendered vehicle (with its plate) of a plates-bench tune sample."""
    spec = next(s for s in sample_specs("tune") if s.sample_id == sample_id)
    return render_sample(spec)


def _rendered_size(spec: SampleSpec) -> tuple[int, int]:
    image = vehicle_image(spec.sample_id)
    return int(image.shape[1]), int(image.shape[0])


@dataclass(frozen=True)
class TrafficClip:
    """The clip's files and its vehicles."""

    main_path: Path
    sub_path: Path
    duration_s: float
    vehicles: tuple[TrafficVehicle, ...]

    def vehicle_at(self, t_s: float) -> TrafficVehicle | None:
        """The vehicle in view at `t_s` seconds into the clip (one at a time)."""
        return next((v for v in self.vehicles if v.enter_s <= t_s < v.leave_s), None)


def render_frame(
    background: np.ndarray, vehicles: list[tuple[TrafficVehicle, np.ndarray]], t_s: float
) -> np.ndarray:
    """The 1080p BGR frame at `t_s`: the background with the vehicles in view pasted."""
    frame = background.copy()
    for vehicle, image in vehicles:
        if vehicle.box_at(t_s) is None:
            continue
        w, h = vehicle.size_main_px
        x1 = round(vehicle.left_px(t_s))
        fx1, fx2 = max(0, x1), min(MAIN_SIZE_PX[0], x1 + w)
        if fx2 > fx1:
            frame[ROAD_BOTTOM_PX - h : ROAD_BOTTOM_PX, fx1:fx2] = image[:, fx1 - x1 : fx2 - x1]
    return frame


def build_traffic_clip(
    cache_dir: Path, vehicle_count: int = 16, seed: int = SEED, pick: Sequence[int] = ()
) -> TrafficClip:
    """Render and encode the clip (cached by its recipe); main and sub MP4s. `pick`: only
    these of the seed's vehicles, one after the other from the start (short test clips)."""
    vehicles = traffic_vehicles(vehicle_count, seed)
    if pick:
        vehicles = [
            replace(vehicles[i], index=k, enter_s=round(1.0 + k * SPACING_S, 3))
            for k, i in enumerate(pick)
        ]
    duration_s = round(vehicles[-1].leave_s + 1.0, 3)
    recipe = json.dumps(
        {"v": RECIPE_VERSION, "vehicles": [asdict(v) for v in vehicles], "fps": FPS}
    )
    key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    folder = cache_dir / f"plate_traffic-{key}"
    main_path, sub_path = folder / "main.mp4", folder / "sub.mp4"
    clip = TrafficClip(main_path, sub_path, duration_s, tuple(vehicles))
    if main_path.is_file() and sub_path.is_file():
        return clip
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise FootageError("ffmpeg is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    background = cv2.resize(median_background(), MAIN_SIZE_PX, interpolation=cv2.INTER_CUBIC)
    sprites = [
        (v, cv2.resize(vehicle_image(v.sample_id), v.size_main_px, interpolation=cv2.INTER_AREA))
        for v in vehicles
    ]
    gop = str(FPS * GOP_S)
    encoder = [
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", gop, "-keyint_min", gop,
        "-sc_threshold", "0", "-bf", "0", "-x264-params", "repeat-headers=1",
        "-pix_fmt", "yuv420p", "-r", str(FPS), "-an", "-movflags", "+faststart",
    ]  # fmt: skip
    args = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{MAIN_SIZE_PX[0]}x{MAIN_SIZE_PX[1]}",
        "-r", str(FPS), "-i", "-",
        "-filter_complex", f"[0:v]split=2[m][b];[b]scale={SUB_SIZE_PX[0]}:{SUB_SIZE_PX[1]}[s]",
        "-map", "[m]", *encoder, str(folder / "main.part.mp4"),
        "-map", "[s]", *encoder, str(folder / "sub.part.mp4"),
    ]  # fmt: skip
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None
    try:
        for n in range(round(duration_s * FPS)):
            process.stdin.write(render_frame(background, sprites, n / FPS).tobytes())
    finally:
        process.stdin.close()
    if process.wait() != 0:
        error = process.stderr.read().decode(errors="replace") if process.stderr else ""
        raise FootageError(f"encoding the traffic clip failed: {error[-2000:]}")
    (folder / "main.part.mp4").replace(main_path)
    (folder / "sub.part.mp4").replace(sub_path)
    return clip
