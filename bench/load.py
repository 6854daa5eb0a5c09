"""Benchmark: the API under 50 concurrent clients while live cameras are ingested (issue #12).

Sample cameras play on a local RTSP server and are ingested by the real runtime (recording,
detection, tracking, indexing); after a warm-up that gives the catalog tracks, `--clients`
clients on loopback send a mix of reads and searches for `--seconds` (each request bounded by a
timeout; the run stops by itself). Reported: requests per second, p50/p95/p99 latency, errors
(transport failures and 5xx; 4xx counted apart by status), and beside them the live ingest's
frames dropped during the load against the same span before it. Results merge into
bench/results/security.json.

    python -m bench.load --clients 50 --seconds 60 --cameras 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from bench.live import CACHE_DIR, machine_description
from index.catalog import create_api_key, create_case, list_cameras, matching_track_ids
from index.catalog.values import CameraSpec, TrackQuery
from models.registry import default_cache_dir
from sample_streams.footage import build_cameras
from sample_streams.server import RtspServer
from skynet.demo import free_port
from skynet.runtime import Runtime
from skynet.settings import Settings

RESULTS = Path(__file__).parent / "results" / "security.json"
API = "/api/v1"
REQUEST_TIMEOUT_S = 30.0


@dataclass
class LoadStats:
    """What the clients saw: one latency per answered request, statuses, transport errors."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0

    @property
    def errors(self) -> int:
        return self.transport_errors + sum(n for s, n in self.statuses.items() if s >= 500)


@dataclass(frozen=True)
class Target:
    """What the clients may ask for: an investigator key, an open case and some track ids."""

    base_url: str
    key: str
    case_id: str
    track_ids: tuple[int, ...]
    camera_ids: tuple[str, ...]
    query_jpeg: bytes


def _request(target: Target, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    """One request of the mix: (method, path, httpx keyword arguments)."""
    access = {"case_id": target.case_id, "purpose": "load benchmark"}
    track_id = rng.choice(target.track_ids)
    pick = rng.random()
    if pick < 0.25:
        return "GET", f"{API}/tracks/{track_id}", {"params": access}
    if pick < 0.40:
        return "GET", f"{API}/cameras/status", {}
    if pick < 0.60:
        body = {"classes": ["person"], "top_k": 20, **access}
        return "POST", f"{API}/search/track/{track_id}", {"json": body}
    if pick < 0.80:
        body = {"classes": ["person", "car"], "camera_ids": [rng.choice(target.camera_ids)],
                "top_k": 50, **access}  # fmt: skip
        return "POST", f"{API}/search/attributes", {"json": body}
    if pick < 0.92:
        body = {"text": "穿白衣服的男子 今天", "top_k": 20, **access}
        return "POST", f"{API}/search/text", {"json": body}
    files = {"image": ("query.jpg", target.query_jpeg, "image/jpeg")}
    data = {"classes": "person", "top_k": "20", "whole_image": "true", **access}
    return "POST", f"{API}/search/image", {"files": files, "data": data}


async def _client(target: Target, seed: int, deadline: float, stats: LoadStats) -> None:
    rng = random.Random(seed)
    headers = {"X-API-Key": target.key}
    async with httpx.AsyncClient(
        base_url=target.base_url, headers=headers, timeout=REQUEST_TIMEOUT_S
    ) as client:
        while time.monotonic() < deadline:
            method, path, kwargs = _request(target, rng)
            started = time.perf_counter()
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.HTTPError:
                stats.transport_errors += 1
                continue
            stats.latencies_ms.append((time.perf_counter() - started) * 1000)
            stats.statuses[response.status_code] += 1


async def _load(target: Target, clients: int, seconds: float) -> LoadStats:
    stats = LoadStats()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(_client(target, n, deadline, stats) for n in range(clients)))
    return stats


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _target(runtime: Runtime, settings: Settings) -> Target:
    with runtime.sessions() as session:
        key = create_api_key(session, "load-bench", "investigator")
        case_id = create_case(session, "load benchmark", "load-bench")
        camera_ids = tuple(camera.id for camera in list_cameras(session))
        session.commit()
        track_ids = tuple(matching_track_ids(session, TrackQuery(camera_ids)))
    if not track_ids:
        raise RuntimeError("no track was indexed during the warm-up: lengthen --warmup")
    picture = default_cache_dir() / "assets" / "bus.jpg"  # a real scene, from the model build
    frame = cv2.imread(str(picture))
    if frame is None:
        raise RuntimeError(f"cannot read {picture}: run scripts/setup.sh")
    ok, jpeg = cv2.imencode(".jpg", frame)
    assert ok
    return Target(settings.api_base_url, key, case_id, track_ids, camera_ids, jpeg.tobytes())


def _dropped(runtime: Runtime) -> int:
    return sum(runtime.frames.dropped.values())


def run(clients: int, seconds: float, cameras: int, warmup_s: float) -> dict[str, Any]:
    files = build_cameras(cameras, "typical", CACHE_DIR)
    server = RtspServer(CACHE_DIR)
    urls = server.start(files)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as data_dir:
            # one key for all clients (a command center's): its rate limit set past the load
            settings = Settings(
                data_dir=Path(data_dir), api_port=free_port(), rate_limit_per_minute=1_000_000
            )
            runtime = Runtime.build(settings)
            runtime.start()
            try:
                for camera_id, url in urls.items():
                    runtime.add_camera(CameraSpec(camera_id, camera_id, url.main, url.sub))
                runtime.serve_api()
                time.sleep(warmup_s / 2)
                dropped_start = _dropped(runtime)
                time.sleep(warmup_s / 2)
                dropped_quiet = _dropped(runtime) - dropped_start  # over warmup_s / 2, no load
                target = _target(runtime, settings)
                dropped_before = _dropped(runtime)
                started = time.perf_counter()
                stats = asyncio.run(_load(target, clients, seconds))
                elapsed_s = time.perf_counter() - started
                dropped_load = _dropped(runtime) - dropped_before
            finally:
                runtime.stop()
                runtime.stop_api()
    finally:
        server.stop()
    answered = len(stats.latencies_ms)
    return {
        "load_clients": clients,
        "load_seconds": round(elapsed_s, 1),
        "load_cameras": cameras,
        "load_requests": answered + stats.transport_errors,
        "load_rps": round(answered / elapsed_s, 1),
        "load_p50_ms": round(_percentile(stats.latencies_ms, 50), 1),
        "load_p95_ms": round(_percentile(stats.latencies_ms, 95), 1),
        "load_p99_ms": round(_percentile(stats.latencies_ms, 99), 1),
        "load_mean_ms": round(statistics.fmean(stats.latencies_ms), 1) if answered else None,
        "load_errors": stats.errors,
        "load_statuses": {str(s): n for s, n in sorted(stats.statuses.items())},
        "load_dropped_frames": dropped_load,
        "load_dropped_frames_per_s": round(dropped_load / elapsed_s, 2),
        "quiet_dropped_frames_per_s": round(dropped_quiet / (warmup_s / 2), 2),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=40.0, help="ingest before the load (s)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 600:
        parser.error("clients must be 1..200 and seconds 1..600 (a bounded load)")
    figures = run(args.clients, args.seconds, args.cameras, args.warmup)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged = {
        **previous,
        **figures,
        "date": datetime.now(UTC).date().isoformat(),
        "machine": machine_description(),
    }
    args.out.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
