"""`skynet retention show|set|run|check|hold|release` (issue #17): retention tiers per camera
group, a run (or dry run) now, the consistency check, legal holds on cases. The CLI acts as an
admin (`cli:<user>`) and is audited like the API."""

from __future__ import annotations

import getpass
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from skynet.cli_catalog import catalog_sessions
from skynet.settings import Settings
from skynet.wording import counted

if TYPE_CHECKING:
    from index.catalog.retention import LegalHold

retention = typer.Typer(help="Retention tiers, runs and legal holds", no_args_is_help=True)
console = Console()


def cli_principal() -> str:
    return f"cli:{getpass.getuser()}"


def held_since(hold: LegalHold) -> str:
    return f"since {hold.held_at:%Y-%m-%d %H:%M} UTC by {hold.held_by}"


@retention.command("show")
def retention_show() -> None:
    """The tiers in force (default "*" first), audit days, the legal floors and active holds."""
    from index.catalog.retention import legal_holds, retention_policy
    from skynet.retention_config import retention_config

    settings = Settings()
    config = retention_config(settings)
    with catalog_sessions(settings)() as session:
        policy = retention_policy(session, config.defaults)
        holds = legal_holds(session)
    table = Table("group", "segments days", "tracks days", "events days")
    for tier in policy.tiers:
        table.add_row(
            tier.group_name, str(tier.segments_days), str(tier.tracks_days), str(tier.events_days)
        )
    console.print(table)
    floors = config.floors
    console.print(
        f"audit log: kept at least {policy.audit_days} days, never deleted (append-only)\n"
        f"legal floors: segments {floors.segments_days}, tracks {floors.tracks_days}, "
        f"events {floors.events_days}, audit {floors.audit_days} days",
        markup=False,
    )
    for hold in holds:
        console.print(
            f"hold: case {hold.case_id} {held_since(hold)}: {hold.reason}",
            markup=False,
        )


@retention.command("set")
def retention_set(
    segments_days: Annotated[int, typer.Option(help="days recorded segments are kept")],
    tracks_days: Annotated[int, typer.Option(help="days tracks are kept")],
    events_days: Annotated[int, typer.Option(help="days violation events are kept")],
    group: Annotated[str, typer.Option(help='camera group, or "*" for the default')] = "*",
    audit_days: Annotated[int | None, typer.Option(help="default tier only")] = None,
) -> None:
    """Set a camera group's tier (below a legal floor: refused, nothing changed)."""
    from index.catalog import append_audit
    from index.catalog.camera_groups import UnknownCameraGroupError
    from index.catalog.retention import RetentionPolicyError, RetentionTier, set_retention_tier
    from skynet.retention_config import retention_config

    settings = Settings()
    floors = retention_config(settings).floors
    tier = RetentionTier(group, segments_days, tracks_days, events_days)
    principal = cli_principal()
    with catalog_sessions(settings)() as session:
        try:
            set_retention_tier(session, tier, floors, principal, audit_days)
        except (RetentionPolicyError, UnknownCameraGroupError) as error:
            raise typer.BadParameter(str(error)) from error
        append_audit(
            session, principal=principal, role="admin", action="set_retention",
            filters={"tiers": [tier.__dict__], "audit_days": audit_days}, target="retention",
        )  # fmt: skip
        session.commit()
    console.print(
        f"tier {group}: segments {segments_days}, tracks {tracks_days}, events {events_days} days",
        markup=False,
    )


@retention.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report only")] = False,
) -> None:
    """Delete what is past its tier now (objects, catalog, saved vector indexes), or with
    --dry-run report what would go and what legal holds keep; recorded as a job."""
    from index.catalog import append_audit
    from index.retention import prune_saved_indexes, run_retention_job
    from skynet.retention_config import retention_config
    from skynet.runtime import open_object_store

    settings = Settings()
    sessions = catalog_sessions(settings)
    principal = cli_principal()
    with sessions() as session:
        append_audit(
            session, principal=principal, role="admin",
            action="retention_dry_run" if dry_run else "retention_run", target="retention",
        )  # fmt: skip
        session.commit()
    store = open_object_store(settings)
    job_id, report = run_retention_job(
        sessions, store, None, retention_config(settings), principal, dry=dry_run
    )
    if not dry_run:
        report.vectors_removed += prune_saved_indexes(sessions, settings.vectors_dir)
    console.print(f"job {job_id}", markup=False)
    console.print(json.dumps(report.as_json(), indent=2), markup=False)


@retention.command("check")
def retention_check() -> None:
    """Count inconsistencies: vectors without a track (saved indexes), tracks whose clip is
    gone without saying so, rows naming missing objects, objects no row names."""
    from index.catalog import SessionFactory
    from index.retention_check import Orphans, check_consistency
    from index.vectors import VectorIndex
    from index.vectors.files import read_manifest
    from skynet.runtime import open_object_store

    settings = Settings()
    sessions: SessionFactory = catalog_sessions(settings)
    store = open_object_store(settings)
    saved = [
        path for path in sorted(settings.vectors_dir.glob("*.faiss")) if ".faiss." not in path.name
    ]
    results: list[Orphans] = []
    for path in saved:
        manifest = read_manifest(path)
        if manifest is not None:
            index = VectorIndex.load(path, str(manifest["embedding_version"]))
            results.append(check_consistency(sessions, store, index))
    if not results:
        results.append(check_consistency(sessions, store, None))
    found = results[0].as_json()
    found["vectors_without_track"] = sum(r.vectors_without_track for r in results)
    found["total"] = (
        results[0].total
        - results[0].vectors_without_track
        + int(str(found["vectors_without_track"]))
    )
    console.print(json.dumps(found, indent=2), markup=False)
    if found["total"]:
        raise typer.Exit(1)


@retention.command("hold")
def retention_hold(
    case_id: Annotated[str, typer.Argument(help="the case")],
    reason: Annotated[str, typer.Option(help="why (audited)")],
    track: Annotated[list[int] | None, typer.Option(help="a track to file under the case")] = None,
    event: Annotated[list[int] | None, typer.Option(help="an event to file under the case")] = None,
) -> None:
    """Put a case on legal hold: nothing filed under it is deleted until it is released."""
    from index.catalog import append_audit
    from index.catalog.retention import file_case_material, place_legal_hold

    principal = cli_principal()
    with catalog_sessions(Settings())() as session:
        try:
            filed = file_case_material(session, case_id, principal, track or [], event or [])
            placed = place_legal_hold(session, case_id, reason, principal)
        except (LookupError, ValueError) as error:
            raise typer.BadParameter(str(error)) from error
        append_audit(
            session, principal=principal, role="admin", action="legal_hold", case_id=case_id,
            purpose=reason, target=f"case:{case_id}",
            filters={"track_ids": track or [], "event_ids": event or [], "filed": filed,
                     "replaced_reason": placed.reason_replaced},
        )  # fmt: skip
        session.commit()
    hold = placed.hold
    if placed.earlier_reason is None:
        message = f"case {case_id} on legal hold"
    else:
        change = (
            "reason unchanged"
            if placed.reason_replaced is None
            else f"reason changed from {placed.reason_replaced!r} to {hold.reason!r} (audited)"
        )
        message = f"case {case_id} already on legal hold {held_since(hold)}: {change}"
    if filed:
        message += f"; {counted(filed, 'new item')} filed under it"
    console.print(message, markup=False)


@retention.command("release")
def retention_release(case_id: Annotated[str, typer.Argument(help="the case")]) -> None:
    """Release a case's legal hold (its material is then kept only as long as its tier says)."""
    from index.catalog import append_audit
    from index.catalog.retention import release_legal_hold

    principal = cli_principal()
    with catalog_sessions(Settings())() as session:
        try:
            released = release_legal_hold(session, case_id, principal)
        except LookupError as error:
            raise typer.BadParameter(str(error)) from error
        if released is None:
            raise typer.BadParameter(f"case {case_id!r} is not on hold")
        append_audit(
            session, principal=principal, role="admin", action="release_legal_hold",
            case_id=case_id, target=f"case:{case_id}",
        )  # fmt: skip
        session.commit()
    console.print(f"case {case_id} released from legal hold", markup=False)
