"""The demo: sample cameras on a local RTSP server → ingest → API → a "find this person" search."""

from __future__ import annotations

import shutil
import socket
import time
from dataclasses import dataclass

import cv2
import httpx
import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from index.catalog import create_api_key, create_case
from index.catalog_values import CameraSpec
from ingest.stream import open_input
from sample_streams.footage import build_cameras
from sample_streams.server import RtspServer
from skynet.runtime import Runtime
from skynet.settings import Settings


@dataclass(frozen=True)
class DemoOptions:
    cameras: int = 2
    ingest_s: float = 45.0
    serve: bool = False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def grab_query_frame(url: str, after_s: float) -> np.ndarray:
    """A frame from the live stream `after_s` seconds after connecting (a later moment)."""
    with open_input(url) as container:
        started = time.monotonic()
        for frame in container.decode(video=0):
            if time.monotonic() - started >= after_s:
                return frame.to_ndarray(format="bgr24")
    raise RuntimeError(f"stream {url} ended before a query frame was read")


def status_table(runtime: Runtime, elapsed_s: float, total_s: float) -> Table:
    table = Table(title=f"Ingesting sample cameras — {elapsed_s:4.0f} / {total_s:.0f} s")
    columns = ("camera", "state", "input fps", "analysed fps", "gated", "dropped", "lag s")
    for column in (*columns, "last error"):
        table.add_column(column)
    for camera_id, status in sorted(runtime.camera_status().items()):
        table.add_row(
            camera_id,
            status.state,
            f"{status.input_fps:.1f}",
            f"{status.analysed_fps:.1f}",
            str(status.frames_gated),
            str(status.frames_dropped),
            f"{status.lag_s:.2f}",
            status.last_error[:40],
        )
    table.caption = (
        f"segments stored: {runtime.indexer.segments_stored}   "
        f"tracks indexed: {runtime.indexer.tracks_indexed}"
    )
    return table


def run_demo(settings: Settings, options: DemoOptions, console: Console) -> int:
    """Runs the whole data path on the bundled sample footage; returns a process exit code."""
    if settings.data_dir.exists():
        shutil.rmtree(settings.data_dir)
    console.print("[bold]1/5[/] building sample camera footage (cached after the first run)")
    files = build_cameras(options.cameras, "busy")
    console.print("[bold]2/5[/] starting the local RTSP server on 127.0.0.1")
    server = RtspServer()
    urls = server.start(files)
    try:
        console.print("[bold]3/5[/] loading models, catalog and object store")
        runtime = Runtime.build(settings)
        runtime.start()
        runtime.serve_api()
        with runtime.sessions() as session:
            api_key = create_api_key(session, "demo-investigator", "investigator", None)
            case_id = create_case(session, "Demo: find this person", "demo-investigator")
            session.commit()
        for camera_id, stream in urls.items():
            runtime.add_camera(
                CameraSpec(camera_id, f"Sample {camera_id}", stream.main, stream.sub)
            )
        started = time.monotonic()
        with Live(console=console, refresh_per_second=2) as live:
            while (elapsed := time.monotonic() - started) < options.ingest_s:
                live.update(status_table(runtime, elapsed, options.ingest_s))
                time.sleep(0.5)
            live.update(status_table(runtime, options.ingest_s, options.ingest_s))
        first_camera = next(iter(urls))
        console.print("[bold]4/5[/] taking a picture of a later moment as the query")
        query = grab_query_frame(urls[first_camera].sub, after_s=3.0)
        runtime.stop()
        console.print(
            f"    stored {runtime.indexer.segments_stored} segments and "
            f"{runtime.indexer.tracks_indexed} tracks"
        )
        console.print("[bold]5/5[/] POST /api/v1/search/image  (find this person)")
        code = search_and_print(settings, api_key, case_id, query, console)
        if options.serve:
            console.print(
                f"API at {settings.api_base_url}/docs  (X-API-Key: {api_key}); Ctrl-C stops it"
            )
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        runtime.stop_api()
        return code
    finally:
        server.stop()


def search_and_print(
    settings: Settings, api_key: str, case_id: str, query: np.ndarray, console: Console
) -> int:
    ok, jpeg = cv2.imencode(".jpg", query)
    if not ok:
        raise RuntimeError("query frame could not be encoded")
    query_path = settings.data_dir / "query.jpg"
    query_path.write_bytes(jpeg.tobytes())
    response = httpx.post(
        f"{settings.api_base_url}/api/v1/search/image",
        headers={"X-API-Key": api_key},
        files={"image": ("query.jpg", jpeg.tobytes(), "image/jpeg")},
        data={"classes": "person", "top_k": "5", "case_id": case_id, "purpose": "demo"},
        timeout=60,
    )
    if response.status_code != 200:
        console.print(f"[red]search failed ({response.status_code}): {response.text}")
        return 1
    body = response.json()
    console.print(f"    query picture: {query_path}  chosen box: {body['query']['box']}")
    table = Table(title="Ranked hits")
    for column in ("#", "track", "camera", "class", "seen from", "to (UTC)", "score"):
        table.add_column(column)
    for rank, hit in enumerate(body["hits"], start=1):
        table.add_row(
            str(rank),
            str(hit["track_id"]),
            hit["camera_id"],
            hit["class_name"],
            hit["start_at"][11:19],
            hit["end_at"][11:19],
            f"{hit['score']:.3f}",
        )
    console.print(table)
    for rank, hit in enumerate(body["hits"], start=1):
        console.print(f"#{rank} thumbnail {hit['thumbnail_url']}", soft_wrap=True)
        console.print(f"#{rank} clip      {hit['clip_url']}", soft_wrap=True)
    return 0 if body["hits"] else 1


def demo_settings(port: int | None) -> Settings:
    settings = Settings()
    return settings.model_copy(
        update={"data_dir": settings.data_dir / "demo", "api_port": port or free_port()}
    )
