"""The demo: sample cameras on a local RTSP server → ingest → API → a "find this person" search."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from detect.detector import BatchDetector
from detect.query import largest_object
from index.catalog import (
    Session,
    api_key_named,
    append_audit,
    create_api_key,
    create_case,
    get_camera,
    revoke_api_key,
    upsert_camera,
)
from index.catalog.values import CameraSpec
from ingest.stream import open_input
from sample_streams.footage import build_cameras
from sample_streams.server import RtspServer, StreamUrls
from skynet.cli_catalog import audit_cli_change
from skynet.runtime import ApiPortTakenError, Runtime
from skynet.settings import Settings
from skynet.wording import counted


@dataclass(frozen=True)
class DemoOptions:
    """`serve`: keep ingesting and serving the API after the search until stopped;
    `fresh`: remove what earlier runs stored in the data dir first (kept otherwise)."""

    cameras: int = 2
    ingest_s: float = 45.0
    serve: bool = False
    fresh: bool = False


DEMO_KEY_NAME = "demo-investigator"  # the demo's own key: revoked when the demo ends
UPLOAD_WAIT_S = 30.0  # how long the search waits for the segments cut by pausing the cameras


class DemoError(RuntimeError):
    """The demo cannot run as asked (e.g. --fresh with a catalog it must not delete)."""


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


def stored_data_paths(settings: Settings) -> list[Path]:
    """What runs store in the data dir: catalog, object store, vector index, spool, query crop.

    The signing key is kept (it is configuration), and so are the models and the sample
    footage, which lie under the default data dir (`var/models`, `var/sample_streams`).
    """
    catalog = settings.sqlite_catalog_path
    if catalog is None or settings.storage_backend != "local":
        raise DemoError(
            "--fresh deletes only an embedded SQLite catalog and local object store; "
            "this configuration names a database or S3: clear those yourself"
        )
    journals = [catalog.with_name(catalog.name + suffix) for suffix in ("-journal", "-wal", "-shm")]
    return [
        catalog,
        *journals,
        settings.objects_dir,
        settings.vectors_dir,
        settings.spool_dir,
        settings.data_dir / "query.jpg",
    ]


def clear_stored_data(settings: Settings) -> list[Path]:
    """Delete what earlier runs stored in the data dir (see `stored_data_paths`); the paths
    that existed and were removed."""
    removed = []
    for path in stored_data_paths(settings):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed


def announce_data_dir(settings: Settings, options: DemoOptions, console: Console) -> None:
    """Print the one data dir the demo shares with `skynet serve` and the other commands, and
    what happens to the data of earlier runs (kept, unless --fresh)."""
    console.print(
        f"data dir: {settings.data_dir.resolve()}  (SKYNET_DATA_DIR; shared with `skynet serve` "
        "and `skynet api-key create`)",
        soft_wrap=True,
    )
    if options.fresh:
        removed = clear_stored_data(settings)
        names = ", ".join(path.name for path in removed) or "nothing stored yet"
        console.print(f"    --fresh: removed the data of earlier runs ({names})", soft_wrap=True)
    elif settings.sqlite_catalog_path is None or settings.sqlite_catalog_path.exists():
        console.print(
            "    keeping the cameras, keys, recordings and tracks already stored "
            "(--fresh removes them first)"
        )


def run_demo(
    settings: Settings,
    options: DemoOptions,
    console: Console,
    stop_serving: threading.Event | None = None,
) -> int:
    """Runs the whole data path on the bundled sample footage; returns a process exit code.

    With `options.serve` ingest and the API go on after the search until `stop_serving` is
    set, or a KeyboardInterrupt arrives (Ctrl-C; the CLI turns SIGTERM into one too). The RTSP
    server and its ffmpeg feeders are stopped by PID on every way out.
    """
    announce_data_dir(settings, options, console)
    console.print("[bold]1/5[/] building sample camera footage (cached after the first run)")
    files = build_cameras(options.cameras, "busy")
    console.print("[bold]2/5[/] starting the local RTSP server on 127.0.0.1")
    server = RtspServer()
    urls = server.start(files)
    try:
        console.print("[bold]3/5[/] loading models, catalog and object store")
        runtime = Runtime.build(settings)
        with runtime.sessions() as session:
            cameras = stage_sample_cameras(session, urls)
        runtime.start()
        try:
            code = ingest_search_and_serve(runtime, cameras, urls, options, console, stop_serving)
        except ApiPortTakenError as error:  # free when chosen or checked, taken since
            raise DemoError(f"{error}, free when the demo began: run it again") from None
        finally:
            runtime.stop()
            runtime.stop_api()
            pause_and_revoke(runtime, cameras, console)
    finally:
        server.stop()
    if not options.serve:
        for line in NEXT_STEPS:
            console.print(line, soft_wrap=True, markup=False)
    return code


# What a new user can do once the demo has ended (its API, key and links are gone by then).
NEXT_STEPS = (
    'next: `make demo ARGS="--serve"` keeps the API and the hit links up after the search;',
    "      or search what is stored: `.venv/bin/skynet api-key create me --role investigator`, "
    "then `.venv/bin/skynet serve` (it prints its address: API docs at /docs, web interface at "
    '/ui; README: "Sample cameras for `skynet serve`", "Web interface")',
)


def ingest_search_and_serve(
    runtime: Runtime,
    cameras: list[CameraSpec],
    urls: dict[str, StreamUrls],
    options: DemoOptions,
    console: Console,
    stop_serving: threading.Event | None,
) -> int:
    """Steps 3 to 5 on a started runtime, then (with `options.serve`) ingest and serve on."""
    settings = runtime.settings
    runtime.serve_api()
    with runtime.sessions() as session:
        api_key = issue_demo_key(session)
        case_id = open_demo_case(session)
        session.commit()
    set_enabled(runtime, cameras, enabled=True)
    first_camera = cameras[0].id
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
    # Pausing ends the open tracks and cuts the open segments, so the search sees all of them.
    set_enabled(runtime, cameras, enabled=False)
    wait_for_uploads(runtime, cameras, console)
    console.print(
        f"    stored {counted(runtime.indexer.segments_stored, 'segment')} and "
        f"{counted(runtime.indexer.tracks_indexed, 'track')}"
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
        set_enabled(runtime, cameras, enabled=True)
        console.print(
            f"ingest goes on; API at {settings.api_base_url}/docs  (X-API-Key: {api_key}, or a "
            f"key from `skynet api-key create`), web interface at {settings.api_base_url}/ui "
            "(a user from `skynet user add`, README: Web interface); Ctrl-C or SIGTERM stops it",
            soft_wrap=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            (stop_serving or threading.Event()).wait()
    return code


def issue_demo_key(session: Session) -> str:
    """The demo's own investigator key (its plaintext), audited as `skynet api-key create`."""
    api_key = create_api_key(session, DEMO_KEY_NAME, "investigator", None)
    made = api_key_named(session, DEMO_KEY_NAME)
    assert made is not None
    audit_cli_change(session, "key_create", f"key:{made.id}")
    return api_key


def open_demo_case(session: Session) -> str:
    """The case the demo's search runs under, opened for the demo's key and audited as the API
    audits `POST /cases` by that key."""
    case_id = create_case(session, "Demo: find this person", DEMO_KEY_NAME)
    append_audit(
        session, principal=DEMO_KEY_NAME, role="investigator", action="open_case",
        case_id=case_id, target=f"case:{case_id}",
    )  # fmt: skip
    return case_id


def revoke_demo_key(session: Session) -> None:
    """Revoke the demo's key, audited as `skynet api-key revoke` (nothing when none is active)."""
    active = api_key_named(session, DEMO_KEY_NAME)
    revoke_api_key(session, DEMO_KEY_NAME)
    if active is not None:
        audit_cli_change(session, "key_revoke", f"key:{active.id}")


def sample_camera(session: Session, camera_id: str, stream: StreamUrls) -> CameraSpec:
    """The sample camera on this run's RTSP URLs. A camera the catalog already holds keeps its
    configuration (name, position, heading, tiles, time zone set with `skynet camera set` or
    the API); a new one gets the demo's defaults."""
    stored = get_camera(session, camera_id)
    if stored is None or stored.kind != "live":
        return CameraSpec(camera_id, f"Sample {camera_id}", stream.main, stream.sub)
    return dataclasses.replace(stored, main_url=stream.main, sub_url=stream.sub, enabled=True)


def stage_sample_cameras(session: Session, urls: dict[str, StreamUrls]) -> list[CameraSpec]:
    """The sample cameras on this run's URLs (`sample_camera`), stored paused until the demo
    starts them: one left enabled on an earlier run's URLs (or those of `python -m
    sample_streams serve`, since stopped) would otherwise be opened there at start-up."""
    cameras = [sample_camera(session, camera_id, urls[camera_id]) for camera_id in urls]
    for spec in cameras:
        action = "camera_update" if get_camera(session, spec.id) else "camera_add"
        upsert_camera(session, dataclasses.replace(spec, enabled=False))
        audit_cli_change(session, action, f"camera:{spec.id}", main_url=spec.main_url)
    session.commit()
    return cameras


def with_enabled(session: Session, spec: CameraSpec, *, enabled: bool) -> CameraSpec | None:
    """The camera as the catalog holds it now (changed while the demo ran, e.g. a position
    set with `skynet camera set`), paused or resumed; None when it was removed meanwhile."""
    stored = get_camera(session, spec.id)
    return None if stored is None else dataclasses.replace(stored, enabled=enabled)


def set_enabled(runtime: Runtime, cameras: list[CameraSpec], *, enabled: bool) -> None:
    """Pause or resume the sample cameras through the catalog, as `skynet camera pause` does,
    changing nothing else of them; the runtime applies it at once (pausing ends the camera's
    tracks and cuts its segment)."""
    with runtime.sessions() as session:
        for spec in cameras:
            switch_camera(session, spec, enabled=enabled)
        session.commit()
    runtime.apply_cameras()


def switch_camera(session: Session, spec: CameraSpec, *, enabled: bool) -> None:
    """Store the camera paused or resumed (`with_enabled`; nothing when it was removed),
    audited under the CLI's and the API's action name."""
    changed = with_enabled(session, spec, enabled=enabled)
    if changed is not None:
        upsert_camera(session, changed)
        action = "camera_resume" if enabled else "camera_pause"
        audit_cli_change(session, action, f"camera:{spec.id}")


def wait_for_uploads(runtime: Runtime, cameras: list[CameraSpec], console: Console) -> None:
    """Wait (up to `UPLOAD_WAIT_S`) until every segment of `cameras` is stored and indexed."""
    deadline = time.monotonic() + UPLOAD_WAIT_S
    while any(runtime.uploader.status(spec.id).pending_segments for spec in cameras):
        if time.monotonic() > deadline:
            console.print(f"[yellow]    segments still uploading after {UPLOAD_WAIT_S:.0f} s")
            return
        time.sleep(0.1)


def pause_and_revoke(runtime: Runtime, cameras: list[CameraSpec], console: Console) -> None:
    """Leave the shared catalog tidy for `skynet serve`: the sample cameras paused (their RTSP
    server stops with the demo) and the demo's key revoked. Recordings and tracks stay."""
    with runtime.sessions() as session:
        for spec in cameras:
            switch_camera(session, spec, enabled=False)
        revoke_demo_key(session)
        session.commit()
    names = ", ".join(spec.id for spec in cameras)
    console.print(
        f"stopped: sample cameras {names} paused in the catalog, the demo's API key revoked "
        "(the links above no longer open); recordings and tracks stay",
        soft_wrap=True,
    )


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
    """The environment's settings (one data dir for every command) on `port`, or a free one."""
    return Settings().model_copy(update={"api_port": port or free_port()})
