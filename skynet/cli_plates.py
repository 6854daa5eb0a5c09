"""`skynet plates search PATTERN …`: plate search from the command line (issue #14), under an
open case with a purpose and audited like the API's (as `cli:<user>`, an admin of the host)."""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from skynet.cli_catalog import catalog_sessions
from skynet.settings import Settings

plates = typer.Typer(help="Licence plates: find vehicles by a full, partial or fuzzy plate")
console = Console()
MODE_HELP = "exact, prefix, contains (e.g. A12), wildcard (吉A*23?5) or fuzzy"


def _moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise typer.BadParameter(f"{option}: {error}") from error
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{option}: give a UTC offset, e.g. 2026-12-01T08:00+08:00")
    return moment


@plates.command("search")
def plate_search(
    pattern: Annotated[str, typer.Argument(help="plate text or pattern")],
    case: Annotated[str, typer.Option("--case", help="open case id the search is filed under")],
    purpose: Annotated[str, typer.Option(help="why this search is made (audited)")],
    mode: Annotated[str, typer.Option(help=MODE_HELP)] = "exact",
    max_distance: Annotated[float, typer.Option(help="fuzzy: largest distance returned")] = 2.0,
    camera: Annotated[list[str] | None, typer.Option(help="camera id (repeatable)")] = None,
    zone: Annotated[list[int] | None, typer.Option(help="zone id (repeatable)")] = None,
    start: Annotated[str | None, typer.Option(help="ISO 8601 with offset")] = None,
    end: Annotated[str | None, typer.Option(help="ISO 8601 with offset")] = None,
    top_k: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """Vehicle tracks whose plate matches PATTERN, best first, with why each matched."""
    from detect.plate_match import PlatePatternError, parse_plate_pattern
    from index.catalog import (
        Principal,
        TrackQuery,
        append_audit,
        search_plates,
        tracks_by_ids,
    )
    from search_api.access import authorize_plate_search
    from search_api.errors import DomainError

    try:
        parsed = parse_plate_pattern(pattern, mode, max_distance)
    except PlatePatternError as error:
        name = "--mode" if str(error).startswith("mode") else "PATTERN"
        raise typer.BadParameter(f"{name}: {error}") from error
    query = TrackQuery(
        camera_ids=tuple(camera) if camera else None,
        start=_moment(start, "--start"),
        end=_moment(end, "--end"),
        zone_ids=tuple(zone) if zone else None,
    )
    principal = Principal(f"cli:{getpass.getuser()}", "admin", None)
    with catalog_sessions(Settings())() as session:
        try:
            authorize_plate_search(session, principal, case, purpose)
        except DomainError as error:
            raise typer.BadParameter(str(error.detail)) from error
        found = search_plates(session, parsed, query, top_k)
        tracks = {t.id: t for t in tracks_by_ids(session, [h.plate.track_id for h in found.hits])}
        append_audit(
            session,
            principal=principal.name,
            role=principal.role,
            action="search",
            query_type="plate",
            case_id=case,
            purpose=purpose,
            filters={**query.as_json(), "pattern": parsed.text, "mode": parsed.mode,
                     "max_distance": parsed.max_distance, "top_k": top_k},
            hit_count=found.total,
        )  # fmt: skip
        session.commit()
    table = Table("track", "camera", "class", "start (UTC)", "plate", "distance", "why")
    for hit in found.hits:
        track = tracks[hit.plate.track_id]
        table.add_row(
            str(track.id), track.camera_id, track.class_name,
            f"{track.start_at:%Y-%m-%d %H:%M:%S}", hit.plate.text, f"{hit.distance:g}", hit.why,
        )  # fmt: skip
    console.print(table)
    console.print(f"{found.total} match(es) for {parsed.mode} {parsed.text!r}")
