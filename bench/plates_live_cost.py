"""Benchmark (issue #14): what plate reading adds to the live analysis path's CPU.

The live analysis as `skynet/runtime.py` wires it — one `AnalysisWorker` with the pipeline
detector, the appearance embedder and (on) the `PlateReader` of the settings, the camera
configured as the runtime configures it — fed the 640×360 sub stream of a sample camera as
`ingest.camera` reads it (every frame decoded, `detect_fps` sampled, the motion gate, BGR only
for frames it passes, batches of the worker's size), every track finalised (embedding, best
shot, plates) on this thread. Runs alternate plate reading off and on (off, on, off, on, …) in
one process over the same footage; the figure is process CPU per footage-second, and
`plate_cost_share_<mix>` = (on − off) / on of the medians. Beside it, the CPU spent inside the
plate reader's `sight` calls (process time around each call: the run is single-threaded), the
vehicle tracks finalised, the reads made and the plates stored.

Recording (the main stream's receive and remux) and the RTSP server are left out: the share is of
the analysis path, an upper bound of the share of the whole live process (`bench/live.py`).

`--sides 64 96 …` also reads the plates bench's TUNE clean samples scaled to those longest
vehicle sides (exact rate, CPU per read): where `detect.track_builder.PLATE_MIN_VEHICLE_SIDE_PX`
was chosen.

Run: `flock /tmp/skynet-bench.lock .venv/bin/python -m bench.plates_live_cost`; merges its keys
into bench/results/plates.json (other keys kept).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np

from bench.live import CACHE_DIR, MODELS_DIR, machine_description
from detect.detector import Detector
from detect.embedder import AppearanceEmbedder
from detect.plate_reader import PlateReader, PlateSighting
from detect.plate_values import PLATE_VEHICLES
from detect.track_builder import PlateSighter
from detect.track_record import TrackRecord
from detect.worker import AnalysisWorker
from index.catalog.values import CameraSpec
from ingest.camera import luma_of
from ingest.frame import Frame
from ingest.frame_queue import LatestFrames
from ingest.motion import MotionGate
from sample_streams.footage import Mix, build_cameras
from sample_streams.plate_scenes import cached_sample, sample_specs
from skynet.runtime import camera_analysis, motion_region_settings, pipeline_detector
from skynet.settings import Settings

RESULTS_PATH = Path(__file__).resolve().parents[1] / "bench" / "results" / "plates.json"
CAMERA_ID = "plates-live-cost"
BATCH = 4  # AnalysisWorker's default batch
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class CountingReader:
    """A `PlateSighter` around the real reader that counts reads, their CPU and crop sizes."""

    def __init__(self, reader: PlateSighter) -> None:
        self._reader = reader
        self.reads = 0
        self.sightings = 0
        self.cpu_s = 0.0
        self.crop_heights_px: list[int] = []

    def sight(
        self, vehicle: np.ndarray, at: datetime, origin_px: tuple[float, float] = (0.0, 0.0)
    ) -> PlateSighting | None:
        started = time.process_time()
        found = self._reader.sight(vehicle, at, origin_px)
        self.cpu_s += time.process_time() - started
        self.reads += 1
        self.sightings += found is not None
        self.crop_heights_px.append(int(vehicle.shape[0]))
        return found


@dataclass(frozen=True)
class RunCost:
    """One pass of the live analysis over `footage_s` of a camera, plates on or off."""

    mix: str
    plates: bool
    footage_s: float
    cpu_s: float
    wall_s: float
    frames_analysed: int
    tracks: int
    vehicle_tracks: int
    plates_stored: int
    reads: int
    sightings: int
    read_cpu_s: float
    read_crop_heights_px: list[int] = field(default_factory=list)

    @property
    def cpu_ms_per_footage_second(self) -> float:
        return self.cpu_s * 1000 / self.footage_s


def sub_frames(sub_path: Path, detect_fps: float, footage_s: float) -> list[Frame]:
    """The frames `ingest.camera` would hand the worker from the first `footage_s` of the file
    (decoded, sampled and gated again on each call: that work is part of the path's cost)."""
    gate = MotionGate()
    frames: list[Frame] = []
    next_sample_s = 0.0
    with av.open(str(sub_path)) as container:
        for frame in container.decode(container.streams.video[0]):
            at_s = float(frame.time or 0.0)
            if at_s >= footage_s:
                break
            if at_s + 1e-6 < next_sample_s:
                continue
            next_sample_s = max(next_sample_s + 1.0 / detect_fps, at_s)
            if not gate.should_analyse(luma_of(frame), at_s):
                continue
            image = frame.to_ndarray(format="bgr24")
            wall = EPOCH + timedelta(seconds=at_s)
            frames.append(Frame(image, CAMERA_ID, at_s, wall, gate.last_mask))
    return frames


def run_once(
    mix: Mix, sub_path: Path, settings: Settings,
    parts: tuple[Detector, AppearanceEmbedder, PlateSighter], plates: bool, footage_s: float,
) -> RunCost:  # fmt: skip
    """Decode, gate, detect, track and finalise `footage_s` of the camera; process CPU."""
    detector, embedder, reader = parts
    counting = CountingReader(reader)
    records: list[TrackRecord] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    worker = AnalysisWorker(
        LatestFrames(8), detector, embedder, records.extend,
        batch_size=BATCH, track_max_age_s=settings.track_max_age_s,
        plate_reader=counting if plates else None,
        motion_regions=motion_region_settings(settings),
    )  # fmt: skip
    spec = CameraSpec(CAMERA_ID, CAMERA_ID, "rtsp://unused/main", "rtsp://unused/sub")
    worker.configure_camera(CAMERA_ID, camera_analysis(spec, (), settings.motion_regions))
    frames = sub_frames(sub_path, settings.detect_fps, footage_s)
    for start in range(0, len(frames), BATCH):
        worker.process(frames[start : start + BATCH])
    worker.end_camera(CAMERA_ID)
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    vehicles = [r for r in records if r.class_name in PLATE_VEHICLES]
    return RunCost(
        mix, plates, footage_s, cpu_s, wall_s, len(frames), len(records), len(vehicles),
        sum(r.plate is not None for r in vehicles), counting.reads, counting.sightings,
        counting.cpu_s, sorted(counting.crop_heights_px),
    )  # fmt: skip


def summarise(mix: str, runs: Sequence[RunCost]) -> dict[str, object]:
    """The per-mix keys: medians of each side, the added share and the counts of one on-run."""
    off = [r.cpu_ms_per_footage_second for r in runs if not r.plates]
    on = [r.cpu_ms_per_footage_second for r in runs if r.plates]
    on_runs = [r for r in runs if r.plates]
    off_ms, on_ms = statistics.median(off), statistics.median(on)
    read_ms = statistics.median(r.read_cpu_s * 1000 / r.footage_s for r in on_runs)
    last = on_runs[-1]
    return {
        f"plates_off_cpu_ms_per_camera_second_{mix}": round(off_ms, 1),
        f"plates_on_cpu_ms_per_camera_second_{mix}": round(on_ms, 1),
        f"plate_cost_share_{mix}": round((on_ms - off_ms) / on_ms, 4),
        f"plate_read_cpu_ms_per_camera_second_{mix}": round(read_ms, 2),
        f"plate_read_share_{mix}": round(read_ms / on_ms, 4),  # inside `sight`, lower noise
        f"plate_vehicle_tracks_{mix}": last.vehicle_tracks,
        f"plate_reads_{mix}": last.reads,
        f"plate_reads_with_plate_{mix}": last.sightings,
        f"plate_tracks_with_plate_{mix}": last.plates_stored,
        f"plate_tracks_{mix}": last.tracks,
        f"plate_read_crop_heights_px_{mix}": last.read_crop_heights_px,
        f"plate_read_ms_per_read_{mix}": (
            round(last.read_cpu_s * 1000 / last.reads, 1) if last.reads else None
        ),
        f"plate_live_cost_runs_{mix}": [
            {k: v for k, v in asdict(r).items() if k != "read_crop_heights_px"}
            | {"cpu_ms_per_footage_second": round(r.cpu_ms_per_footage_second, 1)}
            for r in runs
        ],
    }


def read_by_vehicle_side(
    reader: PlateSighter, sides_px: Sequence[int], per_side: int
) -> list[dict[str, object]]:
    """Exact-read rate and CPU ms per read of the TUNE split's clean samples scaled down so the
    vehicle's longest side is each of `sides_px` (the sizes a 640×360 sub stream shows), with
    the character height that leaves: where reads stop being legible, and what they cost."""
    specs = [s for s in sample_specs("tune") if s.condition == "clean"][:per_side]
    rows: list[dict[str, object]] = []
    for side_px in sides_px:
        exact = 0
        cpu_s = 0.0
        char_px: list[float] = []
        read_char_px: list[float] = []  # character heights of the exact reads
        for spec in specs:
            image = cached_sample(spec)
            scale = side_px / max(image.shape[:2])
            small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            char_px.append(spec.char_height_px * scale)
            started = time.process_time()
            found = reader.sight(small, EPOCH)
            cpu_s += time.process_time() - started
            if found is not None and found.read.text == spec.text:
                exact += 1
                read_char_px.append(char_px[-1])
        rows.append({
            "vehicle_side_px": side_px, "samples": len(specs),
            "char_height_px_median": round(statistics.median(char_px), 1),
            "exact": round(exact / len(specs), 3),
            "smallest_char_height_read_px": round(min(read_char_px), 1) if read_char_px else None,
            "ms_per_read": round(cpu_s * 1000 / len(specs), 1),
        })  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    return rows


def merge_results(path: Path, new: dict[str, object]) -> None:
    """Write `new`'s keys into the results file, keeping every other key."""
    current = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps(current | new, indent=1, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mix", nargs="+", choices=["busy", "typical"], default=["busy", "typical"]
    )
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs per mix")
    parser.add_argument("--footage-s", type=float, default=80.0, help="per run (the loop)")
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    parser.add_argument(
        "--sides", type=int, nargs="*", default=[], help="also read tune samples at these sides"
    )
    parser.add_argument("--per-side", type=int, default=30)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # as Runtime.build
    with tempfile.TemporaryDirectory(prefix="bench-plates-live-") as data_dir:
        settings = Settings(data_dir=Path(data_dir), models_dir=MODELS_DIR)
        detector = pipeline_detector(settings)
        embedder = AppearanceEmbedder.from_settings(settings)
        reader = PlateReader.from_model_cache(
            settings.models_dir, settings.plate_recogniser, settings.plate_locator
        )
        blank = np.zeros((360, 640, 3), np.uint8)
        detector.detect([blank] * BATCH)  # warm the sessions' arenas before any timed run
        embedder.embed([blank[:128, :64]] * BATCH, ["car"] * BATCH)
        reader.sight(blank[:120, :200], EPOCH)
        summary: dict[str, object] = {}
        if args.sides:
            summary["plate_read_by_vehicle_side_tune"] = read_by_vehicle_side(
                reader, args.sides, args.per_side
            )
        for mix in args.mix if args.rounds else ():
            sub_path = build_cameras(1, mix, CACHE_DIR)[0].sub_path
            load_before = os.getloadavg()[0]
            runs = []
            for _ in range(args.rounds):
                for plates in (False, True):
                    run = run_once(
                        mix, sub_path, settings, (detector, embedder, reader), plates,
                        args.footage_s,
                    )  # fmt: skip
                    print(json.dumps(asdict(run) | {"ms": run.cpu_ms_per_footage_second}))
                    runs.append(run)
            summary |= summarise(mix, runs)
            summary[f"plate_live_cost_load_{mix}"] = round(
                max(load_before, os.getloadavg()[0]), 2
            )
        summary |= {
            "plate_live_cost_date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "plate_live_cost_machine": machine_description() + " (shared)",
            "plate_live_cost_settings": (
                f"sub 640x360, detect_fps={settings.detect_fps:g},"
                f" motion_regions={settings.motion_regions}, {args.footage_s:g} s per run,"
                f" {args.rounds} off/on pairs, plate_recogniser={settings.plate_recogniser}"
            ),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    merge_results(args.out, summary)
    print(json.dumps({k: v for k, v in summary.items() if "runs" not in k}, indent=1))


if __name__ == "__main__":
    main()
