"""`skynet case open|list|close`: the cases that person and plate searches, watchlists and
exports are filed under, from the command line (as `cli:<user>`, an admin of the host; audited
like the API's `POST /cases` and `/cases/{id}/close`). Without them a CLI user had no way to
get the case id `skynet plates search --case` and `skynet export build --case` ask for."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.console import Console

from skynet.cli_catalog import catalog_sessions
from skynet.cli_tables import handle_column, whole_table
from skynet.settings import Settings

cases = typer.Typer(help="Cases: what person and plate searches and exports are filed under")
console = Console()


def cli_principal_name() -> str:
    return f"cli:{getpass.getuser()}"


@cases.command("open")
def case_open(
    title: Annotated[str, typer.Argument(help="what the investigation is about")],
) -> None:
    """Open a case; prints its id (give it to --case)."""
    from index.catalog import append_audit, create_case

    name = cli_principal_name()
    with catalog_sessions(Settings())() as session:
        try:
            case_id = create_case(session, title, name)
        except ValueError as error:
            raise typer.BadParameter(f"TITLE: {error}") from error
        append_audit(
            session, principal=name, role="admin", action="open_case", case_id=case_id,
            target=f"case:{case_id}",
        )  # fmt: skip
        session.commit()
    typer.echo(case_id)


@cases.command("list")
def case_list(
    open_only: Annotated[bool, typer.Option("--open", help="only cases not closed")] = False,
) -> None:
    """Cases, newest first: id, title, who opened it, when, closed."""
    from index.catalog import list_cases

    with catalog_sessions(Settings())() as session:
        found = list_cases(session, open_only)
    # the whole id even on an 80-column terminal: it is what --case and close take
    table = whole_table(
        handle_column("id", (case.id for case in found)),
        "title", "opened by", "opened (UTC)", "closed (UTC)",
    )  # fmt: skip
    for case in found:
        closed = "-" if case.closed_at is None else f"{case.closed_at:%Y-%m-%d %H:%M}"
        table.add_row(
            case.id, case.title, case.created_by, f"{case.created_at:%Y-%m-%d %H:%M}", closed
        )
    console.print(table)


@cases.command("close")
def case_close(case_id: Annotated[str, typer.Argument(help="the case's id")]) -> None:
    """Close a case: no search, watchlist or export is filed under it from now on."""
    from index.catalog import append_audit, close_case, get_case

    name = cli_principal_name()
    with catalog_sessions(Settings())() as session:
        case = get_case(session, case_id)
        if case is None:
            raise typer.BadParameter(f"no case {case_id!r} (see `skynet case list`)")
        if case.closed_at is None:
            close_case(session, case_id)
            append_audit(
                session, principal=name, role="admin", action="close_case", case_id=case_id,
                target=f"case:{case_id}",
            )  # fmt: skip
            session.commit()
    typer.echo(f"case {case_id} closed")
