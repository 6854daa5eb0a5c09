"""Benchmark: re-indexed tracks across segment boundaries (issue #15), before and after, in one
run: "cut" (every unit's tracks end at its segment's end, as before) against "joined" (warm-up
on the previous segment's tail, look-ahead into the following ones: index/reindex_boundaries.py),
on the footage of bench/reindex.py (the sample cameras' 1080p main streams, busy and typical,
cut into `--segment-s` segments by the live recorder), and the live path's tracks on the same
footage (its 640×360 sub stream, 5 fps, motion gate, the same tracker: bench/reindex_live.py).

Measured per mix (flat keys merged into bench/results/reindex.json):
- `tracks_per_footage_minute_<mix>_{cut,joined,live}`, `mean_track_duration_s_<mix>_…`;
- `boundary_split_tracks_<mix>_{cut,joined}`: a track of one unit ending within 0.5 s of its
  segment's end whose object a track of the next unit picks up within 1 s of the cut (centres
  within 0.75 box heights) — one object counted twice; "joined" keeps only those at hand-over
  segments (one a minute) and the tracker's own losses;
- `boundary_double_tracks_<mix>_{cut,joined}`: two units' tracks holding the same detection in
  one frame — the ownership rule failing; should be 0;
- cost: `boundary_cpu_ms_per_footage_second_<mix>_{cut,joined}` (this process's CPU over the
  job, models loaded before), `boundary_cpu_ratio_<mix>` = joined / cut, the frames analysed in
  the warm-up and the look-ahead per own frame, and the wall realtime factor of each.

Run: `flock /tmp/skynet-bench.lock .venv/bin/python -m bench.reindex_boundaries` (≈ 2-3 min at
the default 160 s per camera on a quiet machine; on a loaded one, one `--mix` per run).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2

from bench.live import machine_description
from bench.reindex import (
    CACHE_DIR,
    MIXES,
    RESULTS_PATH,
    catalogue,
    queue,
    recorded_footage,
    settings_for,
    timed_job,
)
from bench.reindex_live import measure_live_cost
from index.catalog.engine import init_catalog, session_factory
from index.catalog.reindex_units import UnitRecord, job_units
from index.catalog.tracks import matching_track_ids, tracks_by_ids
from index.catalog.values import TrackQuery
from index.index_versions import IndexVersions
from index.reindex_boundaries import BoundarySettings
from index.reindex_jobs import ReindexRunner
from index.reindex_units import UNIT_TRACK_ID_SPAN, AnalysisSettings, UnitContext
from ingest.segment import Segment
from models.build import ensure_models
from sample_streams.footage import Mix, build_variant
from skynet.object_store import open_object_store
from skynet.runtime import pipeline_detector
from skynet.settings import Settings
from tests.index.reindex_support import CountingExecutor

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class JobTrack:
    """A stored track of the measured job: owner unit, class, span and boxes by wall time."""

    unit_id: int
    class_name: str
    start_at: datetime
    end_at: datetime
    boxes: tuple[tuple[datetime, Box], ...]

    @property
    def duration_s(self) -> float:
        return (self.end_at - self.start_at).total_seconds()


def job_tracks(settings: Settings, job_id: str) -> tuple[list[JobTrack], list[UnitRecord]]:
    """The job's stored tracks and its units (in recording order)."""
    sessions = session_factory(init_catalog(settings.catalog_url))
    with sessions() as session:
        units = job_units(session, job_id)
        camera_ids = tuple(sorted({u.camera_id for u in units}))
        stored = tracks_by_ids(session, matching_track_ids(session, TrackQuery(camera_ids)))
    tracks = [
        JobTrack(
            -t.local_track_id // UNIT_TRACK_ID_SPAN, t.class_name, t.start_at, t.end_at,
            tuple(
                (t.start_at + timedelta(seconds=p[0]), (p[1], p[2], p[3], p[4]))
                for p in t.trajectory
            ),
        )
        for t in stored
    ]  # fmt: skip
    return tracks, units


def _centre_gap(a: Box, b: Box) -> float:
    return float(((a[0] + a[2] - b[0] - b[2]) ** 2 + (a[1] + a[3] - b[1] - b[3]) ** 2) ** 0.5 / 2)


def _iou(a: Box, b: Box) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter = width * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def split_tracks(tracks: list[JobTrack], units: list[UnitRecord]) -> int:
    """Objects a track of one unit hands to a track of the next at their cut (see above)."""
    order = {u.unit_id: i for i, u in enumerate(units)}
    ends = {u.unit_id: u.end_at for u in units}
    splits = 0
    for a in tracks:
        nxt = units[order[a.unit_id] + 1] if order[a.unit_id] + 1 < len(units) else None
        cut = ends[a.unit_id]
        if nxt is None or a.end_at < cut - timedelta(seconds=0.5) or not a.boxes:
            continue
        last = a.boxes[-1][1]
        for b in tracks:
            if b.unit_id != nxt.unit_id or b.class_name != a.class_name or not b.boxes:
                continue
            if b.start_at <= nxt.start_at + timedelta(seconds=1.0) and _centre_gap(
                last, b.boxes[0][1]
            ) <= 0.75 * (last[3] - last[1]):
                splits += 1
                break
    return splits


def double_tracks(tracks: list[JobTrack]) -> int:
    """Pairs of tracks of two units holding the same detection in one frame (IoU ≥ 0.95: the
    detector's NMS leaves no two boxes above 0.6)."""
    doubles = 0
    for a in tracks:
        boxes = {round(t.timestamp(), 2): box for t, box in a.boxes}
        for b in tracks:
            if b.unit_id <= a.unit_id or b.class_name != a.class_name:
                continue
            if b.start_at > a.end_at or b.end_at < a.start_at:
                continue
            same_frame = ((boxes.get(round(t.timestamp(), 2)), box) for t, box in b.boxes)
            doubles += any(
                mine is not None and _iou(mine, theirs) >= 0.95 for mine, theirs in same_frame
            )
    return doubles


def run_mode(
    settings: Settings, mix: Mix, mode: str, analysis: AnalysisSettings,
    recorded: list[tuple[Path, Segment]], footage_s: float, threads: int,
) -> dict[str, float]:  # fmt: skip
    """One job over a fresh camera holding the mix's footage, analysed with `analysis`."""
    camera_id = f"{mix}-{mode}"
    span = catalogue(settings, camera_id, recorded, footage_s)
    sessions = session_factory(init_catalog(settings.catalog_url))
    context = UnitContext(sessions, open_object_store(settings), settings.models_dir, analysis)
    context.models(settings.detector_model, settings.embedder_model)  # loaded before timing
    executor = CountingExecutor(context, threads=threads)
    versions = IndexVersions(sessions, settings.vectors_dir)
    runner = ReindexRunner(sessions, executor, context, versions, poll_s=0.05)
    job_id = queue(settings, camera_id, span)
    wall_s, cpu_s, _result = timed_job(runner, job_id)
    tracks, units = job_tracks(settings, job_id)
    footage = (span[1] - span[0]).total_seconds()
    own = sum(r.analysed_frames for r in executor.results) or 1
    key = f"{mix}_{mode}"
    return {
        f"tracks_per_footage_minute_{key}": round(len(tracks) * 60 / footage, 2),
        f"mean_track_duration_s_{key}": round(
            sum(t.duration_s for t in tracks) / max(len(tracks), 1), 2
        ),
        f"boundary_split_tracks_{key}": split_tracks(tracks, units),
        f"boundary_double_tracks_{key}": double_tracks(tracks),
        f"boundary_cpu_ms_per_footage_second_{key}": round(cpu_s * 1000 / footage, 1),
        f"boundary_realtime_factor_{key}": round(footage / wall_s, 1),
        f"boundary_warmup_frames_per_own_frame_{key}": round(
            sum(r.warmup_frames for r in executor.results) / own, 3
        ),
        f"boundary_lookahead_frames_per_own_frame_{key}": round(
            sum(r.lookahead_frames for r in executor.results) / own, 3
        ),
        f"boundary_units_{key}": len(units),
        f"boundary_tracks_{key}": len(tracks),
    }


def live_tracks(settings: Settings, mix: Mix, footage_s: float) -> dict[str, float]:
    """The live path's tracks over the same footage (its sub stream, from the start)."""
    sub_path = build_variant(mix, CACHE_DIR).sub_path
    cost = measure_live_cost(sub_path, pipeline_detector(settings), settings.detect_fps, footage_s)
    spans = cost.track_spans_s
    return {
        f"tracks_per_footage_minute_{mix}_live": round(len(spans) * 60 / footage_s, 2),
        f"mean_track_duration_s_{mix}_live": round(
            sum(last - first for first, last in spans) / max(len(spans), 1), 2
        ),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage-s", type=float, default=160.0, help="per camera and mode")
    parser.add_argument("--segment-s", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2, help="in-process units at once")
    parser.add_argument("--mix", choices=MIXES, action="append", help="default: both")
    parser.add_argument(
        "--handover-s", type=float, default=BoundarySettings().handover_period_s,
        help="hand-over period of the joined mode (not the default: keys say joined<s>)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    started, load_at_start = time.perf_counter(), os.getloadavg()[0]
    boundaries = BoundarySettings(handover_period_s=args.handover_s)
    joined = AnalysisSettings(boundaries=boundaries)
    name = "joined" if boundaries == BoundarySettings() else f"joined{args.handover_s:g}"
    modes = {"cut": AnalysisSettings(boundaries=None), name: joined}
    summary: dict[str, object] = {
        "boundary_date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "boundary_machine": machine_description() + " (shared with other agents' work)",
        "boundary_footage_s_per_camera": args.footage_s,
        "boundary_segment_s": args.segment_s,
        "boundary_warmup_s": boundaries.warmup_s,
        "boundary_handover_period_s" + name[6:]: boundaries.handover_period_s,
    }
    with tempfile.TemporaryDirectory(prefix="bench-boundaries-") as tmp:
        work = Path(tmp)
        settings = settings_for(work / "data", args.threads)
        ensure_models(settings.models_dir, [settings.detector_model, settings.embedder_model])
        for mix in args.mix or MIXES:
            recorded = recorded_footage(mix, work, args.segment_s)
            for mode, analysis in modes.items():
                figures = run_mode(
                    settings, mix, mode, analysis, recorded, args.footage_s, args.threads
                )
                print(json.dumps(figures), flush=True)
                summary |= figures
            cut = float(summary[f"boundary_cpu_ms_per_footage_second_{mix}_cut"])  # type: ignore[arg-type]
            after = float(summary[f"boundary_cpu_ms_per_footage_second_{mix}_{name}"])  # type: ignore[arg-type]
            summary[f"boundary_cpu_ratio_{mix}{name[6:]}"] = round(after / cut, 2)
            if name == "joined":  # a variant run leaves the live figures as they are
                summary |= live_tracks(settings, mix, args.footage_s)
    summary["boundary_load_avg_1m_start_end"] = [
        round(load_at_start, 2), round(os.getloadavg()[0], 2)
    ]  # fmt: skip
    summary["boundary_bench_wall_s"] = round(time.perf_counter() - started, 1)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    args.out.write_text(json.dumps(previous | summary, indent=1, sort_keys=True) + "\n")
    print(json.dumps(summary, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
