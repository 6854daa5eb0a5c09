"""Benchmark: how many live RTSP cameras one machine ingests and analyses in real time.

N sample cameras (1080p main recorded, 640x360 sub analysed, 25 fps) are served by the local
RTSP server and run through the real `Runtime` (record + decode + motion gate + batched detect
+ track + index). The largest N held in real time is searched by doubling then bisecting, for
the "busy" and "typical" footage mixes, beside the raw decode+detect cost of one camera-second
measured in the same run without the pipeline.

Two raw costs, both single-threaded loops over the sub stream file, no pipeline:
- plain raw (the target's baseline): decode, then detect every 5 fps sample at the model's
  square 416×416 input. The pipeline's levers (aspect-shaped detector input, motion gate,
  batching) count in `overhead_ratio` = process CPU / plain raw of the camera-seconds ingested.
- same-work raw: decode, then detect only the frames the pipeline detected, with its detector
  settings. `same_work_overhead_ratio` = process CPU / that: the cost of everything else the
  pipeline does (receiving both RTSP streams, recording, gating, tracking, finalising, indexing).

Run: `.venv/bin/python -m bench.live` (writes bench/results/live.json); `--help` for options.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import itertools
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

from detect.detector import BatchDetector
from index.catalog.values import CameraSpec
from sample_streams.footage import Mix, build_cameras
from sample_streams.server import RtspServer
from skynet.runtime import Runtime, pipeline_detector
from skynet.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "live.json"
CACHE_DIR = REPO_ROOT / "var" / "sample_streams"
MODELS_DIR = REPO_ROOT / "var" / "models"
DETECT_FPS = 5.0
PLAIN_INPUT_PX = (416, 416)  # the detector model's own square input: the plain loop's
REALTIME_FRACTION = 0.95  # analysed (and decoded) frames / target, for "held in real time"
LAG_P95_LIMIT_S = 2.0
LAG_GROWTH_LIMIT_S = 0.5  # mean lag of the last third minus the first third of the window
SAMPLE_EVERY_S = 0.5
MAX_FOREIGN_CORES = 0.3  # other processes' load above which capacity figures mean little
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PER_MIX_KEYS = (
    "overhead_ratio", "same_work_overhead_ratio", "analysis_overhead_ratio",
    "recording_ms_per_camera_second", "lag_p95_s",
    "mem_mb_per_camera", "cpu_ms_per_camera_second", "server_cpu_ms_per_camera_second",
    "foreign_cpu_cores",
)  # fmt: skip
# analysis paths (#16 part 4): name → Settings.motion_regions
PATHS = {"whole_frame": False, "motion_regions": True}
DEFAULT_PATH = next(name for name, on in PATHS.items() if on == Settings().motion_regions)
ANALYSIS_GROUPS = ("decode+gate", "detect")  # thread groups of `thread_cpu_s`
RECORDING_GROUPS = ("record", "segment-uploader")


@dataclass(frozen=True)
class RawCost:
    """CPU cost of one camera-second, no pipeline: decode the sub stream, detect 5 frames."""

    decode_cpu_ms_per_camera_second: float  # 25 frames decoded as ingest does, 5 to BGR
    decode_frame_threads_cpu_ms_per_camera_second: float  # the same with FFmpeg frame threads
    detect_cpu_ms_per_frame: float  # batch of 1, detector settings of the pipeline
    detect_wall_ms_per_frame: float
    detect_batch4_cpu_ms_per_frame: float
    detect_plain_cpu_ms_per_frame: float  # batch of 1 at PLAIN_INPUT_PX
    detect_fps: float

    @property
    def plain_ms_per_camera_second(self) -> float:
        """The plain loop: decode, detect every sample at the square input."""
        return (
            self.decode_cpu_ms_per_camera_second
            + self.detect_fps * self.detect_plain_cpu_ms_per_frame
        )

    @property
    def ms_per_camera_second(self) -> float:
        """Decode, detect every sample with the pipeline's detector settings."""
        return self.decode_cpu_ms_per_camera_second + self.detect_fps * self.detect_cpu_ms_per_frame

    def work_ms(self, decoded_s: float, detected_frames: float) -> float:
        """Same-work raw CPU ms: decoding `decoded_s` camera-seconds, detecting
        `detected_frames` with the pipeline's settings."""
        return decoded_s * self.decode_cpu_ms_per_camera_second + (
            detected_frames * self.detect_cpu_ms_per_frame
        )


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far: this process by thread group, the server, the whole machine."""

    at_s: float
    process_s: float
    threads_s: dict[str, float]
    server_s: float
    machine_busy_s: float


@dataclass(frozen=True)
class TrialResult:
    """One run of N cameras for `measure_s` after warm-up; `held` says it kept real time."""

    mix: str
    cameras: int
    held: bool
    decoded_fraction: float  # sampled+gated frames / (detect_fps x camera-seconds)
    analysed_fraction: float  # analysed / frames the motion gate passed
    analysed_fps_per_camera: float
    gate_pass_fraction: float
    drop_fraction: float
    sample_stride_mean: float  # > 1: analysis shed load by sampling detect_fps / stride
    lag_p95_s: float
    lag_first_third_s: float
    lag_last_third_s: float
    tracks_per_camera_minute: float  # finished tracks: rises when overload fragments tracks
    cpu_ms_per_camera_second: float  # this process (all threads)
    plain_raw_ms_per_camera_second: float  # the target's baseline, measured before the trial
    raw_work_ms_per_camera_second: float  # same-work raw cost of the work actually done
    raw_full_rate_ms_per_camera_second: float  # same-work raw of one camera-second of this mix
    overhead_ratio: float  # process CPU / plain raw, per camera-second
    same_work_overhead_ratio: float  # process CPU / same-work raw
    analysis_overhead_ratio: float  # decode+gate and analysis threads only, over same-work raw
    recording_ms_per_camera_second: float  # main-stream receive, remux, upload
    server_cpu_ms_per_camera_second: float
    foreign_cpu_cores: float  # machine busy time not ours or the server's, in cores
    mem_mb_per_camera: float
    cpu_share_by_thread: dict[str, float] = field(default_factory=dict)
    cpu_ms_per_camera_second_by_thread: dict[str, float] = field(default_factory=dict)
    load_avg_1m: float = 0.0  # the higher of start and end of the measurement
    settings: str = ""
    busy_cores_before: float = 0.0  # other processes' load just before the trial started
    cameras_without_frames: int = 0  # cameras with no frame analysed by the end: not held


def _ticks_s(stat_line: str) -> float:
    fields = stat_line.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _process_cpu_s(pid: int) -> float:
    try:
        return _ticks_s(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, IndexError, ValueError):
        return 0.0


def _thread_group(name: str) -> str:
    for prefix, group in (
        ("analyse-", "decode+gate"),
        ("record-", "record"),
        ("analysis", "detect"),
    ):
        if name.startswith(prefix):
            return group
    return name


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds of this process's threads, grouped: Python threads by role, native by name."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    groups: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        tid = int(task.name)
        native_name = stat[stat.index("(") + 1 : stat.rindex(")")]
        group = _thread_group(names.get(tid, f"native:{native_name.rstrip('0123456789')}"))
        groups[group] = groups.get(group, 0.0) + _ticks_s(stat)
    return groups


def machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores, /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def wait_for_quiet(max_busy_cores: float, timeout_s: float, window_s: float = 5.0) -> float:
    """Wait until the machine's busy cores over `window_s` fall to `max_busy_cores` (this
    process idle); returns the last measured value, even if `timeout_s` ran out first."""
    deadline = time.monotonic() + timeout_s
    while True:
        before = machine_busy_s()
        time.sleep(window_s)
        busy_cores = (machine_busy_s() - before) / window_s
        if busy_cores <= max_busy_cores or time.monotonic() >= deadline:
            return round(busy_cores, 2)


def rss_mb() -> float:
    """Resident MB of this process after a GC pass and giving free heap pages back to the OS
    (without the trim, arenas freed by an earlier trial make per-camera memory read negative)."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS missing from /proc/self/status")


def cpu_snapshot(server_pids: Sequence[int]) -> CpuSnapshot:
    return CpuSnapshot(
        time.monotonic(),
        time.process_time(),
        thread_cpu_s(),
        sum(_process_cpu_s(pid) for pid in server_pids),
        machine_busy_s(),
    )


def _decode_sample(
    sub_path: Path, seconds: float, thread_type: str | None
) -> tuple[float, list[np.ndarray]]:
    """CPU seconds to decode `seconds` of the sub file, converting DETECT_FPS frames/s to BGR.

    `thread_type` None keeps PyAV's default, as `ingest.camera` does.
    """
    frames: list[np.ndarray] = []
    with av.open(str(sub_path)) as container:
        stream = container.streams.video[0]
        if thread_type is not None:
            stream.thread_type = thread_type
        time_base = float(stream.time_base or 0)
        next_sample_s = 0.0
        started = time.process_time()
        for frame in container.decode(stream):
            at_s = float(frame.pts or 0) * time_base
            if at_s >= seconds:
                break
            if at_s + 1e-6 >= next_sample_s:
                next_sample_s += 1.0 / DETECT_FPS
                frames.append(frame.to_ndarray(format="bgr24"))
        return time.process_time() - started, frames


def _detect_cpu_ms(
    detector: BatchDetector, frames: list[np.ndarray], batch: int
) -> tuple[float, float]:
    """(CPU ms, wall ms) per frame detecting `frames` in batches of `batch`."""
    detector.detect(frames[:batch])  # warm-up: session arenas for this batch shape
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for start in range(0, len(frames) - batch + 1, batch):
        detector.detect(frames[start : start + batch])
    count = (len(frames) // batch) * batch
    return (
        (time.process_time() - cpu0) * 1000 / count,
        (time.perf_counter() - wall0) * 1000 / count,
    )


def measure_raw_cost(
    sub_path: Path, settings: Settings, seconds: float = 16.0, repeats: int = 3
) -> RawCost:
    """Decode `seconds` of `sub_path` and detect its 5 fps samples, as the pipeline would and
    at the plain square input; each figure is the median of `repeats` runs (single runs of a
    few seconds of CPU drift by ±10 % on this machine)."""
    if not sub_path.is_file():
        raise FileNotFoundError(f"sub stream file {sub_path} does not exist")
    decodes = [_decode_sample(sub_path, seconds, None) for _ in range(repeats)]
    frames = decodes[0][1]
    decode_s = statistics.median(s for s, _ in decodes)
    frame_threads_s = statistics.median(
        _decode_sample(sub_path, seconds, "AUTO")[0] for _ in range(repeats)
    )
    detector = pipeline_detector(settings)
    singles = [_detect_cpu_ms(detector, frames, 1) for _ in range(repeats)]
    cpu_ms = statistics.median(cpu for cpu, _ in singles)
    wall_ms = statistics.median(wall for _, wall in singles)
    batch4_cpu_ms = statistics.median(
        _detect_cpu_ms(detector, frames, 4)[0] for _ in range(repeats)
    )
    plain = pipeline_detector(settings, PLAIN_INPUT_PX)
    plain_cpu_ms = statistics.median(_detect_cpu_ms(plain, frames, 1)[0] for _ in range(repeats))
    return RawCost(
        decode_s * 1000 / seconds, frame_threads_s * 1000 / seconds, cpu_ms, wall_ms,
        batch4_cpu_ms, plain_cpu_ms,
        DETECT_FPS,
    )  # fmt: skip


def describe_settings(settings: Settings) -> str:
    width_px, height_px = settings.detector_input_px
    return (
        f"detector {settings.detector_model} {width_px}x{height_px}"
        f" threads={settings.detector_threads}"
        f" x{settings.analysis_threads} analysis threads, "
        f"detect_fps={settings.detect_fps:g}, segment={settings.segment_duration_s:g}s"
        + (", motion regions" if settings.motion_regions else "")
    )


def _lag_samples(runtime: Runtime, camera_ids: list[str]) -> float:
    """Mean over cameras of the lag of each camera's latest analysed frame."""
    lags = [runtime.worker.lag_s.get(camera_id, 0.0) for camera_id in camera_ids]
    return statistics.fmean(lags)


def _wait_all_analysed(runtime: Runtime, camera_ids: list[str], timeout_s: float) -> list[str]:
    """Wait until every camera had a frame analysed; returns those that had none in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(camera_id in runtime.worker.analysed_rate for camera_id in camera_ids):
            break
        time.sleep(0.5)
    return [c for c in camera_ids if c not in runtime.worker.analysed_rate]


def _counts(runtime: Runtime) -> tuple[int, int, int, int]:
    """(frames sampled+gated, frames passed by the gate, frames dropped, tracks finished)."""
    decoded = passed = 0
    for ingest in runtime.cameras.values():
        decoded += ingest.counters.frames_sampled + ingest.counters.frames_gated
        passed += ingest.counters.frames_sampled
    dropped = sum(runtime.frames.dropped.values())
    return decoded, passed, dropped, runtime.worker.tracks_finished


def _thirds(values: list[float]) -> tuple[float, float]:
    third = max(1, len(values) // 3)
    return statistics.fmean(values[:third]), statistics.fmean(values[-third:])


def run_trial(
    mix: Mix, count: int, raw: RawCost, settings_of: Callable[[Path], Settings],
    warmup_s: float = 10.0, measure_s: float = 30.0,
) -> TrialResult:  # fmt: skip
    """Serve `count` cameras of `mix`, ingest them for `warmup_s` + `measure_s`, measure."""
    cameras = build_cameras(count, mix, CACHE_DIR)
    server = RtspServer(CACHE_DIR)
    urls = server.start(cameras)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-live-") as data_dir:
            settings = settings_of(Path(data_dir))
            runtime = Runtime.build(settings)
            runtime.start()
            blank = np.zeros((360, 640, 3), np.uint8)
            for batch in (1, 2, 3, 4):  # warm the models' arenas before the memory baseline
                runtime.detector.detect([blank] * batch)
                runtime.embedder.embed([blank[:128, :64]] * batch, ["person"] * batch)
            rss_before_mb = rss_mb()
            camera_ids = list(urls)
            try:
                for camera_id, url in urls.items():
                    runtime.add_camera(CameraSpec(camera_id, camera_id, url.main, url.sub))
                silent = _wait_all_analysed(runtime, camera_ids, timeout_s=30.0 + count)
                time.sleep(warmup_s)
                result = _measure(runtime, server, mix, camera_ids, raw, measure_s, rss_before_mb)
                silent = [c for c in silent if c not in runtime.worker.analysed_rate]
                return replace(
                    result,
                    held=result.held and not silent,
                    cameras_without_frames=len(silent),
                    settings=describe_settings(settings),
                )
            finally:
                runtime.stop()
    finally:
        server.stop()


def _measure(
    runtime: Runtime, server: RtspServer, mix: Mix, camera_ids: list[str], raw: RawCost,
    measure_s: float, rss_before_mb: float,
) -> TrialResult:  # fmt: skip
    count = len(camera_ids)
    load_at_start = os.getloadavg()[0]
    start, counts0 = cpu_snapshot(server.pids), _counts(runtime)
    lags: list[float] = []
    strides: list[float] = []
    while time.monotonic() - start.at_s < measure_s:
        time.sleep(SAMPLE_EVERY_S)
        lags.append(_lag_samples(runtime, camera_ids))
        strides.append(runtime.frames.sample_stride)
    end, counts1 = cpu_snapshot(server.pids), _counts(runtime)
    mem_mb_per_camera = (rss_mb() - rss_before_mb) / count
    elapsed_s = end.at_s - start.at_s
    camera_s = count * elapsed_s
    decoded, passed, dropped, tracks = (b - a for a, b in zip(counts0, counts1, strict=True))
    analysed = max(0, passed - dropped)
    process_ms = (end.process_s - start.process_s) * 1000
    raw_work_ms = raw.work_ms(decoded / DETECT_FPS, analysed)
    plain_raw_ms = raw.plain_ms_per_camera_second * camera_s
    server_s = end.server_s - start.server_s
    foreign_s = (end.machine_busy_s - start.machine_busy_s) - process_ms / 1000 - server_s
    thread_s = {k: v - start.threads_s.get(k, 0.0) for k, v in end.threads_s.items()}
    total_thread_s = sum(thread_s.values()) or 1.0
    main_threads = [  # thread groups with at least 0.5 % of the CPU, busiest first
        (k, v)
        for k, v in sorted(thread_s.items(), key=lambda kv: -kv[1])
        if v / total_thread_s >= 0.005
    ]
    decoded_fraction = decoded / (DETECT_FPS * camera_s)
    analysed_fraction = analysed / passed if passed else 0.0
    lag_p95_s = float(np.percentile(lags, 95))
    first_s, last_s = _thirds(lags)
    held = (
        decoded_fraction >= REALTIME_FRACTION
        and analysed_fraction >= REALTIME_FRACTION
        and lag_p95_s <= LAG_P95_LIMIT_S
        and last_s - first_s <= LAG_GROWTH_LIMIT_S
    )
    return TrialResult(
        mix=mix,
        cameras=count,
        held=held,
        decoded_fraction=round(decoded_fraction, 3),
        analysed_fraction=round(analysed_fraction, 3),
        analysed_fps_per_camera=round(analysed / camera_s, 2),
        tracks_per_camera_minute=round(60 * tracks / camera_s, 1),
        gate_pass_fraction=round(passed / decoded, 3) if decoded else 0.0,
        drop_fraction=round(dropped / passed, 3) if passed else 0.0,
        sample_stride_mean=round(statistics.fmean(strides), 2),
        lag_p95_s=round(lag_p95_s, 3),
        lag_first_third_s=round(first_s, 3),
        lag_last_third_s=round(last_s, 3),
        cpu_ms_per_camera_second=round(process_ms / camera_s, 1),
        plain_raw_ms_per_camera_second=round(raw.plain_ms_per_camera_second, 1),
        raw_work_ms_per_camera_second=round(raw_work_ms / camera_s, 1),
        raw_full_rate_ms_per_camera_second=round(
            raw.work_ms(1.0, DETECT_FPS * (passed / decoded if decoded else 0.0)), 1
        ),
        overhead_ratio=round(process_ms / plain_raw_ms, 3) if plain_raw_ms else 0.0,
        same_work_overhead_ratio=round(process_ms / raw_work_ms, 3) if raw_work_ms else 0.0,
        analysis_overhead_ratio=(
            round(sum(thread_s.get(g, 0.0) for g in ANALYSIS_GROUPS) * 1000 / raw_work_ms, 3)
            if raw_work_ms
            else 0.0
        ),
        recording_ms_per_camera_second=round(
            sum(thread_s.get(g, 0.0) for g in RECORDING_GROUPS) * 1000 / camera_s, 1
        ),
        server_cpu_ms_per_camera_second=round(server_s * 1000 / camera_s, 1),
        foreign_cpu_cores=round(max(0.0, foreign_s) / elapsed_s, 2),
        mem_mb_per_camera=round(mem_mb_per_camera, 1),
        cpu_share_by_thread={k: round(v / total_thread_s, 3) for k, v in main_threads},
        cpu_ms_per_camera_second_by_thread={
            k: round(v * 1000 / camera_s, 1) for k, v in main_threads
        },
        load_avg_1m=round(max(load_at_start, os.getloadavg()[0]), 2),
    )


def search_capacity(
    trial: Callable[[int], TrialResult], start: int, limit: int
) -> tuple[int, list[TrialResult]]:
    """Largest N in [1, limit] with `trial(N).held`: double from `start`, then bisect; 0 if none."""
    if not 1 <= start <= limit:
        raise ValueError(f"start {start} must be in [1, limit={limit}]")
    results: list[TrialResult] = []
    held, failed = 0, limit + 1
    count = start
    while count <= limit:
        results.append(trial(count))
        if not results[-1].held:
            failed = count
            break
        held = count
        count = limit if count < limit < 2 * count else 2 * count
    while failed - held > 1:
        count = (held + failed) // 2
        results.append(trial(count))
        held, failed = (count, failed) if results[-1].held else (held, count)
    return held, results


def machine_description() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return f"{platform.machine()} {os.cpu_count()} cores, {model}"


def summarise(
    raw: RawCost, searches: dict[str, tuple[int, list[TrialResult]]]
) -> dict[str, object]:
    """The flat result keys of live.json, plus every trial."""
    summary: dict[str, object] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_description(),
        "plain_raw_ms_per_camera_second": round(raw.plain_ms_per_camera_second, 1),
        "raw_detect_plain_cpu_ms_per_frame": round(raw.detect_plain_cpu_ms_per_frame, 1),
        "raw_ms_per_camera_second": round(raw.ms_per_camera_second, 1),
        "raw_decode_ms_per_camera_second": round(raw.decode_cpu_ms_per_camera_second, 1),
        "raw_decode_frame_threads_ms_per_camera_second": round(
            raw.decode_frame_threads_cpu_ms_per_camera_second, 1
        ),
        "raw_detect_cpu_ms_per_frame": round(raw.detect_cpu_ms_per_frame, 1),
        "raw_detect_wall_ms_per_frame": round(raw.detect_wall_ms_per_frame, 1),
        "raw_detect_batch4_cpu_ms_per_frame": round(raw.detect_batch4_cpu_ms_per_frame, 1),
    }
    cores = os.cpu_count() or 1
    for mix, (max_cameras, trials) in searches.items():
        summary[f"max_cameras_{mix}"] = max_cameras
        held = [t for t in trials if t.held]
        # Per-camera figures at capacity; with nothing held, from the least loaded trial.
        basis = max(held, key=lambda t: t.cameras) if held else min(trials, key=lambda t: t.cameras)
        summary[f"figures_{mix}_at_cameras"] = basis.cameras
        for key in PER_MIX_KEYS:
            summary[f"{key}_{mix}"] = getattr(basis, key)
        full_rate_ms = basis.raw_full_rate_ms_per_camera_second  # raw measured before it
        plain_ms = basis.plain_raw_ms_per_camera_second
        summary[f"raw_ms_per_camera_second_{mix}"] = round(full_rate_ms, 1)
        summary[f"plain_raw_ms_per_camera_second_{mix}"] = plain_ms
        summary[f"compute_limit_cameras_{mix}"] = round(cores * 1000 / full_rate_ms, 1)
        summary[f"plain_compute_limit_cameras_{mix}"] = round(cores * 1000 / plain_ms, 1)
        pipeline_ms = basis.cpu_ms_per_camera_second + basis.server_cpu_ms_per_camera_second
        summary[f"projected_max_cameras_{mix}"] = round(cores * 1000 / pipeline_ms, 1)
        summary[f"trials_{mix}"] = [asdict(t) for t in trials]
    all_trials = [t for _, trials in searches.values() for t in trials]
    foreign_cores = max((t.foreign_cpu_cores for t in all_trials), default=0.0)
    summary["max_foreign_cpu_cores"] = foreign_cores
    summary["valid_for_capacity"] = foreign_cores <= MAX_FOREIGN_CORES
    for key in ("overhead_ratio", "same_work_overhead_ratio", "lag_p95_s", "mem_mb_per_camera"):
        if f"{key}_busy" in summary:  # the headline keys: at busy capacity
            summary[key] = summary[f"{key}_busy"]
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mix", nargs="+", choices=["busy", "typical"], default=["busy", "typical"]
    )
    parser.add_argument("--start", type=int, nargs="+", default=[4, 8], help="first N per mix")
    parser.add_argument("--limit", type=int, default=48, help="largest N tried")
    parser.add_argument("--warmup-s", type=float, default=10.0)
    parser.add_argument("--measure-s", type=float, default=30.0)
    parser.add_argument("--only", type=int, default=0, help="run one trial of this N, no search")
    parser.add_argument("--detector-threads", type=int, default=Settings().detector_threads)
    parser.add_argument("--analysis-threads", type=int, default=Settings().analysis_threads)
    parser.add_argument("--detector-model", default=Settings().detector_model)
    parser.add_argument(
        "--detector-input", default="x".join(map(str, Settings().detector_input_px))
    )
    parser.add_argument(
        "--paths", nargs="+", choices=list(PATHS), default=[DEFAULT_PATH],
        help="analysis paths compared in this run (#16): whole frame, motion regions",
    )  # fmt: skip
    parser.add_argument("--quiet-cores", type=float, default=0.3, help="wait for this idle")
    parser.add_argument("--quiet-wait-s", type=float, default=300.0, help="at most this long")
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    width_px, height_px = (int(v) for v in args.detector_input.split("x"))

    def settings_of(data_dir: Path, path: str = DEFAULT_PATH) -> Settings:
        return Settings(
            data_dir=data_dir, models_dir=MODELS_DIR, detect_fps=DETECT_FPS,
            detector_model=args.detector_model, detector_threads=args.detector_threads,
            analysis_threads=args.analysis_threads,
            detector_input_px=(width_px, height_px), motion_regions=PATHS[path],
        )  # fmt: skip

    raw_busy_cores = wait_for_quiet(args.quiet_cores, args.quiet_wait_s)
    sub_path = build_cameras(1, "busy", CACHE_DIR)[0].sub_path
    raw = measure_raw_cost(sub_path, settings_of(CACHE_DIR))
    print(
        json.dumps(
            asdict(raw)
            | {"ms_per_camera_second": raw.ms_per_camera_second}
            | {"plain_ms_per_camera_second": raw.plain_ms_per_camera_second}
        ),
        flush=True,
    )
    searches: dict[str, tuple[int, list[TrialResult]]] = {}
    for index, (mix, path) in enumerate(itertools.product(args.mix, args.paths)):

        def trial(count: int, mix: Mix = mix, path: str = path) -> TrialResult:
            busy_cores = wait_for_quiet(args.quiet_cores, args.quiet_wait_s)
            # The machine's speed drifts by 10-40 % over minutes (a shared host): each trial
            # is compared with a raw cost measured just before it.
            trial_raw = measure_raw_cost(sub_path, settings_of(CACHE_DIR))
            result = run_trial(
                mix, count, trial_raw, lambda d: settings_of(d, path), args.warmup_s,
                args.measure_s,
            )  # fmt: skip
            result = replace(result, busy_cores_before=busy_cores)
            print(json.dumps(asdict(result)), flush=True)
            return result

        # keys of the default path keep their names; the other path's get its suffix
        key = mix if path == DEFAULT_PATH else f"{mix}_{path}"
        if args.only:
            result = trial(args.only)
            searches[key] = (args.only if result.held else 0, [result])
        else:
            start = args.start[min(index // len(args.paths), len(args.start) - 1)]
            searches[key] = search_capacity(trial, start, args.limit)
        summary = summarise(raw, searches) | {"raw_busy_cores_before": raw_busy_cores}
        args.out.parent.mkdir(parents=True, exist_ok=True)  # written after each mix
        args.out.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    wait_for_quiet(args.quiet_cores, args.quiet_wait_s)
    raw_end = measure_raw_cost(sub_path, settings_of(CACHE_DIR))
    summary["raw_ms_per_camera_second_at_end"] = round(raw_end.ms_per_camera_second, 1)  # drift
    summary["plain_raw_ms_per_camera_second_at_end"] = round(raw_end.plain_ms_per_camera_second, 1)
    args.out.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if not k.startswith("trials_")}, indent=1))


if __name__ == "__main__":
    main()
