"""Command-line entry point: `skynet demo`, `skynet api-key create`."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console

from skynet.settings import Settings

app = typer.Typer(help="Sky Net video analytics", no_args_is_help=True)
keys = typer.Typer(help="API keys", no_args_is_help=True)
app.add_typer(keys, name="api-key")
console = Console()


@app.command()
def demo(
    cameras: Annotated[int, typer.Option(min=1, max=16, help="sample cameras to run")] = 2,
    seconds: Annotated[float, typer.Option(min=10, help="how long to ingest")] = 45.0,
    serve: Annotated[bool, typer.Option(help="keep the API up after the search")] = False,
    port: Annotated[int, typer.Option(help="API port (0: any free port)")] = 0,
) -> None:
    """Sample cameras → RTSP → ingest → index → API → an example "find this person" search."""
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
    from index.db import init_catalog, session_factory

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sessions = session_factory(init_catalog(settings.catalog_url))
    with sessions() as session:
        key = create_api_key(session, name, role, camera)
        session.commit()
    console.print(key)
