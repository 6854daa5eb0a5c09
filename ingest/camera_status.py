"""The live state of one camera's ingest and analysis, as the runtime reports it.

A frozen value the runtime builds on request (API status endpoints, Prometheus scrapes); the
API's schema wraps it, so the runtime never imports the API.
"""

from __future__ import annotations

from dataclasses import dataclass

# The ingest loop's states (ingest/camera.py) and "paused" for cameras the catalog disables.
CAMERA_STATES: tuple[str, ...] = (
    "connecting", "online", "reconnecting", "offline", "paused", "stopped",
)  # fmt: skip


@dataclass(frozen=True)
class CameraStatus:
    """Counters and rates of one camera; `sample_stride` > 1 while analysis sheds load (frames
    are sampled at detect_fps / stride); `lag_s` is frame seen → analysed, last frame."""

    camera_id: str
    state: str
    input_fps: float = 0.0
    analysed_fps: float = 0.0
    frames_sampled: int = 0
    frames_gated: int = 0  # skipped by the motion gate
    frames_dropped: int = 0  # dropped because analysis fell behind
    sample_stride: float = 1.0
    corrupt_packets: int = 0
    lag_s: float = 0.0
    reconnects: int = 0
    last_error: str = ""
    spool_pending_segments: int = 0
    spool_dropped_segments: int = 0  # lost: spool limit reached
    storage_down: bool = False
