"""`skynet watchlist …`: watchlists of plate patterns under a case (issue #14), written to the
catalog; a running `skynet serve` matches them on the next indexed vehicle track. The CLI acts
as an admin (`cli:<user>`) and is audited like the API."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from skynet.cli_catalog import catalog_sessions
from skynet.settings import Settings

watchlists = typer.Typer(help="Watchlists: plates to alert on (webhooks, event stream)")
console = Console()
MATCH_HELP = "exact, wildcard (* any run, ? one character) or fuzzy (with --max-distance)"


def cli_principal() -> str:
    return f"cli:{getpass.getuser()}"


@watchlists.command("add")
def watchlist_add(
    name: Annotated[str, typer.Argument(help="watchlist name")],
    plates: Annotated[list[str], typer.Argument(help="plate patterns")],
    case_id: Annotated[
        str, typer.Option("--case", "--case-id", help="an open case (`skynet case open`)")
    ],
    purpose: Annotated[str, typer.Option(help="why (audited)")],
    days: Annotated[float, typer.Option(help="expires after this many days", min=0.001)],
    match: Annotated[str, typer.Option(help=MATCH_HELP)] = "exact",
    max_distance: Annotated[float, typer.Option(help="fuzzy: confusion-weighted edits")] = 1.0,
) -> None:
    """Create a watchlist of plate patterns under an open case, expiring after --days."""
    from detect.plate_match import PlatePatternError, parse_plate_pattern
    from index.catalog import append_audit
    from index.catalog.watchlists import WatchlistError, add_plate_entry, create_watchlist

    if match not in ("exact", "wildcard", "fuzzy"):
        raise typer.BadParameter(f"--match: {MATCH_HELP}")
    try:
        patterns = [parse_plate_pattern(p, match, max_distance) for p in plates]
    except PlatePatternError as error:
        raise typer.BadParameter(f"PLATES: {error}") from error
    expires_at = datetime.now(UTC) + timedelta(days=days)
    principal = cli_principal()
    with catalog_sessions(Settings())() as session:
        try:
            made = create_watchlist(session, name, case_id, purpose, expires_at, principal)
        except WatchlistError as error:
            raise typer.BadParameter(f"--{str(error).replace('_', '-')}") from error
        for pattern in patterns:
            add_plate_entry(session, made.id, pattern)
        append_audit(
            session, principal=principal, role="admin", action="create_watchlist",
            case_id=case_id, purpose=purpose, target=f"watchlist:{made.id}",
        )  # fmt: skip
        session.commit()
    console.print(
        f"watchlist {made.id} ({name}): {len(patterns)} plate(s) until "
        f"{expires_at:%Y-%m-%d %H:%M} UTC",
        markup=False,
    )


@watchlists.command("list")
def watchlist_list() -> None:
    """Every watchlist, newest first, with its entries."""
    from index.catalog.watchlists import list_entries, list_watchlists

    now = datetime.now(UTC)
    table = Table("id", "name", "case", "expires (UTC)", "active", "entries")
    with catalog_sessions(Settings())() as session:
        for found in list_watchlists(session):
            entries = [
                e.plate.text if e.plate is not None else f"look:{e.exemplar_track_id or 'image'}"
                for e in list_entries(session, found.id)
            ]
            table.add_row(
                str(found.id), found.name, found.case_id, f"{found.expires_at:%Y-%m-%d %H:%M}",
                "yes" if found.active(now) else "no", ", ".join(entries),
            )  # fmt: skip
    console.print(table)


@watchlists.command("hits")
def watchlist_hits(
    watchlist_id: Annotated[int, typer.Argument(help="watchlist id")],
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """A watchlist's hits, newest first (audited)."""
    from index.catalog import append_audit
    from index.catalog.watchlists import UnknownWatchlistError, get_watchlist, list_hits

    table = Table("at (UTC)", "camera", "track", "plate", "score", "entry")
    with catalog_sessions(Settings())() as session:
        try:
            found = get_watchlist(session, watchlist_id)
        except UnknownWatchlistError as error:
            raise typer.BadParameter(str(error)) from error
        hits = list_hits(session, found.id, limit=limit)
        append_audit(
            session, principal=cli_principal(), role="admin", action="read_watchlist_hits",
            case_id=found.case_id, purpose=found.purpose, hit_count=len(hits),
            target=f"watchlist:{found.id}",
        )  # fmt: skip
        session.commit()
        for hit in hits:
            table.add_row(
                f"{hit.at:%Y-%m-%d %H:%M:%S}", hit.camera_id, str(hit.track_id),
                hit.plate_text or "", f"{hit.score:.3f}", str(hit.entry_id),
            )  # fmt: skip
    console.print(table)
