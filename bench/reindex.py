"""Benchmark: re-indexing recorded 1080p footage (issue #15) against the live path's cost,
measured in the same run.

Footage: the sample cameras' 1080p main streams (sample_streams: vtest.avi pillarboxed to
1920×1080, H.264, 25 fps, a keyframe every 2 s) — "busy" (people walking all the time) and
"typical" (an empty scene three quarters of the time, then people) — cut into segments by the
live recorder and catalogued as recordings; `--footage-s` per camera (the 80 s files repeat).

Measured (flat keys in bench/results/reindex.json):
- live path, one thread: decode the 640×360 sub stream, 5 fps samples, motion gate, detector,
  tracker (bench/reindex_live.py) → `live_cpu_ms_per_footage_second_<mix>`;
- archive path in-process (the real `ReindexRunner` job, `--threads` units at once) →
  `realtime_factor_<mix>` = footage seconds / wall seconds, and its CPU per footage-second;
- the same job code on a local Ray cluster (head + 2 one-CPU worker nodes, started here) →
  `realtime_factor_ray_local` over the typical footage (actor start-up included);
- person recall on the labelled vtest frames, live (sub stream) vs archive (main stream scaled)
  → `recall_delta` = live − archive, with a paired bootstrap interval;
- resume: a typical-camera job run in a child process is SIGKILLed mid-job, paused and resumed
  by this process → `resume_lost_segments`, `resume_doubled_segments` against the
  uninterrupted run of the same segments (tracks per segment);
- search p95 of `POST /search/track/{id}` over HTTP, idle and while a job runs in the same
  process at the product's default `SKYNET_REINDEX_THREADS` → `search_p95_ms_idle`,
  `search_p95_ms_during_job`.

Run: `flock /tmp/skynet-bench.lock .venv/bin/python -m bench.reindex` (≈ 3-4 min at the
default 240 s per camera on a shared machine); `--help` for options.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import cv2
import faiss
import httpx
import numpy as np
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from bench.live import machine_description
from bench.reindex_live import LabelledFrames, compare_recall, measure_live_cost, path_hits
from detect.embedder import AppearanceEmbedder
from index.catalog import add_segment, create_api_key, create_case, get_job, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.reindex import pause_job, resume_job
from index.catalog.reindex_units import job_units
from index.catalog.tracks import matching_track_ids, tracks_by_ids
from index.catalog.values import CameraSpec, TrackQuery
from index.index_versions import IndexVersions
from index.reindex_jobs import ReindexRequest, ReindexRunner, start_reindex
from index.reindex_units import UNIT_TRACK_ID_SPAN, Executor, UnitContext
from index.track_indexer import open_vector_index
from ingest.segment import Segment, segment_key
from models.build import ensure_models
from models.registry import model_path
from sample_streams.footage import Mix, build_variant
from search_api.app import create_app
from search_api.context import ApiContext
from search_api.limits import ApiLimits
from skynet.demo import free_port
from skynet.executors import reindex_executor
from skynet.object_store import open_object_store
from skynet.reindex_service import analysis_settings
from skynet.runtime import pipeline_detector, query_detector
from skynet.settings import Settings
from tests.index.reindex_support import record_segments

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "reindex.json"
CACHE_DIR = REPO_ROOT / "var" / "sample_streams"
MODELS_DIR = REPO_ROOT / "var" / "models"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
MIXES: tuple[Mix, ...] = ("busy", "typical")
TARGET_REALTIME_FACTOR = 60.0
TARGET_RECALL_DELTA = 0.02
SEARCH_QUERIES_IDLE = 100


def settings_for(data_dir: Path, threads: int, ray_address: str = "") -> Settings:
    return Settings(
        data_dir=data_dir, models_dir=MODELS_DIR.resolve(), reindex_threads=threads,
        ray_address=ray_address, ray_batch_units=2,
    )  # fmt: skip


def recorded_footage(mix: Mix, work: Path, segment_s: float) -> list[tuple[Path, Segment]]:
    """The mix's whole 1080p main file cut into `segment_s` segments by the live recorder."""
    main = build_variant(mix, CACHE_DIR).main_path
    spool = work / f"recorded-{mix}"
    spool.mkdir(parents=True, exist_ok=True)
    return record_segments(main, spool, mix, float("inf"), segment_s)


def catalogue(
    settings: Settings, camera_id: str, recorded: list[tuple[Path, Segment]], footage_s: float
) -> tuple[datetime, datetime]:
    """Store and catalogue `footage_s` of `recorded` (repeated) as `camera_id`'s recordings
    from T0; the time range they cover."""
    sessions = session_factory(init_catalog(settings.catalog_url))
    store = open_object_store(settings)
    at = T0
    with sessions() as session:
        upsert_camera(session, CameraSpec(camera_id, camera_id, f"rtsp://10.0.0.9/{camera_id}"))
        index = 0
        while (at - T0).total_seconds() < footage_s - 0.5:
            path, cut = recorded[index % len(recorded)]
            segment = Segment(
                camera_id, at, at + (cut.end_at - cut.start_at), segment_key(camera_id, at),
                cut.sha256, cut.size_bytes,
            )  # fmt: skip
            store.put_file(segment.object_key, path, "video/mp4")
            add_segment(session, segment)
            at, index = segment.end_at, index + 1
        session.commit()
    return T0, at


def make_runner(settings: Settings, executor: Executor | None = None) -> ReindexRunner:
    sessions = session_factory(init_catalog(settings.catalog_url))
    analysis = analysis_settings(settings)  # as the service builds it (SKYNET_REINDEX_*)
    context = UnitContext(sessions, open_object_store(settings), settings.models_dir, analysis)
    executor = executor or reindex_executor(settings, context, settings.reindex_threads)
    versions = IndexVersions(sessions, settings.vectors_dir)
    return ReindexRunner(sessions, executor, context, versions, poll_s=0.05)


def queue(settings: Settings, camera_id: str, span: tuple[datetime, datetime]) -> str:
    request = ReindexRequest(
        (camera_id,), span[0], span[1], settings.detector_model, settings.embedder_model
    )
    sessions = session_factory(init_catalog(settings.catalog_url))
    with sessions() as session:
        job_id = start_reindex(session, request, "bench")
        session.commit()
    return job_id


def timed_job(runner: ReindexRunner, job_id: str) -> tuple[float, float, dict[str, object]]:
    """Run the queued job to its end: (wall s, this process's CPU s, the job's result)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if not runner.run_next():
        raise RuntimeError(f"job {job_id} was not claimable")
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    with runner.context.sessions() as session:
        job = get_job(session, job_id)
    if job is None or job.state != "succeeded":
        raise RuntimeError(f"job {job_id} did not succeed: {job}")
    return wall_s, cpu_s, dict(job.result or {})


def tracks_per_segment(sessions: sessionmaker[Session], job_id: str) -> list[int]:
    """Tracks stored for each of the job's units, in recording order."""
    with sessions() as session:
        units = job_units(session, job_id)
        camera_ids = tuple(sorted({u.camera_id for u in units}))
        tracks = tracks_by_ids(session, matching_track_ids(session, TrackQuery(camera_ids)))
    per_unit = Counter(-t.local_track_id // UNIT_TRACK_ID_SPAN for t in tracks)
    return [per_unit.get(u.unit_id, 0) for u in units]


def resume_after_kill(settings: Settings, span: tuple[datetime, datetime], camera_id: str) -> str:
    """Run a job in a child process, SIGKILL it once a third of the units are done, then pause
    and resume the job (it holds no live runner) and finish it here; the job id."""
    job_id = queue(settings, camera_id, span)
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.reindex", "--run-job", job_id,
         "--data-dir", str(settings.data_dir), "--threads", str(settings.reindex_threads)],
        cwd=REPO_ROOT,
    )  # fmt: skip
    sessions = session_factory(init_catalog(settings.catalog_url))
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and child.poll() is None:
            with sessions() as session:
                units = job_units(session, job_id)
            if units and sum(u.state == "done" for u in units) >= len(units) / 3:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the child job ended or stalled before a third of it was done")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with sessions() as session:
        if not (pause_job(session, job_id) and resume_job(session, job_id)):
            raise RuntimeError(f"job {job_id} could not be paused and resumed")
        session.commit()
    timed_job(make_runner(settings), job_id)
    return job_id


def serve_search(settings: Settings, version: str, dim: int) -> tuple[uvicorn.Server, str, dict]:
    """The API over the bench catalog on a free port: (server, base URL, request template)."""
    sessions = session_factory(init_catalog(settings.catalog_url))
    with sessions() as session:
        key = create_api_key(session, "bench", "investigator")
        case_id = create_case(session, "re-index bench", "bench")
        session.commit()
    context = ApiContext(
        sessions, open_object_store(settings),
        open_vector_index(sessions, settings.vectors_dir, version, dim), query_detector(settings),
        AppearanceEmbedder(model_path(settings.embedder_model, settings.models_dir)),
        limits=ApiLimits(rate_limit_per_minute=0),  # one client asks as fast as it can
    )  # fmt: skip
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(context), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    body = {"top_k": 20, "case_id": case_id, "purpose": "benchmark"}
    return server, f"http://127.0.0.1:{port}", {"headers": {"X-API-Key": key}, "body": body}


def search_latencies(
    base_url: str, request: dict, track_ids: Sequence[int], stop: threading.Event | None, count: int
) -> list[float]:
    """Seconds per `POST /search/track/{id}`: `count` queries, or until `stop` is set."""
    rng = np.random.default_rng(3)
    timings: list[float] = []
    with httpx.Client(base_url=base_url, headers=request["headers"], timeout=60) as client:
        while (stop is None and len(timings) < count) or (stop is not None and not stop.is_set()):
            track_id = int(track_ids[int(rng.integers(len(track_ids)))])
            started = time.perf_counter()
            response = client.post(f"/api/v1/search/track/{track_id}", json=request["body"])
            timings.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"search failed: {response.status_code} {response.text[:300]}")
    return timings


def p95_ms(timings: Sequence[float]) -> float:
    return round(float(np.percentile(np.array(timings) * 1000, 95)), 1)


def measure_live(settings: Settings, live_s: float) -> dict[str, float]:
    """The live path's analysis cost per footage-second of each mix (one thread)."""
    detector = pipeline_detector(settings)
    out: dict[str, float] = {}
    for mix in MIXES:
        sub_path = build_variant(mix, CACHE_DIR).sub_path
        cost = measure_live_cost(sub_path, detector, settings.detect_fps, live_s)
        out[f"live_cpu_ms_per_footage_second_{mix}"] = round(cost.cpu_ms_per_footage_second, 1)
        out[f"live_realtime_factor_per_core_{mix}"] = round(cost.realtime_factor_per_core, 1)
        out[f"live_frames_detected_per_footage_second_{mix}"] = round(
            cost.frames_detected / cost.footage_s, 2
        )
    return out


def measure_recall(settings: Settings, runner: ReindexRunner) -> dict[str, object]:
    """Person recall on the labelled vtest frames, live path vs archive path."""
    labels = LabelledFrames.load()
    busy = build_variant("busy", CACHE_DIR)
    live = path_hits(busy.sub_path, (640, 360), pipeline_detector(settings).detect, labels)
    models = runner.context.models(settings.detector_model, settings.embedder_model)
    archive_settings = runner.context.analysis.archive
    archive = path_hits(
        busy.main_path, archive_settings.frame_size_px, models.detector.detect, labels,
        archive_settings.interpolation,
    )  # fmt: skip
    recall = compare_recall(labels, live, archive)
    return {
        "recall_frames": recall.frames,
        "recall_persons": recall.persons,
        "recall_live": round(recall.live_recall, 3),
        "recall_archive": round(recall.archive_recall, 3),
        "recall_delta": round(recall.delta, 3),
        "recall_delta_ci95": [round(v, 3) for v in recall.delta_ci95],
    }


def measure_archive(
    settings: Settings, runner: ReindexRunner, spans: dict[Mix, tuple[datetime, datetime]],
    live: dict[str, float],
) -> tuple[dict[str, object], dict[Mix, str]]:  # fmt: skip
    """Each mix's footage re-indexed in-process by the job runner; the figures, the job ids."""
    out: dict[str, object] = {}
    jobs: dict[Mix, str] = {}
    for mix in MIXES:
        jobs[mix] = queue(settings, mix, spans[mix])
        wall_s, cpu_s, result = timed_job(runner, jobs[mix])
        footage_s = (spans[mix][1] - spans[mix][0]).total_seconds()
        cpu_ms = cpu_s * 1000 / footage_s
        out[f"realtime_factor_{mix}"] = round(footage_s / wall_s, 1)
        out[f"archive_cpu_ms_per_footage_second_{mix}"] = round(cpu_ms, 1)
        out[f"archive_realtime_factor_per_core_{mix}"] = round(1000 / cpu_ms, 1)
        live_ms = float(live[f"live_cpu_ms_per_footage_second_{mix}"])
        out[f"cpu_speedup_vs_live_{mix}"] = round(live_ms / cpu_ms, 2)
        out[f"footage_s_{mix}"] = round(footage_s, 1)
        out[f"units_{mix}"] = result.get("units_total")
        out[f"tracks_{mix}"] = result.get("tracks")
        print(mix, json.dumps({k: v for k, v in out.items() if k.endswith(mix)}), flush=True)
    return out, jobs


def measure_search(
    settings: Settings, runner: ReindexRunner, busy_job: str, span: tuple[datetime, datetime],
    search_threads: int,
) -> dict[str, object]:  # fmt: skip
    """Search p95 idle, then while a typical-camera job runs in this process on
    `search_threads` threads (the product's default 1 leaves a core to live ingest and API)."""
    models = runner.context.models(settings.detector_model, settings.embedder_model)
    server, base_url, request = serve_search(
        settings, models.embedding_version, models.embedder.dim
    )
    try:
        with runner.context.sessions() as session:
            camera_ids = tuple(sorted({u.camera_id for u in job_units(session, busy_job)}))
            track_ids = sorted(matching_track_ids(session, TrackQuery(camera_ids)))
        search_latencies(base_url, request, track_ids, None, 10)  # warm-up
        idle = search_latencies(base_url, request, track_ids, None, SEARCH_QUERIES_IDLE)
        job_id = queue(settings, "typical", span)
        job_runner = make_runner(settings.model_copy(update={"reindex_threads": search_threads}))
        stop = threading.Event()
        figures: dict[str, float] = {}

        def run() -> None:
            try:
                wall_s, _, _ = timed_job(job_runner, job_id)
                figures["wall_s"] = wall_s
            finally:
                stop.set()

        job_thread = threading.Thread(target=run)
        job_thread.start()
        during = search_latencies(base_url, request, track_ids, stop, 0)
        job_thread.join()
    finally:
        server.should_exit = True
    footage_s = (span[1] - span[0]).total_seconds()
    return {
        "search_p95_ms_idle": p95_ms(idle),
        "search_p50_ms_idle": round(float(np.median(idle)) * 1000, 1),
        "search_p95_ms_during_job": p95_ms(during),
        "search_p50_ms_during_job": round(float(np.median(during)) * 1000, 1),
        "search_queries_during_job": len(during),
        "search_tracks": len(track_ids),
        "search_job_threads": search_threads,
        "realtime_factor_typical_while_searched": round(footage_s / figures["wall_s"], 1),
    }


def measure_resume(
    settings: Settings, recorded: list[tuple[Path, Segment]], footage_s: float,
    reference: list[int],
) -> dict[str, object]:  # fmt: skip
    """Kill a job mid-way, resume it, compare its tracks per segment with an uninterrupted
    run over the same segments (`reference`)."""
    span = catalogue(settings, "resume", recorded, footage_s)
    job_id = resume_after_kill(settings, span, "resume")
    sessions = session_factory(init_catalog(settings.catalog_url))
    with sessions() as session:
        units = job_units(session, job_id)
    got = tracks_per_segment(sessions, job_id)
    unfinished = sum(u.state not in ("done", "skipped") for u in units)
    pairs = list(zip(got, reference, strict=True))
    return {
        "resume_units": len(units),
        "resume_units_redone": sum(u.attempts > 1 for u in units),
        "resume_lost_segments": unfinished + sum(g < r for g, r in pairs),
        "resume_doubled_segments": sum(g > r for g, r in pairs),
        "resume_tracks": sum(got),
        "resume_reference_tracks": sum(reference),
    }


def measure_ray(settings: Settings, span: tuple[datetime, datetime]) -> dict[str, object]:
    """The typical footage re-indexed by the same job code on a local Ray cluster started here
    (head + 2 one-CPU worker nodes): wall time from the job's claim to its end, actors' start
    and model loading included."""
    from skynet.ray_executor import RayExecutor
    from tests.servers.ray_cluster import local_ray_cluster

    started = time.perf_counter()
    with local_ray_cluster() as cluster:
        cluster_start_s = time.perf_counter() - started
        ray_settings = settings_for(settings.data_dir, settings.reindex_threads, cluster.address)
        executor = RayExecutor(ray_settings, analysis_settings(ray_settings))
        try:
            job_id = queue(ray_settings, "typical", span)
            wall_s, _, result = timed_job(make_runner(ray_settings, executor), job_id)
        finally:
            executor.close()
    footage_s = (span[1] - span[0]).total_seconds()
    return {
        "realtime_factor_ray_local": round(footage_s / wall_s, 1),
        "ray_local_actors": executor.actor_count,
        "ray_local_batch_units": ray_settings.ray_batch_units,
        "ray_local_cluster_start_s": round(cluster_start_s, 1),
        "ray_local_tracks": result.get("tracks"),
    }


def run_child_job(data_dir: Path, threads: int) -> None:
    """`--run-job`: run the queued job in this process (the resume measurement kills it)."""
    make_runner(settings_for(data_dir, threads)).run_next()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--footage-s", type=float, default=240.0, help="per camera (whole 80 s loops keep the mix)"
    )
    parser.add_argument("--segment-s", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2, help="in-process units at once")
    parser.add_argument("--live-s", type=float, default=80.0, help="footage the live cost runs")
    parser.add_argument(
        "--search-job-threads", type=int, default=Settings().reindex_threads,
        help="threads of the job run while searching (default: the product's)",
    )  # fmt: skip
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    parser.add_argument("--run-job", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_job:
        run_child_job(args.data_dir, args.threads)
        return
    faiss.omp_set_num_threads(1)  # as Runtime.build: OpenMP spinning stalls a shared machine
    cv2.setNumThreads(1)
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    settings0 = Settings()
    ensure_models(MODELS_DIR.resolve(), [settings0.detector_model, settings0.embedder_model])
    summary: dict[str, object] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_description(),
        "footage_s_per_camera": args.footage_s,
        "segment_s": args.segment_s,
        "reindex_threads": args.threads,
        "archive_settings": asdict(analysis_settings(settings0)),
    }
    with tempfile.TemporaryDirectory(prefix="bench-reindex-") as tmp:
        work = Path(tmp)
        settings = settings_for(work / "data", args.threads)
        recorded = {mix: recorded_footage(mix, work, args.segment_s) for mix in MIXES}
        spans = {mix: catalogue(settings, mix, recorded[mix], args.footage_s) for mix in MIXES}
        live = measure_live(settings, args.live_s)
        summary |= live
        print(json.dumps(live), flush=True)
        runner = make_runner(settings)
        archive, jobs = measure_archive(settings, runner, spans, live)
        summary |= archive
        summary |= measure_recall(settings, runner)
        # before the search measurement: its job re-indexes the typical span with the same
        # version, which replaces (deletes) the first job's tracks there
        reference = tracks_per_segment(runner.context.sessions, jobs["typical"])
        summary |= measure_search(
            settings, runner, jobs["busy"], spans["typical"], args.search_job_threads
        )
        summary |= measure_resume(settings, recorded["typical"], args.footage_s, reference)
        if not args.skip_ray:
            summary |= measure_ray(settings, spans["typical"])
    for mix in MIXES:
        summary[f"meets_target_{mix}"] = (
            float(summary[f"realtime_factor_{mix}"]) >= TARGET_REALTIME_FACTOR  # type: ignore[arg-type]
            and float(summary["recall_delta"]) <= TARGET_RECALL_DELTA  # type: ignore[arg-type]
        )
    if args.skip_ray and args.out.exists():  # keep the last Ray figures, saying when they were
        previous = json.loads(args.out.read_text())
        kept = {k: v for k, v in previous.items() if k.startswith(("realtime_factor_ray", "ray_"))}
        if kept:
            summary |= kept | {"ray_local_date": previous.get("ray_local_date", previous["date"])}
    summary["load_avg_1m_start_end"] = [round(load_at_start, 2), round(os.getloadavg()[0], 2)]
    summary["bench_wall_s"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    print(json.dumps(summary, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
