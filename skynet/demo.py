"""The demo: sample cameras on a local RTSP server → ingest → API → a "find this person" search."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import httpx
import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from detect.detector import BatchDetector
from detect.query import largest_object
from index.catalog import create_api_key, create_case
from index.catalog.values import CameraSpec
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


CROP_MARGIN = 0.1  # of the box's width and height, added on each side of the query crop
QUERY_SEARCH_S = 10.0  # how long to look for a frame that shows a person


@dataclass(frozen=True)
class QueryCrop:
    """The largest person of a frame, cropped with a margin; `box` is (x1, y1, x2, y2) in px."""

    image: np.ndarray
    box: tuple[int, int, int, int]


def person_crop(frame: np.ndarray, detector: BatchDetector) -> QueryCrop | None:
    """The largest detected person of `frame` with `CROP_MARGIN` around it (None: no person)."""
    found = largest_object(frame, detector, ["person"])
    if found is None:
        return None
    x1, y1, x2, y2 = (float(v) for v in found[1])
    margin_x, margin_y = CROP_MARGIN * (x2 - x1), CROP_MARGIN * (y2 - y1)
    height, width = frame.shape[:2]
    box = (
        max(0, int(x1 - margin_x)),
        max(0, int(y1 - margin_y)),
        min(width, int(np.ceil(x2 + margin_x))),
        min(height, int(np.ceil(y2 + margin_y))),
    )
    return QueryCrop(frame[box[1] : box[3], box[0] : box[2]].copy(), box)


def grab_person_crop(url: str, after_s: float, detector: BatchDetector) -> QueryCrop:
    """The first frame `after_s` or later after connecting that shows a person, cropped."""
    with open_input(url) as container:
        started = time.monotonic()
        for frame in container.decode(video=0):
            elapsed_s = time.monotonic() - started
            if elapsed_s > after_s + QUERY_SEARCH_S:
                break
            if elapsed_s >= after_s:
                found = person_crop(frame.to_ndarray(format="bgr24"), detector)
                if found is not None:
                    return found
    raise RuntimeError(f"no person seen on {url} within {after_s + QUERY_SEARCH_S:.0f} s")


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


def run_demo(
    settings: Settings,
    options: DemoOptions,
    console: Console,
    stop_serving: threading.Event | None = None,
) -> int:
    """Runs the whole data path on the bundled sample footage; returns a process exit code.

    With `options.serve` the API stays up after the search until `stop_serving` is set (or
    Ctrl-C).
    """
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
        first_camera = next(iter(urls))
        with ThreadPoolExecutor(max_workers=1) as grabber:
            # the query: a person seen later in the ingested period, as a witness photo would be
            query_crop = grabber.submit(
                grab_person_crop, urls[first_camera].sub, 0.6 * options.ingest_s, runtime.detector
            )
            started = time.monotonic()
            with Live(console=console, refresh_per_second=2) as live:
                while (elapsed := time.monotonic() - started) < options.ingest_s:
                    live.update(status_table(runtime, elapsed, options.ingest_s))
                    time.sleep(0.5)
                live.update(status_table(runtime, options.ingest_s, options.ingest_s))
            if not console.is_terminal:
                console.line()  # Live ends its last render with a newline on terminals only
            console.print(f"[bold]4/5[/] query: largest person of a later {first_camera} frame")
            query = query_crop.result()
        runtime.stop()
        console.print(
            f"    stored {runtime.indexer.segments_stored} segments and "
            f"{runtime.indexer.tracks_indexed} tracks"
        )
        query_path = settings.data_dir / "query.jpg"
        ok, jpeg = cv2.imencode(".jpg", query.image)
        if not ok:
            raise RuntimeError("query crop could not be encoded")
        query_path.write_bytes(jpeg.tobytes())
        console.print(
            f"    query crop: {query_path}  (box {query.box} of the sub stream frame)",
            soft_wrap=True,
        )
        console.print("[bold]5/5[/] POST /api/v1/search/image  (find this person)")
        code = search_and_print(settings, api_key, case_id, jpeg.tobytes(), console)
        if options.serve:
            console.print(
                f"API at {settings.api_base_url}/docs  (X-API-Key: {api_key}); Ctrl-C stops it"
            )
            with contextlib.suppress(KeyboardInterrupt):
                (stop_serving or threading.Event()).wait()
        runtime.stop_api()
        return code
    finally:
        server.stop()


def search_and_print(
    settings: Settings, api_key: str, case_id: str, query_jpeg: bytes, console: Console
) -> int:
    """Posts the person crop as it is (whole_image) and prints the ranked hits; 0 if any."""
    response = httpx.post(
        f"{settings.api_base_url}/api/v1/search/image",
        headers={"X-API-Key": api_key},
        files={"image": ("query.jpg", query_jpeg, "image/jpeg")},
        data={
            "whole_image": "true",
            "classes": "person",
            "top_k": "5",
            "case_id": case_id,
            "purpose": "demo",
        },
        timeout=60,
    )
    if response.status_code != 200:
        console.print(f"[red]search failed ({response.status_code}): {response.text}")
        return 1
    body = response.json()
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
