"""Command-line entry point: `skynet serve`, `skynet demo`, `skynet camera …`, `skynet api-key …`.

Camera commands write the catalog; a running `skynet serve` applies them within seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from skynet.settings import Settings

app = typer.Typer(help="Sky Net video analytics", no_args_is_help=True)
keys = typer.Typer(help="API keys", no_args_is_help=True)
cameras = typer.Typer(help="Cameras (applied by a running `skynet serve` within seconds)")
app.add_typer(keys, name="api-key")
app.add_typer(cameras, name="camera", no_args_is_help=True)
vectors = typer.Typer(help="Vector index (rebuilt from the catalog at any time)")
app.add_typer(vectors, name="index", no_args_is_help=True)
console = Console()


def catalog_sessions(settings: Settings) -> sessionmaker[Session]:
    from index.catalog.engine import init_catalog, session_factory

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return session_factory(init_catalog(settings.catalog_url))


@app.command()
def serve() -> None:
    """Run ingest for the catalog's cameras and the API until SIGTERM or Ctrl-C."""
    from skynet.runtime import Runtime

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    runtime = Runtime.build(settings)
    runtime.start()
    runtime.serve_api()
    console.print(f"serving {settings.api_base_url}/docs — SIGTERM or Ctrl-C stops")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    runtime.stop()
    runtime.stop_api()


@app.command()
def demo(
    cameras: Annotated[int, typer.Option(min=1, max=16, help="sample cameras to run")] = 2,
    seconds: Annotated[float, typer.Option(min=10, help="how long to ingest")] = 45.0,
    serve: Annotated[
        bool, typer.Option(help="keep the API up after the search until Ctrl-C")
    ] = False,
    port: Annotated[int, typer.Option(help="API port (0: any free port)")] = 0,
) -> None:
    """Sample cameras → RTSP → ingest → index → API → "find this person" with a crop of a
    person from a later frame; prints the ranked hits."""
    from skynet.demo import DemoOptions, demo_settings, run_demo

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    code = run_demo(demo_settings(port), DemoOptions(cameras, seconds, serve), console)
    raise typer.Exit(code)


@keys.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="who or what uses the key")],
    role: Annotated[str, typer.Option(help="admin, investigator, operator or viewer")] = "viewer",
    camera: Annotated[list[str] | None, typer.Option(help="limit to these cameras")] = None,
) -> None:
    """Create an API key; the plaintext is printed once and only its hash is stored."""
    from index.catalog import create_api_key

    with catalog_sessions(Settings())() as session:
        key = create_api_key(session, name, role, camera)
        session.commit()
    console.print(key)


@cameras.command("add")
def camera_add(
    camera_id: Annotated[str, typer.Argument(help="id: letters, digits, '_', '.', '-'")],
    main_url: Annotated[str, typer.Option("--main", help="recorded stream URL")],
    name: Annotated[str | None, typer.Option(help="display name (default: the id)")] = None,
    sub_url: Annotated[str | None, typer.Option("--sub", help="analysed stream URL")] = None,
    fps: Annotated[float, typer.Option(min=0.1, max=30, help="detect fps")] = 5.0,
    heading: Annotated[
        float | None, typer.Option(help="compass heading of the view, degrees [0, 360)")
    ] = None,
    tiles: Annotated[
        str, typer.Option(help="detector tiling COLSxROWS for small, distant objects (2x2)")
    ] = "1x1",
) -> None:
    """Add a camera (or replace its configuration)."""
    from index.catalog import upsert_camera
    from index.catalog.values import CameraSpec

    try:
        spec = CameraSpec(
            camera_id, name or camera_id, main_url, sub_url, detect_fps=fps, heading_deg=heading,
            tiles=tiles,
        )  # fmt: skip
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    with catalog_sessions(Settings())() as session:
        upsert_camera(session, spec)
        session.commit()
    console.print(f"camera {camera_id} saved")


def change_camera(camera_id: str, **changes: object) -> None:
    """Replace some fields of a stored camera; BadParameter names what is wrong."""
    from index.catalog import get_camera, upsert_camera

    with catalog_sessions(Settings())() as session:
        spec = get_camera(session, camera_id)
        if spec is None:
            raise typer.BadParameter(f"camera {camera_id!r} not found")
        try:
            changed = dataclasses.replace(spec, **changes)  # type: ignore[arg-type]
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        upsert_camera(session, changed)
        session.commit()


def set_enabled(camera_id: str, enabled: bool) -> None:
    change_camera(camera_id, enabled=enabled)


@cameras.command("set")
def camera_set(
    camera_id: str,
    heading: Annotated[
        float | None, typer.Option(help="compass heading of the view, degrees [0, 360)")
    ] = None,
    tiles: Annotated[str | None, typer.Option(help="detector tiling COLSxROWS")] = None,
) -> None:
    """Change a camera's analysis settings (the running worker applies them within seconds)."""
    changes: dict[str, object] = {}
    if heading is not None:
        changes["heading_deg"] = heading
    if tiles is not None:
        changes["tiles"] = tiles
    if not changes:
        raise typer.BadParameter("nothing to change: give --heading or --tiles")
    change_camera(camera_id, **changes)
    console.print(f"camera {camera_id} updated")


@cameras.command("pause")
def camera_pause(camera_id: str) -> None:
    """Stop ingesting a camera, keeping its configuration."""
    set_enabled(camera_id, False)
    console.print(f"camera {camera_id} paused")


@cameras.command("resume")
def camera_resume(camera_id: str) -> None:
    """Start ingesting a paused camera again."""
    set_enabled(camera_id, True)
    console.print(f"camera {camera_id} resumed")


@cameras.command("remove")
def camera_remove(camera_id: str) -> None:
    """Remove a camera; its recordings and tracks stay searchable."""
    from index.catalog import remove_camera

    with catalog_sessions(Settings())() as session:
        if not remove_camera(session, camera_id):
            raise typer.BadParameter(f"camera {camera_id!r} not found")
        session.commit()
    console.print(f"camera {camera_id} removed")


@cameras.command("list")
def camera_list() -> None:
    """List cameras (stream credentials are not shown)."""
    from index.catalog import list_cameras
    from index.catalog.values import redact_url

    table = Table("id", "name", "main", "sub", "fps", "heading", "tiles", "enabled")
    with catalog_sessions(Settings())() as session:
        for spec in list_cameras(session):
            sub = redact_url(spec.sub_url) if spec.sub_url else "-"
            heading = "-" if spec.heading_deg is None else f"{spec.heading_deg:g}"
            table.add_row(
                spec.id, spec.name, redact_url(spec.main_url), sub, f"{spec.detect_fps:g}",
                heading, spec.tiles, "yes" if spec.enabled else "paused",
            )  # fmt: skip
    console.print(table)


def current_embedding() -> tuple[str, int]:
    from detect.embedder import AppearanceEmbedder
    from models.build import model_path

    settings = Settings()
    embedder = AppearanceEmbedder(model_path(settings.embedder_model, settings.models_dir))
    return embedder.embedding_version, embedder.dim


@vectors.command("rebuild")
def index_rebuild() -> None:
    """Rebuild the current embedding version's index from the catalog (atomic replace)."""
    from index.cli_vectors import format_stats, rebuild

    settings = Settings()
    version, dim = current_embedding()
    info = rebuild(settings.catalog_url, settings.data_dir / "vectors", version, dim)
    console.print(format_stats(info))


@vectors.command("stats")
def index_stats() -> None:
    """Show the saved index of the current embedding version."""
    from index.cli_vectors import format_stats, stats

    version, _dim = current_embedding()
    try:
        console.print(format_stats(stats(Settings().data_dir / "vectors", version)))
    except FileNotFoundError as error:
        raise typer.BadParameter(str(error)) from error
