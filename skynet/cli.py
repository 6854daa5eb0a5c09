"""Command-line entry point: `skynet serve`, `skynet demo`, `skynet camera …`, `skynet api-key …`,
`skynet audit …`, `skynet index …`, `skynet zone …` (skynet/cli_zones.py), `skynet plates
search …` (skynet/cli_plates.py).

Camera commands write the catalog; a running `skynet serve` applies them within seconds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from skynet.cli_accounts import add_account_commands
from skynet.cli_audit import add_audit_commands
from skynet.cli_cases import cases
from skynet.cli_catalog import audit_cli_change, catalog_sessions
from skynet.cli_exports import exports
from skynet.cli_footage import footage
from skynet.cli_jobs import add_reindex_commands
from skynet.cli_plates import plates
from skynet.cli_reid import reid
from skynet.cli_retention import retention
from skynet.cli_tables import handle_column, whole_table
from skynet.cli_watchlists import watchlists
from skynet.cli_zones import zones
from skynet.settings import Settings

if TYPE_CHECKING:
    from index.catalog.values import ApiKeyInfo, AuditEntry, CameraSpec

app = typer.Typer(help="Sky Net video analytics", no_args_is_help=True)
keys = typer.Typer(help="API keys", no_args_is_help=True)
cameras = typer.Typer(help="Cameras (applied by a running `skynet serve` within seconds)")
app.add_typer(keys, name="api-key")
app.add_typer(cameras, name="camera", no_args_is_help=True)
vectors = typer.Typer(help="Vector index (rebuilt from the catalog at any time)")
app.add_typer(vectors, name="index", no_args_is_help=True)
audit = typer.Typer(help="The audit log of searches, views and changes (append-only)")
app.add_typer(audit, name="audit", no_args_is_help=True)
add_audit_commands(audit)  # verify, checkpoint, export (skynet/cli_audit.py, issue #17)
app.add_typer(zones, name="zone", no_args_is_help=True)
app.add_typer(cases, name="case", no_args_is_help=True)  # open|list|close (skynet/cli_cases.py)
app.add_typer(plates, name="plates", no_args_is_help=True)
app.add_typer(watchlists, name="watchlist", no_args_is_help=True)
app.add_typer(exports, name="export", no_args_is_help=True)
add_reindex_commands(app, vectors)  # jobs, reindex, index versions (skynet/cli_jobs.py, #15)
app.add_typer(footage, name="footage", no_args_is_help=True)  # issue #15: uploaded video files
app.add_typer(retention, name="retention")  # issue #17: tiers, runs, legal holds
app.add_typer(reid, name="reid", no_args_is_help=True)  # issue #16: the learned re-ID metric
add_account_commands(app)  # issue #17: skynet user …, skynet camera-group …
console = Console()


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on host:port (probed as uvicorn binds: with SO_REUSEADDR, so
    a port left in TIME_WAIT by a server that just stopped counts as free)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def refuse_taken_port(host: str, port: int, hint: str) -> None:
    """Exit (2) naming host:port when something listens there; call it before opening anything."""
    if port_in_use(host, port):
        console.print(f"[red]cannot start: {host}:{port} is in use ({hint})[/red]")
        raise typer.Exit(2)


@app.command()
def serve() -> None:
    """Run ingest for the catalog's cameras and the API until SIGTERM or Ctrl-C."""
    from detect.reid_metric import MetricError
    from skynet.runtime import ApiPortTakenError, Runtime

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    # before any camera is opened: a second serve would ingest them too, then fail to listen
    refuse_taken_port(
        settings.api_host,
        settings.api_port,
        "another `skynet serve` or the demo? SKYNET_API_PORT picks another port",
    )
    try:
        runtime = Runtime.build(settings)
    except MetricError as error:  # a re-ID metric of another vector space (issue #16)
        console.print(f"[red]cannot start: {error}[/red]")
        raise typer.Exit(2) from None
    runtime.start()
    try:
        runtime.serve_api()
    except ApiPortTakenError as error:  # taken between the check and the bind
        runtime.stop()
        console.print(f"[red]cannot start: {error}[/red]")
        raise typer.Exit(2) from None
    console.print(f"serving {settings.api_base_url}/docs — SIGTERM or Ctrl-C stops")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):  # a timed wait: the main thread gets to run the signal handler
        pass
    runtime.stop()
    runtime.stop_api()


@app.command()
def demo(
    cameras: Annotated[int, typer.Option(min=1, max=16, help="sample cameras to run")] = 2,
    seconds: Annotated[float, typer.Option(min=10, help="how long to ingest")] = 45.0,
    serve: Annotated[
        bool,
        typer.Option(help="after the search, keep ingesting and serving the API until stopped"),
    ] = False,
    fresh: Annotated[
        bool,
        typer.Option(help="first delete the catalog, recordings and index of earlier runs"),
    ] = False,
    port: Annotated[int, typer.Option(help="API port (0: any free port)")] = 0,
) -> None:
    """Sample cameras → RTSP → ingest → index → API → "find this person" with a crop of a
    person from a later frame; prints the ranked hits. Uses the data dir of every other command
    (SKYNET_DATA_DIR) and keeps what is stored there unless --fresh."""
    from skynet.demo import DemoError, DemoOptions, demo_settings, run_demo

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # SIGTERM stops the demo as Ctrl-C does, so its RTSP server and ffmpeg feeders (each in
    # their own session, out of reach of the terminal's signals) are stopped by PID.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    settings = demo_settings(port)
    if port:  # before the sample footage, RTSP server and cameras: as `skynet serve` refuses
        refuse_taken_port(
            settings.api_host, port, "`skynet serve` or another demo? --port 0 takes a free one"
        )
    try:
        code = run_demo(settings, DemoOptions(cameras, seconds, serve, fresh), console)
    except DemoError as error:
        raise typer.BadParameter(str(error)) from error
    raise typer.Exit(code)


def parse_expiry(text: str | None, now: datetime) -> datetime | None:
    """`--expires`: whole days from now ("30") or an ISO 8601 time (UTC unless it says)."""
    if text is None:
        return None
    if text.strip().isdigit():
        return now + timedelta(days=int(text))
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise typer.BadParameter(f"--expires {text!r}: give days or an ISO 8601 time") from error
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@keys.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="who or what uses the key (unique among active)")],
    role: Annotated[
        str, typer.Option(help="admin, investigator, operator, city_manager, auditor or viewer")
    ] = "viewer",
    camera: Annotated[list[str] | None, typer.Option(help="limit to these cameras")] = None,
    expires: Annotated[
        str | None, typer.Option(help="days from now (30) or an ISO 8601 time; default never")
    ] = None,
) -> None:
    """Create an API key; the plaintext is printed once and only its hash is stored."""
    from index.catalog import api_key_named, create_api_key

    expires_at = parse_expiry(expires, datetime.now(UTC))
    with catalog_sessions(Settings())() as session:
        try:
            key = create_api_key(session, name, role, camera, expires_at)
        except ValueError as error:  # "field: problem"; expires_at is --expires here
            raise typer.BadParameter(str(error).replace("expires_at:", "--expires:", 1)) from error
        made = api_key_named(session, name)
        assert made is not None
        audit_cli_change(session, "key_create", f"key:{made.id}")
        session.commit()
    console.print(key)


def utc_minute(at: datetime | None) -> str:
    """`2026-03-01 12:00` (UTC) for tables; "-" for None."""
    return "-" if at is None else f"{at.astimezone(UTC):%Y-%m-%d %H:%M}"


def key_access(info: ApiKeyInfo) -> list[str]:
    """A key's role, then its cameras one a line (`--role`, `--camera` values: never cut)."""
    cameras = ["all cameras"] if info.camera_ids is None else sorted(info.camera_ids)
    return [info.role, *cameras]


def key_dates(info: ApiKeyInfo, now: datetime) -> list[str]:
    """When a key was created and, where it has them, when it expires (or expired) and when it
    was revoked: one a line."""
    dates = [f"created {utc_minute(info.created_at)}"]
    if info.expires_at is not None:
        expiry = "expires" if now < info.expires_at else "expired"
        dates.append(f"{expiry} {utc_minute(info.expires_at)}")
    if info.revoked_at is not None:
        dates.append(f"revoked {utc_minute(info.revoked_at)}")
    return dates


@keys.command("list")
def list_keys() -> None:
    """List API keys: name, role and cameras, created, expires, revoked, id (never the key)."""
    from index.catalog import list_api_keys

    with catalog_sessions(Settings())() as session:
        found = list_api_keys(session)
    now = datetime.now(UTC)
    # names, roles and cameras whole, the facts stacked in their cells and the dates wrapped
    # at spaces: seven columns folded "investigato|r" and "2026-|12-06" at 80 columns
    table = whole_table(
        handle_column("name", (info.name for info in found)),
        handle_column("role, cameras", (line for info in found for line in key_access(info))),
        "created, expires, revoked (UTC)",
        handle_column("id", (str(info.id) for info in found)),
    )
    for info in found:
        table.add_row(
            info.name, "\n".join(key_access(info)), "\n".join(key_dates(info, now)), str(info.id)
        )
    console.print(table)


@keys.command("revoke")
def revoke_key(
    name: Annotated[str, typer.Argument(help="the name the key was created with")],
) -> None:
    """Revoke the active key called NAME (names are unique among active keys); the API refuses
    it (401), and the links it was given, from the next request."""
    from index.catalog import api_key_named, list_api_keys, revoke_api_key

    with catalog_sessions(Settings())() as session:
        if not any(info.name == name for info in list_api_keys(session)):
            raise typer.BadParameter(f"no API key named {name!r} (see `skynet api-key list`)")
        active = api_key_named(session, name)
        revoked = revoke_api_key(session, name)
        if active is not None:
            audit_cli_change(session, "key_revoke", f"key:{active.id}")
        session.commit()
    already = " (every key of that name was already revoked)" if revoked == 0 else ""
    console.print(f"revoked {revoked} key(s) named {name!r}{already}", markup=False)


# ---- audit ------------------------------------------------------------------------------------


def parse_since(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is read as UTC."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError as error:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time such as 2026-03-01T12:00Z", param_hint="--since"
        ) from error
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def audit_line(entry: AuditEntry) -> str:
    """One audit row as a line: time, who (role), action, then only the fields it has."""
    at = entry.at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    action = entry.action if entry.query_type is None else f"{entry.action}/{entry.query_type}"
    fields = {
        "case": entry.case_id,
        "hits": None if entry.hit_count is None else str(entry.hit_count),  # 0 hits is shown
        "target": entry.target,
        "image": entry.image_sha256 and entry.image_sha256[:12],
        "purpose": entry.purpose and json.dumps(entry.purpose, ensure_ascii=False),
        "filters": entry.filters and json.dumps(entry.filters, ensure_ascii=False),
    }
    details = [f"{label}={value}" for label, value in fields.items() if value]
    return "  ".join([at, f"{entry.principal} ({entry.role})", action, *details])


def audit_document(entry: AuditEntry) -> dict[str, object]:
    return {**dataclasses.asdict(entry), "at": entry.at.astimezone(UTC).isoformat()}


@audit.command("tail")
def audit_tail(
    count: Annotated[int, typer.Option("-n", "--lines", min=1, help="how many rows")] = 20,
    principal: Annotated[str | None, typer.Option(help="only this key name or user")] = None,
    since: Annotated[
        str | None, typer.Option(help="only rows from this ISO 8601 time on (UTC if no offset)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON array of rows, for machines")
    ] = False,
) -> None:
    """Show the newest audit rows, oldest first (like `tail`)."""
    from index.catalog import audit_entries

    since_at = None if since is None else parse_since(since)
    with catalog_sessions(Settings())() as session:
        entries = audit_entries(session, since=since_at, principal=principal, limit=count)
    if as_json:
        typer.echo(json.dumps([audit_document(e) for e in entries], ensure_ascii=False))
    elif not entries:
        typer.echo("no audit rows match", err=True)
    else:
        typer.echo("\n".join(audit_line(e) for e in entries))


LAT_HELP = "latitude of the camera, degrees [-90, 90] (with --lon; hop search needs both)"
LON_HELP = "longitude of the camera, degrees [-180, 180] (with --lat)"
HEADING_HELP = "compass heading of the view, degrees [0, 360)"


def check_position(spec: CameraSpec) -> None:
    """A position is both coordinates or none: hop search measures between camera positions."""
    if (spec.lat is None) != (spec.lon is None):
        raise typer.BadParameter(f"camera {spec.id!r} needs --lat and --lon together")


TIMEZONE_HELP = "IANA time zone of its zone schedules (default: SKYNET_TIMEZONE)"


def check_urls(spec: CameraSpec, settings: Settings) -> None:
    """BadParameter naming the URL field unless ingest may open it (rtsp(s):// by default,
    more only through SKYNET_CAMERA_URL_ALLOW)."""
    from index.catalog.values import check_camera_urls

    try:
        check_camera_urls(spec, settings.camera_url_allow)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


@cameras.command("add")
def camera_add(
    camera_id: Annotated[str, typer.Argument(help="id: letters, digits, '_', '.', '-'")],
    main_url: Annotated[str, typer.Option("--main", help="recorded stream URL")],
    name: Annotated[str | None, typer.Option(help="display name (default: the id)")] = None,
    sub_url: Annotated[str | None, typer.Option("--sub", help="analysed stream URL")] = None,
    fps: Annotated[float, typer.Option(min=0.1, max=30, help="detect fps")] = 5.0,
    lat: Annotated[float | None, typer.Option(help=LAT_HELP)] = None,
    lon: Annotated[float | None, typer.Option(help=LON_HELP)] = None,
    heading: Annotated[float | None, typer.Option(help=HEADING_HELP)] = None,
    tiles: Annotated[
        str, typer.Option(help="detector tiling COLSxROWS for small, distant objects (2x2)")
    ] = "1x1",
    timezone: Annotated[str | None, typer.Option(help=TIMEZONE_HELP)] = None,
) -> None:
    """Add a camera (or replace its configuration)."""
    from index.catalog import upsert_camera
    from index.catalog.values import CameraSpec

    try:
        spec = CameraSpec(
            camera_id, name or camera_id, main_url, sub_url, detect_fps=fps, lat=lat, lon=lon,
            heading_deg=heading, tiles=tiles, timezone=timezone,
        )  # fmt: skip
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    check_position(spec)
    settings = Settings()
    check_urls(spec, settings)
    with catalog_sessions(settings)() as session:
        upsert_camera(session, spec)
        audit_cli_change(session, "camera_add", f"camera:{camera_id}")
        session.commit()
    console.print(f"camera {camera_id} saved")


def change_camera(camera_id: str, action: str, **changes: object) -> None:
    """Replace some fields of a stored camera, audited as `action`; BadParameter names what is
    wrong."""
    from index.catalog import get_camera, upsert_camera

    settings = Settings()
    with catalog_sessions(settings)() as session:
        spec = get_camera(session, camera_id)
        if spec is None:
            raise typer.BadParameter(f"camera {camera_id!r} not found")
        try:
            changed = dataclasses.replace(spec, **changes)  # type: ignore[arg-type]
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        check_position(changed)
        if changed.enabled:  # a camera with a refused URL may still be paused
            check_urls(changed, settings)
        upsert_camera(session, changed)
        audit_cli_change(session, action, f"camera:{camera_id}")
        session.commit()


def set_enabled(camera_id: str, enabled: bool) -> None:
    change_camera(camera_id, "camera_resume" if enabled else "camera_pause", enabled=enabled)


@cameras.command("set")
def camera_set(
    camera_id: str,
    lat: Annotated[float | None, typer.Option(help=LAT_HELP)] = None,
    lon: Annotated[float | None, typer.Option(help=LON_HELP)] = None,
    heading: Annotated[float | None, typer.Option(help=HEADING_HELP)] = None,
    tiles: Annotated[str | None, typer.Option(help="detector tiling COLSxROWS")] = None,
    timezone: Annotated[str | None, typer.Option(help=TIMEZONE_HELP)] = None,
) -> None:
    """Change a camera's position or analysis settings (a running worker applies them within
    seconds)."""
    given = {"lat": lat, "lon": lon, "heading_deg": heading, "tiles": tiles, "timezone": timezone}
    changes = {field: value for field, value in given.items() if value is not None}
    if not changes:
        raise typer.BadParameter(
            "nothing to change: give --lat/--lon, --heading, --tiles or --timezone"
        )
    change_camera(camera_id, "camera_update", **changes)
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
        audit_cli_change(session, "camera_remove", f"camera:{camera_id}")
        session.commit()
    console.print(f"camera {camera_id} removed")


@cameras.command("list")
def camera_list() -> None:
    """List cameras (stream credentials are not shown)."""
    from index.catalog import list_cameras
    from index.catalog.values import redact_url

    with catalog_sessions(Settings())() as session:
        found = list_cameras(session)
    table = whole_table(
        handle_column("id", (spec.id for spec in found)), "name", "main", "sub", "fps"
    )
    table.add_column("position", overflow="fold")  # never an ellipsis in place of digits
    for title in ("heading", "tiles", "enabled"):
        table.add_column(title)
    for spec in found:
        sub = redact_url(spec.sub_url) if spec.sub_url else "-"
        heading = "-" if spec.heading_deg is None else f"{spec.heading_deg:g}"
        position = "-" if spec.lat is None else f"{spec.lat!r},{spec.lon!r}"  # every digit
        table.add_row(
            spec.id, spec.name, redact_url(spec.main_url), sub, f"{spec.detect_fps:g}",
            position, heading, spec.tiles, "yes" if spec.enabled else "paused",
        )  # fmt: skip
    console.print(table)


def current_embedding() -> tuple[str, int]:
    from detect.embedder import AppearanceEmbedder

    embedder = AppearanceEmbedder.from_settings(Settings())
    return embedder.embedding_version, embedder.dim


@vectors.command("rebuild")
def index_rebuild() -> None:
    """Rebuild the current embedding version's index from the catalog (atomic replace)."""
    from index.cli_vectors import format_stats, rebuild

    settings = Settings()
    version, dim = current_embedding()
    info = rebuild(settings.catalog_url, settings.vectors_dir, version, dim)
    console.print(format_stats(info))


@vectors.command("stats")
def index_stats() -> None:
    """Show the saved index of the current embedding version (empty before its first save)."""
    from index.cli_vectors import format_stats, format_unsaved, saved_stats

    settings = Settings()
    version, _dim = current_embedding()
    index_dir = settings.vectors_dir
    info = saved_stats(index_dir, version)
    if info is None:
        text = format_unsaved(settings.catalog_url, index_dir, version)
    else:
        text = format_stats(info)
    console.print(text, markup=False, highlight=False)
