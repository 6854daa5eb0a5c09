"""Builds sample camera files (1080p main + 640x360 sub H.264 MP4) from real footage via ffmpeg."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

VTEST_PATH = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
DEFAULT_CACHE_DIR = Path("var/sample_streams")
CACHE_DIR_ENV = "SKYNET_SAMPLE_STREAMS_DIR"

# Bump when the recipe changes in a way the argument hash below would not see.
RECIPE_VERSION = 1

FPS = 25
GOP_S = 2
MAIN_SIZE_PX = (1920, 1080)
SUB_SIZE_PX = (640, 360)
# vtest is 4:3 (768x576). It is pillarboxed (scaled to the frame height, black bars left and
# right) rather than cropped, so no pedestrian near the top or bottom edge is cut away.
SOURCE_WIDTH_PX = 768
SOURCE_HEIGHT_PX = 576
SOURCE_FPS = 10
SOURCE_FRAME_COUNT = 795

# "typical": an empty scene (background plate) for three quarters of the loop, then people.
TYPICAL_PEOPLE_S = 20.0
TYPICAL_EMPTY_S = 3 * TYPICAL_PEOPLE_S
PLATE_FRAME_STEP = 4  # median over every 4th source frame (199 frames)

Mix = Literal["busy", "typical"]
VARIANTS: tuple[Mix, ...] = ("busy", "typical")


class FootageError(RuntimeError):
    """Raised when sample footage cannot be built (missing tool, missing source, ffmpeg failure)."""


@dataclass(frozen=True)
class CameraFiles:
    """The two files one sample camera streams: main (recorded) and sub (decoded for detection).

    `start_offset_s` is where in the loop the camera starts (a keyframe), so cameras sharing
    one file do not show the same frame at the same moment.
    """

    camera_id: str
    main_path: Path
    sub_path: Path
    duration_s: float
    fps: float
    start_offset_s: float = 0.0


@dataclass(frozen=True)
class VariantFiles:
    """The built files of one footage variant, shared by every camera that uses it."""

    variant: Mix
    main_path: Path
    sub_path: Path
    duration_s: float
    fps: float


@dataclass(frozen=True)
class FaultFiles:
    """Damaged copies of a sample file for fault tests."""

    truncated_path: Path  # cut mid-way: header intact, media data ends early
    corrupt_path: Path  # full length, a run of bytes in the middle overwritten


def resolve_cache_dir(cache_dir: Path | str | None = None) -> Path:
    """The cache dir: the argument, else $SKYNET_SAMPLE_STREAMS_DIR, else var/sample_streams."""
    if cache_dir is not None:
        return Path(cache_dir).resolve()
    return Path(os.environ.get(CACHE_DIR_ENV, str(DEFAULT_CACHE_DIR))).resolve()


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FootageError(f"{name} not found on PATH; install the Debian package 'ffmpeg'")
    return path


def _require_source(source_path: Path) -> None:
    if not source_path.is_file():
        raise FootageError(
            f"source footage {source_path} is missing; install the Debian package 'opencv-doc'"
        )


def _run(args: list[str], what: str) -> bytes:
    return _run_with_input(args, None, what)


def _run_with_input(args: list[str], stdin_bytes: bytes | None, what: str) -> bytes:
    result = subprocess.run(args, input=stdin_bytes, capture_output=True, check=False)
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace")[-2000:]
        raise FootageError(f"{what} failed (ffmpeg exit {result.returncode}): {tail}")
    return result.stdout


def _encoder_args(size_px: tuple[int, int], preset: str, crf: int) -> list[str]:
    gop_frames = FPS * GOP_S
    return [
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
        "-g", str(gop_frames), "-keyint_min", str(gop_frames), "-sc_threshold", "0",
        # IP cameras rarely send B-frames; without them RTP relay timing stays simple.
        "-bf", "0",
        "-x264-params", "repeat-headers=1",
        "-pix_fmt", "yuv420p",
        "-r", str(FPS), "-an", "-movflags", "+faststart",
    ]  # fmt: skip


def _pillarbox_filter(size_px: tuple[int, int]) -> str:
    width_px, height_px = size_px
    scaled_width_px = round(SOURCE_WIDTH_PX * height_px / SOURCE_HEIGHT_PX / 2) * 2
    pad_x_px = (width_px - scaled_width_px) // 2
    return f"scale={scaled_width_px}:{height_px},pad={width_px}:{height_px}:{pad_x_px}:0"


def _output_graph() -> str:
    """Filter tail: one 25 fps yuv420p stream [src] split into the main [m] and sub [s] outputs."""
    return (
        f"[src]split=2[a][b];[a]{_pillarbox_filter(MAIN_SIZE_PX)}[m];"
        f"[b]{_pillarbox_filter(SUB_SIZE_PX)}[s]"
    )


def _variant_inputs(variant: Mix, source_path: Path, plate_path: Path) -> tuple[list[str], str]:
    """ffmpeg input arguments and the filter graph producing [src] for one variant."""
    norm = f"fps={FPS},setsar=1,format=yuv420p"
    if variant == "busy":
        return ["-i", str(source_path)], f"[0:v]{norm}[src];"
    inputs = [
        "-loop", "1", "-framerate", str(FPS), "-t", f"{TYPICAL_EMPTY_S:g}", "-i", str(plate_path),
        "-t", f"{TYPICAL_PEOPLE_S:g}", "-i", str(source_path),
    ]  # fmt: skip
    graph = f"[0:v]{norm}[e];[1:v]{norm}[p];[e][p]concat=n=2:v=1:a=0[src];"
    return inputs, graph


def _ffmpeg_version() -> str:
    out = _run([_require_tool("ffmpeg"), "-hide_banner", "-version"], "ffmpeg -version")
    return out.decode(errors="replace").splitlines()[0]


def _source_fingerprint(source_path: Path) -> dict[str, object]:
    stat = source_path.stat()
    return {"path": str(source_path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _recipe_hash(parts: dict[str, object]) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path` (parallel test sessions share one cache dir)."""
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_meta(meta_path: Path) -> dict[str, object] | None:
    try:
        loaded = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _median_plate(source_path: Path) -> np.ndarray:
    """Per-pixel median (RGB, uint8) over every PLATE_FRAME_STEP-th source frame."""
    raw = _run([
        _require_tool("ffmpeg"), "-v", "error", "-i", str(source_path),
        "-vf", f"select=not(mod(n\\,{PLATE_FRAME_STEP}))", "-fps_mode", "passthrough",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
    ], "decoding source frames for the background plate")  # fmt: skip
    frame_shape = (SOURCE_HEIGHT_PX, SOURCE_WIDTH_PX, 3)
    frame_bytes = int(np.prod(frame_shape))
    if len(raw) < frame_bytes or len(raw) % frame_bytes != 0:
        raise FootageError(f"unexpected decoded size {len(raw)} bytes from {source_path}")
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(-1, *frame_shape)
    plate = np.empty(frame_shape, dtype=np.uint8)
    band_px = 64  # row bands keep the float temporaries of np.median small
    for row in range(0, SOURCE_HEIGHT_PX, band_px):
        band = np.median(frames[:, row:row + band_px], axis=0)
        plate[row:row + band_px] = band.round().astype(np.uint8)
    return plate


def _write_png(image_rgb: np.ndarray, path: Path) -> None:
    height_px, width_px = image_rgb.shape[:2]
    tmp_path = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    _run_with_input([
        _require_tool("ffmpeg"), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
        "-s", f"{width_px}x{height_px}", "-i", "-", "-frames:v", "1", str(tmp_path),
    ], image_rgb.tobytes(), f"writing {path}")  # fmt: skip
    tmp_path.replace(path)


def build_background_plate(cache_dir: Path | str | None = None,
                           source_path: Path = VTEST_PATH) -> Path:
    """The per-pixel median of the source frames (an empty scene) as a PNG; cached."""
    _require_source(source_path)
    cache = resolve_cache_dir(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    plate_path = cache / "background_plate.png"
    meta_path = cache / "background_plate.json"
    recipe = _recipe_hash({
        "version": RECIPE_VERSION, "step": PLATE_FRAME_STEP,
        "source": _source_fingerprint(source_path),
    })  # fmt: skip
    with _locked(cache / "background_plate.lock"):
        meta = _read_meta(meta_path)
        if plate_path.is_file() and meta is not None and meta.get("recipe_hash") == recipe:
            return plate_path
        _write_png(_median_plate(source_path), plate_path)
        meta_path.write_text(json.dumps({"recipe_hash": recipe}))
    return plate_path


def probe_duration_s(path: Path) -> float:
    """Container duration of a media file in seconds (ffprobe)."""
    out = _run([
        _require_tool("ffprobe"), "-v", "error", "-show_entries", "format=duration",
        "-of", "default=noprint_wrappers=1:nokey=1", str(path),
    ], f"probing {path}")  # fmt: skip
    try:
        return float(out.decode().strip())
    except ValueError as exc:
        raise FootageError(f"ffprobe gave no duration for {path}: {out!r}") from exc


def build_variant(variant: Mix, cache_dir: Path | str | None = None,
                  source_path: Path = VTEST_PATH) -> VariantFiles:
    """Build (or reuse, when the recipe hash matches) the main and sub files of one variant."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown footage variant {variant!r}; expected one of {VARIANTS}")
    _require_source(source_path)
    cache = resolve_cache_dir(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    plate_path = build_background_plate(cache, source_path) if variant == "typical" else Path()
    inputs, graph = _variant_inputs(variant, source_path, plate_path)
    main_args = _encoder_args(MAIN_SIZE_PX, "ultrafast", 25)
    sub_args = _encoder_args(SUB_SIZE_PX, "veryfast", 23)
    recipe = _recipe_hash({
        "version": RECIPE_VERSION, "variant": variant, "inputs": inputs, "graph": graph,
        "main": main_args, "sub": sub_args, "source": _source_fingerprint(source_path),
        "plate": _read_meta(cache / "background_plate.json") if variant == "typical" else None,
        "ffmpeg": _ffmpeg_version(),
    })  # fmt: skip
    with _locked(cache / f"{variant}.lock"):
        main_path = cache / f"{variant}_main.mp4"
        sub_path = cache / f"{variant}_sub.mp4"
        meta_path = cache / f"{variant}.json"
        meta = _read_meta(meta_path)
        if (main_path.is_file() and sub_path.is_file() and meta is not None
                and meta.get("recipe_hash") == recipe):
            return VariantFiles(variant, main_path, sub_path, float(str(meta["duration_s"])), FPS)
        main_tmp = cache / f".{variant}_main.{os.getpid()}.tmp.mp4"
        sub_tmp = cache / f".{variant}_sub.{os.getpid()}.tmp.mp4"
        _run([
            _require_tool("ffmpeg"), "-v", "error", "-y", *inputs,
            "-filter_complex", graph + _output_graph(),
            "-map", "[m]", *main_args, str(main_tmp),
            "-map", "[s]", *sub_args, str(sub_tmp),
        ], f"encoding the {variant!r} sample footage")  # fmt: skip
        main_tmp.replace(main_path)
        sub_tmp.replace(sub_path)
        duration_s = probe_duration_s(sub_path)
        meta_path.write_text(json.dumps({"recipe_hash": recipe, "duration_s": duration_s}))
        return VariantFiles(variant, main_path, sub_path, duration_s, FPS)


def build_cameras(count: int, mix: Mix = "busy",
                  cache_dir: Path | str | None = None) -> list[CameraFiles]:
    """`count` cameras cam1..camN sharing the `mix` variant's files, their loops staggered.

    Camera i starts (i-1)/count of the way into the loop (rounded down to a keyframe), so with
    the "typical" mix the busy quarter moves from camera to camera instead of hitting all at once.
    """
    if count < 1:
        raise ValueError(f"camera count must be at least 1, got {count}")
    files = build_variant(mix, cache_dir)
    cameras = []
    for index in range(count):
        offset_s = (index * files.duration_s / count) // GOP_S * GOP_S
        cameras.append(CameraFiles(f"cam{index + 1}", files.main_path, files.sub_path,
                                   files.duration_s, files.fps, offset_s))
    return cameras


def build_fault_files(source: Path, cache_dir: Path | str | None = None,
                      keep_fraction: float = 0.5) -> FaultFiles:
    """Damaged copies of `source`: one cut after `keep_fraction` of its bytes, one corrupted."""
    if not 0.0 < keep_fraction < 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1), got {keep_fraction}")
    if not source.is_file():
        raise FileNotFoundError(f"fault-file source {source} does not exist")
    cache = resolve_cache_dir(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    data = source.read_bytes()
    truncated_path = cache / f"{source.stem}_truncated.mp4"
    truncated_path.write_bytes(data[: int(len(data) * keep_fraction)])
    corrupt = bytearray(data)
    start = len(data) // 2
    run_len = min(64 * 1024, len(data) - start)
    corrupt[start:start + run_len] = np.random.default_rng(7).bytes(run_len)
    corrupt_path = cache / f"{source.stem}_corrupt.mp4"
    corrupt_path.write_bytes(bytes(corrupt))
    return FaultFiles(truncated_path, corrupt_path)
