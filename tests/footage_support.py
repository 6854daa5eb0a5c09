"""Footage files for the upload tests, made with ffmpeg from real footage (vtest.avi: Debian
opencv-doc, 768×576 pedestrians at 10 fps), cached per test session by their recipe."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import tempfile
from pathlib import Path

import pytest

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
_CACHE = Path(tempfile.gettempdir()) / "skynet-footage-test-clips"
ENCODERS = {
    "h264": ["-c:v", "libx264", "-preset", "ultrafast", "-g", "20", "-pix_fmt", "yuv420p"],
    "hevc": [
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=error:keyint=20",
    ],
    "mpeg4": ["-c:v", "mpeg4", "-g", "20", "-q:v", "5"],
    "mpeg2video": ["-c:v", "mpeg2video", "-g", "20", "-q:v", "5"],
}


@functools.cache
def has_encoder(name: str) -> bool:
    listing = subprocess.run(
        ["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=True
    ).stdout
    return any(line.split()[1:2] == [name] for line in listing.splitlines() if line.strip())


def require_encoder(codec: str) -> None:
    """Fail (never skip) when this ffmpeg cannot make `codec` test files: scripts/setup.sh
    installs Debian's ffmpeg, which has every encoder in ENCODERS, so a missing one is a
    broken setup that a skip would hide."""
    encoder = ENCODERS[codec][ENCODERS[codec].index("-c:v") + 1]
    if not has_encoder(encoder):
        pytest.fail(
            f"ffmpeg lacks the {encoder} encoder needed for {codec} test files: install "
            "Debian's ffmpeg (scripts/setup.sh)",
            pytrace=False,
        )


def clip(
    container: str,
    codec: str = "h264",
    seconds: float = 6.0,
    creation_time: str | None = None,
    width: int = 384,
) -> Path:
    """A `seconds` long vtest clip as `container` (mp4, mkv, avi, mov, ts) in `codec`, scaled
    to `width` px, with a creation_time tag if given; made once, then reused."""
    recipe = f"{container}-{codec}-{seconds}-{creation_time}-{width}"
    name = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    path = _CACHE / f"{name}.{container}"
    if path.exists():
        return path
    _CACHE.mkdir(parents=True, exist_ok=True)
    metadata = ["-metadata", f"creation_time={creation_time}"] if creation_time else []
    partial = path.with_suffix(".part" + path.suffix)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(VTEST), "-t", str(seconds), "-an",
         "-vf", f"scale={width}:-2", *ENCODERS[codec], *metadata, str(partial)],
        check=True,
    )  # fmt: skip
    partial.replace(path)
    return path


def long_clip(hours: float) -> Path:
    """`hours` of tiny footage (64 px, 1 fps, keyframe every 10 min) by stream-copy looping."""
    path = _CACHE / f"long-{hours:g}h.mkv"
    if path.exists():
        return path
    _CACHE.mkdir(parents=True, exist_ok=True)
    unit = _CACHE / "long-unit-60s.mkv"
    if not unit.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(VTEST), "-t", "60", "-an", "-r", "1",
             "-vf", "scale=64:-2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "600",
             str(unit)],
            check=True,
        )  # fmt: skip
    loops = int(hours * 60) - 1
    partial = path.with_suffix(".part.mkv")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(unit), "-c",
         "copy", str(partial)],
        check=True,
    )  # fmt: skip
    partial.replace(path)
    return path
