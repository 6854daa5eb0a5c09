"""Benchmark (issue #14): plates read from the sub stream vs from the recorded main stream.

Footage: the vehicle-heavy clip of sample_streams/plate_traffic.py (vehicles with composited
plates — labels by construction — crossing a real scene one after another, main 1080p + sub
640×360 from the same rendered frames). The main file is cut into segments by the real
`SegmentRecorder` (packets remuxed as ingest does, `--segment-s`). Three live-analysis modes run
interleaved over the same sub-stream frames (`bench.plates_live_cost.sub_frames`: decoded,
sampled at detect fps, motion-gated as ingest does), each through the real `AnalysisWorker`
(pipeline detector, embedder, the default `PlateReader`):

- `off`: no plate reading — the baseline analysis path;
- `sub`: plates read on the sub-stream crops (the previous live path);
- `main`: no plate read in the analysis (a "main" camera's track builder only hands its views
  on); the tracks' `plate_views` are then read on the recorded segments by the real deferred
  queue (index/main_plates.py `MainStreamPlates.process_ready`: decode, refine, read, vote,
  store the plate in a SQLite catalog, watchlist check with every true plate watched), whose CPU
  is added;
- `main-deblur-off` / `main-deblur-always` / `main-deblur-line` (`--modes`): as `main`, the
  queue's reader with the deblurring second look off, after every unsure first look, or only
  after a first look that found a plate-like line (`PlateSearch.deblur_needs_line`).

Figures: process CPU per camera-second of each mode (medians), the added share
(mode − off) / mode (the live capacity lost), the exact-read rate and character accuracy per
vehicle (its longest track whose best box overlaps the vehicle), the watchlist hits, the time
from a read's start to its committed hit, and the modelled best-view → alert delay:
max(track end + tracker max age, close of the last view's segment) − best view + the measured
read-to-commit time (+ the events channel's own 0.06-0.53 s, bench/watchlist_alert.py).

Run: `flock /tmp/skynet-bench.lock .venv/bin/python -m bench.plates_main_stream`; merges its
`plate_main_*` keys into bench/results/plates.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np

from bench.live import CACHE_DIR, MODELS_DIR, machine_description
from bench.plates_live_cost import EPOCH, merge_results, sub_frames
from detect.detector import Detector
from detect.embedder import AppearanceEmbedder
from detect.plate_locator import PlateSearch
from detect.plate_match import parse_plate_pattern
from detect.plate_reader import PlateReader
from detect.plate_values import PLATE_VEHICLES
from detect.plate_views import PlateSource
from detect.track_record import TrackRecord
from detect.worker import AnalysisWorker
from index.catalog import create_case, plates_by_track_ids, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.values import CameraSpec
from index.catalog.watchlists import add_plate_entry, create_watchlist, list_hits
from index.main_plates import MainStreamPlates
from index.track_indexer import TrackIndexer
from index.vectors import VectorIndex
from ingest.frame import Frame
from ingest.frame_queue import LatestFrames
from ingest.recorder import SegmentRecorder
from ingest.segment import Segment
from sample_streams.footage import build_cameras
from sample_streams.plate_traffic import TrafficClip, build_traffic_clip
from skynet.runtime import camera_analysis, motion_region_settings, pipeline_detector
from skynet.settings import Settings
from storage.local import LocalObjectStore

RESULTS_PATH = Path(__file__).resolve().parents[1] / "bench" / "results" / "plates.json"
CAMERA_ID = "plates-live-cost"  # the id bench.plates_live_cost.sub_frames gives its frames
BATCH = 4
Mode = str  # "off" | "sub" | "main" | a `MAIN_SEARCHES` name
MODES: tuple[Mode, ...] = ("off", "sub", "main")
# main-stream modes whose queue reads with another search than the default reader's
MAIN_SEARCHES: dict[Mode, PlateSearch] = {
    "main-deblur-off": PlateSearch(deblur=False),
    "main-deblur-always": PlateSearch(deblur=True, deblur_needs_line=False),
    "main-deblur-line": PlateSearch(deblur=True, deblur_needs_line=True),
}


def cut_segments(main_path: Path, out_dir: Path, segment_s: float) -> list[tuple[Path, Segment]]:
    """The main file remuxed into segments by the real recorder, wall time = EPOCH + PTS."""
    closed: list[tuple[Path, Segment]] = []
    with av.open(str(main_path)) as container:
        stream = container.streams.video[0]
        recorder = SegmentRecorder(
            CAMERA_ID, stream, out_dir, segment_s, lambda p, s: closed.append((p, s))
        )
        for packet in container.demux(stream):
            if packet.pts is None or packet.dts is None:
                continue
            assert packet.time_base is not None
            recorder.write(packet, EPOCH + timedelta(seconds=float(packet.pts * packet.time_base)))
        recorder.close()
    return closed


@dataclass
class ModeRun:
    """One pass of one mode: CPU of the analysis path and of the deferred main reads."""

    mode: Mode
    footage_s: float
    analysis_cpu_s: float
    main_cpu_s: float = 0.0
    records: list[TrackRecord] = field(default_factory=list)
    plates: dict[int, str] = field(default_factory=dict)  # local track id -> stored text
    main_stats: dict[str, object] = field(default_factory=dict)
    hits: int = 0

    @property
    def cpu_ms_per_camera_second(self) -> float:
        return (self.analysis_cpu_s + self.main_cpu_s) * 1000 / self.footage_s


def analyse(
    frames: list[Frame], settings: Settings,
    parts: tuple[Detector, AppearanceEmbedder, PlateReader], mode: Mode,
) -> tuple[list[TrackRecord], float]:  # fmt: skip
    """The live analysis path over the frames (every track finalised); its process CPU."""
    detector, embedder, reader = parts
    records: list[TrackRecord] = []
    cpu0 = time.process_time()
    worker = AnalysisWorker(
        LatestFrames(8), detector, embedder, records.extend, batch_size=BATCH,
        track_max_age_s=settings.track_max_age_s,
        plate_reader=None if mode == "off" else reader,
        motion_regions=motion_region_settings(settings),
    )  # fmt: skip
    spec = CameraSpec(CAMERA_ID, CAMERA_ID, "rtsp://unused/main", "rtsp://unused/sub")
    source: PlateSource = "main" if mode.startswith("main") else "sub"
    worker.configure_camera(CAMERA_ID, camera_analysis(spec, (), settings.motion_regions, source))
    for start in range(0, len(frames), BATCH):
        worker.process(frames[start : start + BATCH])
    worker.end_camera(CAMERA_ID)
    return records, time.process_time() - cpu0


def read_main(
    records: list[TrackRecord], segments: list[tuple[Path, Segment]], reader: PlateReader,
    embedder: AppearanceEmbedder, clip: TrafficClip, root: Path,
) -> tuple[float, dict[int, str], dict[str, object], int]:  # fmt: skip
    """Index the tracks (not timed), then run the deferred main-stream queue once every
    segment is closed: (its process CPU, stored plate per local track id, its stats, hits)."""
    sessions = session_factory(init_catalog(f"sqlite:///{root / 'catalog.db'}"))
    store = LocalObjectStore(root / "objects", "http://127.0.0.1/objects", b"k" * 32)
    with sessions() as session:
        upsert_camera(session, CameraSpec(CAMERA_ID, "bench", "rtsp://10.0.0.5/main"))
        case_id = create_case(session, "bench", "bench")
        expires = datetime.now(UTC) + timedelta(days=1)
        watchlist = create_watchlist(session, "bench", case_id, "bench", expires, "bench")
        for vehicle in clip.vehicles:
            add_plate_entry(session, watchlist.id, parse_plate_pattern(vehicle.text, "exact"))
        session.commit()
    indexer = TrackIndexer(
        sessions, store, VectorIndex(embedder.dim, embedder.embedding_version), root / "vectors"
    )
    ids = indexer.index(records)
    queue = MainStreamPlates(sessions, store, indexer.pictures, reader, max_wait_s=1e9)
    for path, segment in segments:
        queue.segment_closed(path, segment)
    queue.submit(ids, records)
    cpu0 = time.process_time()
    queue.process_ready()
    cpu_s = time.process_time() - cpu0
    with sessions() as session:
        stored = plates_by_track_ids(session, ids)
        hits = len(list_hits(session, watchlist.id, limit=1000))
    plates = {
        r.local_track_id: stored[i].text for i, r in zip(ids, records, strict=True) if i in stored
    }
    stats = queue.stats
    summary: dict[str, object] = {
        "submitted": stats.submitted, "stored": stats.stored, "changed": stats.changed,
        "reads": stats.reads, "illegible_views": stats.illegible_views,
        "read_in_vain_before": stats.read_in_vain_before, "sub_reads": stats.sub_reads,
        "sub_stored": stats.sub_stored,
        "fallbacks": dict(stats.fallbacks), "read_to_commit_s": stats.read_to_commit_s,
    }  # fmt: skip
    return cpu_s, plates, summary, hits


def levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def vehicle_tracks(records: list[TrackRecord], clip: TrafficClip) -> dict[int, TrackRecord]:
    """Vehicle index -> its longest vehicle track whose best box (mapped to 1080p) overlaps
    the vehicle's true box at the best shot (IoU ≥ 0.3)."""
    found: dict[int, TrackRecord] = {}
    for record in records:
        if record.class_name not in PLATE_VEHICLES or record.frame_size_px is None:
            continue
        t_s = (record.best_shot_at - EPOCH).total_seconds()
        vehicle = clip.vehicle_at(t_s)
        truth = None if vehicle is None else vehicle.box_at(t_s)
        if vehicle is None or truth is None:
            continue
        scale = 1920 / record.frame_size_px[0]
        box = [v * scale for v in record.best_box]
        if _iou(box, truth) < 0.3:
            continue
        held = found.get(vehicle.index)
        span = (record.end_at - record.start_at).total_seconds()
        if held is None or span > (held.end_at - held.start_at).total_seconds():
            found[vehicle.index] = record
    return found


def quality(texts: dict[int, str | None], clip: TrafficClip) -> dict[str, object]:
    """Exact-read rate and mean character accuracy over every vehicle of the clip (a vehicle
    without a track or a read counts as wrong, accuracy 0)."""
    exact, accuracy = 0, 0.0
    for vehicle in clip.vehicles:
        text = texts.get(vehicle.index)
        if text is None:
            continue
        exact += text == vehicle.text
        accuracy += max(0.0, 1 - levenshtein(text, vehicle.text) / len(vehicle.text))
    n = len(clip.vehicles)
    return {"vehicles": n, "exact": round(exact / n, 3), "exact_count": exact,
            "char_acc": round(accuracy / n, 3)}  # fmt: skip


def alert_delays(
    records: list[TrackRecord], segments: list[tuple[Path, Segment]], read_s: float,
    max_age_s: float, plated: set[int],
) -> list[float]:  # fmt: skip
    """Modelled best view -> committed hit (s) of each track whose main read stored a plate."""
    delays = []
    for record in records:
        if record.local_track_id not in plated or not record.plate_views:
            continue
        last_view = max(v.at for v in record.plate_views)
        closes = [s.end_at for _, s in segments if s.start_at <= last_view < s.end_at]
        if not closes:
            continue
        ready = max(record.end_at + timedelta(seconds=max_age_s), closes[0])
        delays.append(round((ready - record.best_shot_at).total_seconds() + read_s, 3))
    return delays


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="off/sub/main triples")
    parser.add_argument("--segment-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    parser.add_argument(
        "--footage", choices=["traffic", "busy", "typical"], default="traffic",
        help="the traffic clip, or a bundled sample camera (no plate truth: cost only)",
    )  # fmt: skip
    parser.add_argument("--footage-s", type=float, default=80.0, help="of a sample camera")
    parser.add_argument(
        "--modes", default=",".join(MODES),
        help=f"comma-separated, interleaved per round: {', '.join([*MODES, *MAIN_SEARCHES])}",
    )  # fmt: skip
    args = parser.parse_args(argv)
    modes = tuple(args.modes.split(","))
    if not set(MODES) <= set(modes) or not set(modes) <= {*MODES, *MAIN_SEARCHES}:
        raise SystemExit(f"--modes must hold {MODES} and may add {tuple(MAIN_SEARCHES)}")
    cv2.setNumThreads(1)  # as Runtime.build
    if args.footage == "traffic":
        clip = build_traffic_clip(CACHE_DIR, args.vehicles)
    else:
        camera = build_cameras(1, args.footage, CACHE_DIR)[0]
        clip = TrafficClip(camera.main_path, camera.sub_path, args.footage_s, ())
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-plates-main-") as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "data", models_dir=MODELS_DIR)
        detector = pipeline_detector(settings)
        embedder = AppearanceEmbedder.from_settings(settings)
        reader = PlateReader.from_model_cache(
            settings.models_dir, settings.plate_recogniser, settings.plate_locator
        )
        blank = np.zeros((360, 640, 3), np.uint8)
        detector.detect([blank] * BATCH)
        embedder.embed([blank[:128, :64]] * BATCH, ["car"] * BATCH)
        reader.sight(blank[:120, :200], EPOCH)
        readers = {m: reader for m in modes} | {
            m: PlateReader.from_model_cache(
                settings.models_dir, settings.plate_recogniser, settings.plate_locator, search
            )
            for m, search in MAIN_SEARCHES.items()
            if m in modes
        }
        segments = cut_segments(clip.main_path, root / "segments", args.segment_s)
        runs: list[ModeRun] = []
        for round_index in range(args.rounds):
            for mode in modes:
                frames = sub_frames(clip.sub_path, settings.detect_fps, clip.duration_s)
                records, cpu_s = analyse(frames, settings, (detector, embedder, reader), mode)
                run = ModeRun(mode, clip.duration_s, cpu_s, records=records)
                run.plates = {r.local_track_id: r.plate.text for r in records if r.plate}
                if mode.startswith("main"):
                    work = root / f"{mode}-{round_index}"
                    work.mkdir()
                    run.main_cpu_s, run.plates, run.main_stats, run.hits = read_main(
                        records, segments, readers[mode], embedder, clip, work
                    )
                runs.append(run)
                print(json.dumps({
                    "mode": mode, "ms": round(run.cpu_ms_per_camera_second, 1),
                    "analysis_s": round(cpu_s, 2), "main_s": round(run.main_cpu_s, 2),
                    "tracks": len(records), "plates": len(run.plates), "hits": run.hits,
                }), flush=True)  # fmt: skip
        load_after = os.getloadavg()[0]
    summary = summarise(runs, clip, segments, settings.track_max_age_s, args.segment_s, modes)
    summary["plate_main_load"] = round(max(load_before, load_after), 2)
    summary["plate_main_machine"] = machine_description() + " (shared)"
    summary["plate_main_date"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if args.footage != "traffic":  # the sample cameras: cost keys only, under their mix
        summary = {
            k.replace("plate_main_", f"plate_main_{args.footage}_", 1): v
            for k, v in summary.items()
            if "cpu" in k or "share" in k or k.endswith(("_load", "_date", "_stats", "_settings"))
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    merge_results(args.out, summary)
    print(json.dumps(summary, indent=1, ensure_ascii=False))


def summarise(
    runs: list[ModeRun], clip: TrafficClip, segments: list[tuple[Path, Segment]],
    max_age_s: float, segment_s: float, modes: Sequence[Mode] = MODES,
) -> dict[str, object]:  # fmt: skip
    """The `plate_main_*` keys (a `MAIN_SEARCHES` mode's under `plate_main_<mode>_`)."""
    ms = {m: statistics.median(r.cpu_ms_per_camera_second for r in runs if r.mode == m)
          for m in modes}  # fmt: skip
    last = {r.mode: r for r in runs}
    out: dict[str, object] = {
        f"plate_main_cpu_ms_per_camera_second_{m}": round(ms[m], 1) for m in modes
    }
    out["plate_main_cost_share_sub"] = round((ms["sub"] - ms["off"]) / ms["sub"], 4)
    out["plate_main_cost_share_main"] = round((ms["main"] - ms["off"]) / ms["main"], 4)
    main_modes = [m for m in modes if m.startswith("main")]
    for mode in main_modes:
        main_runs = [r for r in runs if r.mode == mode]
        read_ms = statistics.median(r.main_cpu_s * 1000 / r.footage_s for r in main_runs)
        prefix = "plate_main" if mode == "main" else f"plate_main_{mode.replace('-', '_')}"
        out[f"{prefix}_read_cpu_ms_per_camera_second"] = round(read_ms, 1)
        out[f"{prefix}_read_share_of_off"] = round(read_ms / ms["off"], 4)
        if mode != "main":
            out[f"{prefix}_stats"] = last[mode].main_stats
    for mode in ("sub", *main_modes) if clip.vehicles else ():
        tracks = vehicle_tracks(last[mode].records, clip)
        texts = {i: last[mode].plates.get(r.local_track_id) for i, r in tracks.items()}
        name = mode.replace("-", "_")
        for key, value in quality(texts, clip).items():
            out[f"plate_main_{name}_{key}"] = value
        out[f"plate_main_{name}_reads"] = {clip.vehicles[i].text: texts[i] for i in sorted(texts)}
    stats = last["main"].main_stats
    read_s = list(stats.get("read_to_commit_s", []))  # type: ignore[call-overload]
    out["plate_main_stats"] = stats
    out["plate_main_hits"] = last["main"].hits
    out["plate_main_read_to_commit_s_p50"] = round(statistics.median(read_s), 3) if read_s else None
    out["plate_main_read_to_commit_s_max"] = round(max(read_s), 3) if read_s else None
    plated = set(last["main"].plates)
    delays = alert_delays(
        last["main"].records,
        segments,
        statistics.median(read_s) if read_s else 0.0,
        max_age_s,
        plated,
    )
    if delays:
        out["plate_main_best_view_to_alert_s_p50"] = round(statistics.median(delays), 2)
        out["plate_main_best_view_to_alert_s_max"] = round(max(delays), 2)
    vehicles_per_min = len(clip.vehicles) / clip.duration_s * 60  # 0: a sample camera
    out["plate_main_settings"] = (
        f"clip {clip.duration_s:g} s, {len(clip.vehicles)} vehicles ({vehicles_per_min:.1f}/min),"
        f" segments {segment_s:g} s, rounds {len([r for r in runs if r.mode == 'off'])}"
    )
    return out


if __name__ == "__main__":
    main()
