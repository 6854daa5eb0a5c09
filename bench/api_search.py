"""API end-to-end search latency with a large catalog: p50/p95 of `POST /search/track/{id}`.

Builds (once, cached under --work-dir) a SQLite catalog of N synthetic tracks — 100 cameras,
30 days, persons and cars with colour attributes, clustered embeddings of the real dimension —
and its vector index, then serves the real API over HTTP (uvicorn) and times searches with and
without filters (10 cameras × 7 days). Results merge into bench/results/search.json.

    python -m bench.api_search --tracks 1000000
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from bench.search_data import ClusteredSpec, ClusteredVectors
from detect.detector import NanoDetDetector
from detect.embedder import AppearanceEmbedder
from index.catalog import add_tracks, create_api_key, create_case, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.values import CameraSpec, NewTrack, embedding_to_bytes
from index.track_indexer import index_file, open_vector_index
from models.registry import model_path
from search_api.app import create_app
from search_api.context import ApiContext
from skynet.demo import free_port
from storage.local import LocalObjectStore

RESULTS = Path(__file__).parent / "results" / "search.json"
T0 = datetime(2026, 10, 1, tzinfo=UTC)
CAMERAS = [f"cam{i:03d}" for i in range(100)]
COLOURS = ("white", "black", "grey", "red", "blue", "green")
BATCH = 5000


def build_catalog(work: Path, tracks: int, embedder: AppearanceEmbedder) -> None:
    marker = work / f"built-{tracks}"
    if marker.exists():
        return
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sessions = session_factory(init_catalog(f"sqlite:///{work / 'catalog.db'}"))
    with sessions() as session:
        for camera_id in CAMERAS:
            upsert_camera(session, CameraSpec(camera_id, camera_id, f"rtsp://10.0.0.1/{camera_id}"))
        session.commit()
    vectors = ClusteredVectors(ClusteredSpec(dim=embedder.dim, seed=7))
    rng = np.random.default_rng(11)
    started = time.perf_counter()
    for chunk_index, offset in enumerate(range(0, tracks, BATCH)):
        rows = min(BATCH, tracks - offset)
        matrix = vectors.chunk(chunk_index, rows)
        starts = rng.uniform(0, 30 * 86400, rows)
        batch = []
        for i in range(rows):
            start = T0 + timedelta(seconds=float(starts[i]))
            person = i % 3 != 0
            attributes = (
                {"upper_colour": {"value": COLOURS[i % 6], "confidence": 0.8},
                 "lower_colour": {"value": COLOURS[(i // 6) % 6], "confidence": 0.7}}
                if person else {"colour": {"value": COLOURS[i % 6], "confidence": 0.8}}
            )  # fmt: skip
            batch.append(
                NewTrack(
                    camera_id=CAMERAS[int(rng.integers(len(CAMERAS)))],
                    local_track_id=offset + i,
                    class_name="person" if person else "car",
                    confidence=0.8,
                    start_at=start,
                    end_at=start + timedelta(seconds=8),
                    best_shot_at=start,
                    best_bbox_xyxy_px=(10.0, 10.0, 60.0, 160.0),
                    thumbnail_key=f"thumbnails/x/{offset + i}.jpg",
                    embedding=embedding_to_bytes(matrix[i]),
                    embedding_version=embedder.embedding_version,
                    attributes=attributes,
                )
            )
        with sessions() as session:
            add_tracks(session, batch)
            session.commit()
        if chunk_index % 20 == 0:
            print(f"  {offset + rows} tracks, {time.perf_counter() - started:.0f} s", flush=True)
    vector_index = open_vector_index(
        sessions, work / "vectors", embedder.embedding_version, embedder.dim
    )
    vector_index.save(index_file(work / "vectors", embedder.embedding_version))
    marker.write_text(json.dumps({"build_s": time.perf_counter() - started}))


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--work-dir", type=Path, default=Path("var/bench-api"))
    args = parser.parse_args()
    models = Path("var/models")
    embedder = AppearanceEmbedder(model_path("mobilenetv2-embedder", models))
    work = args.work_dir / str(args.tracks)
    build_catalog(work, args.tracks, embedder)
    sessions = session_factory(init_catalog(f"sqlite:///{work / 'catalog.db'}"))
    started = time.perf_counter()
    vectors = open_vector_index(
        sessions, work / "vectors", embedder.embedding_version, embedder.dim
    )
    open_s = time.perf_counter() - started
    with sessions() as session:
        key = create_api_key(session, "bench", "investigator")
        case_id = create_case(session, "bench", "bench")
        session.commit()
    store = LocalObjectStore(work / "objects", "http://127.0.0.1/api/v1/objects", b"b" * 32)
    context = ApiContext(
        sessions, store, vectors, NanoDetDetector(model_path("nanodet", models)), embedder
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(context), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    rng = np.random.default_rng(3)
    results: dict[str, float | int | str] = {"api_tracks": args.tracks, "api_index_open_s": open_s}
    window = {
        "start": (T0 + timedelta(days=10)).isoformat(),
        "end": (T0 + timedelta(days=17)).isoformat(),
    }
    for name, extra in (
        ("", {}),
        ("_filtered", {"camera_ids": CAMERAS[:10], **window}),
    ):
        timings = []
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}
        ) as client:
            for _ in range(args.queries):
                track_id = int(rng.integers(1, args.tracks + 1))
                body = {"top_k": 20, "case_id": case_id, "purpose": "benchmark", **extra}
                t = time.perf_counter()
                response = client.post(f"/api/v1/search/track/{track_id}", json=body, timeout=60)
                timings.append(time.perf_counter() - t)
                if response.status_code != 200:
                    raise RuntimeError(f"search failed: {response.status_code} {response.text}")
        results[f"api_p50_ms_1m{name}"] = round(percentile_ms(timings, 50), 2)
        results[f"api_p95_ms_1m{name}"] = round(percentile_ms(timings, 95), 2)
        print(
            name or "unfiltered", results[f"api_p50_ms_1m{name}"], results[f"api_p95_ms_1m{name}"]
        )
    server.should_exit = True
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged.update(results)
    merged["api_date"] = datetime.now(UTC).isoformat(timespec="seconds")
    merged["api_machine"] = f"{platform.machine()} {platform.processor()} 2 cores"
    RESULTS.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
