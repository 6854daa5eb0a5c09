"""`skynet audit verify | checkpoint | export` (issue #17): check the audit hash chain and its
signed checkpoints, sign one now, take the log away as JSON Lines or CSV."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from skynet.cli_catalog import catalog_sessions
from skynet.settings import Settings

if TYPE_CHECKING:
    from index.catalog import AuditVerification
    from storage.ed25519 import PublicKey


def trusted_key(settings: Settings, public_key: str | None) -> PublicKey:
    """The key checkpoints must be signed by: given in base64, else the server's own key file
    (never made here: a fresh key would call every checkpoint forged)."""
    from storage.ed25519 import PublicKey, SignatureKeyError, Signer

    if public_key is not None:
        try:
            return PublicKey.from_b64(public_key)
        except SignatureKeyError as error:
            raise typer.BadParameter(str(error), param_hint="--public-key") from error
    path = settings.evidence_key_path
    if not path.exists():
        raise typer.BadParameter(
            f"no signing key at {path}: pass the server's --public-key (base64)",
            param_hint="--public-key",
        )
    return Signer.load_or_create(path).public_key


def verification_document(report: AuditVerification) -> dict[str, object]:
    return {
        "ok": report.ok,
        "entries_checked": report.entries_checked,
        "first_seq": report.first_seq,
        "last_seq": report.last_seq,
        "checkpoints": report.checkpoints_checked,
        "last_good_checkpoint": report.last_good_checkpoint,
        "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail} for p in report.problems],
    }


def audit_verify(
    from_seq: Annotated[
        int, typer.Option("--from", min=1, help="start at this entry (trusting the one before)")
    ] = 1,
    public_key: Annotated[
        str | None, typer.Option(help="the signing key (base64); default: the server's key file")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
    kept: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints", help="an earlier `skynet audit export` whose checkpoints must hold"
        ),
    ] = None,
) -> None:
    """Check the audit chain: every entry's hashes and links, the signed checkpoints, the
    head and the triggers. Exits 1 naming the first bad entry and the kind of damage."""
    from index.audit_export import read_checkpoints
    from index.catalog import verify_audit_chain

    settings = Settings()
    key = trusted_key(settings, public_key)
    try:
        points = [] if kept is None else read_checkpoints(kept.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise typer.BadParameter(str(error), param_hint="--checkpoints") from error
    with catalog_sessions(settings)() as session:
        try:
            report = verify_audit_chain(session, key, from_seq, points)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--from") from error
    if as_json:
        typer.echo(json.dumps(verification_document(report)))
    elif report.ok:
        typer.echo(
            f"audit chain OK: entries {report.first_seq}-{report.last_seq} "
            f"({report.entries_checked}), {report.checkpoints_checked} checkpoint(s), "
            f"last signed checkpoint at entry {report.last_good_checkpoint}"
        )
    else:
        first = report.first_problem
        assert first is not None
        where = f"entry {first.seq}" if first.seq else "the database"
        typer.echo(f"AUDIT CHAIN DAMAGED at {where}: {first.kind}: {first.detail}", err=True)
        for problem in report.problems[1:]:
            typer.echo(f"  also entry {problem.seq}: {problem.kind}: {problem.detail}", err=True)
    if not report.ok:
        raise typer.Exit(1)


def audit_checkpoint() -> None:
    """Sign a checkpoint over the chain up to its newest entry (verifying the entries since the
    last checkpoint first; exits 1 and signs nothing when they do not verify)."""
    from index.catalog import AuditChainBroken, make_audit_checkpoint
    from storage.ed25519 import Signer

    settings = Settings()
    signer = Signer.load_or_create(settings.evidence_key_path)
    with catalog_sessions(settings).begin() as session:
        try:
            point = make_audit_checkpoint(session, signer)
        except AuditChainBroken as error:
            typer.echo(f"no checkpoint signed: {error}", err=True)
            raise typer.Exit(1) from error
    if point is None:
        typer.echo("nothing to sign: the last checkpoint covers the newest entry")
    else:
        typer.echo(f"checkpoint signed at entry {point.seq} (key {point.key_fingerprint[:16]})")


def audit_export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file to write (default: stdout)")
    ] = None,
    principal: Annotated[str | None, typer.Option(help="only this principal's entries")] = None,
    action: Annotated[str | None, typer.Option(help="only this action")] = None,
) -> None:
    """Write the audit log (chain order), its signed checkpoints and the public key."""
    from index.audit_export import EXPORT_FORMATS, export_lines
    from index.catalog import AuditQuery, audit_checkpoints, iter_audit_entries
    from storage.ed25519 import Signer

    if fmt not in EXPORT_FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {EXPORT_FORMATS}", param_hint="--format")
    settings = Settings()
    key = Signer.load_or_create(settings.evidence_key_path).public_key
    query = AuditQuery(principal=principal, action=action)
    with catalog_sessions(settings)() as session:
        lines = export_lines(
            iter_audit_entries(session, query),
            audit_checkpoints(session),
            key.b64,
            fmt,
        )
        if output is None:
            sys.stdout.writelines(lines)
            sys.stdout.flush()
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                handle.writelines(lines)


def add_audit_commands(audit: typer.Typer) -> None:
    """Register these commands on the `skynet audit` group (skynet/cli.py)."""
    audit.command("verify")(audit_verify)
    audit.command("checkpoint")(audit_checkpoint)
    audit.command("export")(audit_export)
