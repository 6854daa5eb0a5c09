"""`skynet export build …` and `skynet export verify BUNDLE` (issue #17): evidence bundles.

`verify` needs nothing of the site (no catalog, no settings): a court or an auditor runs it on a
bundle with the exporting site's public key (`--public-key`, a file holding the base64 key
`skynet export public-key` prints); without it the bundle's own key is used and its fingerprint
printed, to be compared with the one the site publishes.
"""

from __future__ import annotations

import getpass
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from skynet.cli_catalog import catalog_sessions
from skynet.settings import Settings
from skynet.wording import counted

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from evidence.request import ExportRequest
    from index.catalog import Principal

exports = typer.Typer(help="Evidence exports: signed case bundles of redacted footage")
console = Console()


@exports.command("build")
def build(
    case: Annotated[str, typer.Option("--case", help="open case the export is filed under")],
    track: Annotated[list[int], typer.Option("--track", help="track id (repeatable)")],
    purpose: Annotated[str, typer.Option(help="why the evidence is exported (audited)")],
    out: Annotated[Path, typer.Option("--out", help="the bundle to write (.zip)")],
    include_originals: Annotated[
        bool, typer.Option(help="also stream-copy the unredacted recording")
    ] = False,
    pad_s: Annotated[float, typer.Option(min=0, max=60, help="seconds around each track")] = 2.0,
) -> None:
    """Build a signed evidence bundle of the tracks (redacted clips, best shots, metadata, the
    case's audit extract, chain of custody), as `cli:<user>`, an admin of the host; audited."""
    from evidence.bundle import build_bundle, load_material
    from evidence.request import EvidenceKit, ExportError, ExportRequest
    from index.catalog import Principal
    from search_api.access import require_case, visible_track
    from search_api.errors import DomainError
    from skynet.runtime import open_object_store, query_detector

    settings = Settings()
    principal = Principal(f"cli:{getpass.getuser()}", "admin", None)
    sessions = catalog_sessions(settings)
    try:
        request = ExportRequest(
            case_id=case, track_ids=tuple(track), purpose=purpose.strip(),
            requested_by=principal.name, role=principal.role, requested_at=datetime.now(UTC),
            include_originals=include_originals, pad_s=pad_s,
        )  # fmt: skip
        with sessions() as session:
            require_case(session, principal, case, purpose, "exports")
            for track_id in request.track_ids:
                visible_track(session, principal, track_id)
            load_material(session, request)  # every track and its recording, before any audit
    except (DomainError, ExportError) as error:
        raise typer.BadParameter(getattr(error, "detail", str(error))) from error
    export_id = f"cli-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    _audit(sessions, principal, "export_requested", request, export_id, {})
    kit = EvidenceKit.for_site(settings.evidence_key_path, settings.models_dir)
    with sessions() as session:  # again: the extract then holds the request just audited
        material = load_material(session, request)
    summary = build_bundle(
        material, open_object_store(settings), kit.redactor(query_detector(settings)),
        kit.signer, out, export_id,
    )  # fmt: skip
    sha256 = hashlib.sha256(out.read_bytes()).hexdigest()
    fingerprint = kit.signer.public_key.fingerprint
    built = {"sha256": sha256, "key_fingerprint": fingerprint, "out": str(out)}
    _audit(sessions, principal, "export_built", request, export_id, built)
    files = counted(len(summary.manifest.files), "file")
    console.print(f"{out}: {files}, SHA-256 {sha256}", markup=False)
    console.print(f"signed by key {kit.signer.public_key.fingerprint}", markup=False)


def _audit(
    sessions: sessionmaker[Session],
    principal: Principal,
    action: str,
    request: ExportRequest,
    export_id: str,
    details: dict[str, str],
) -> None:
    from index.catalog import append_audit

    with sessions() as session:
        append_audit(
            session, principal=principal.name, role=principal.role, action=action,
            case_id=request.case_id, purpose=request.purpose, target=f"export:{export_id}",
            filters={"track_ids": list(request.track_ids), **details},
        )  # fmt: skip
        session.commit()


@exports.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="the bundle (.zip) to check")],
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="file with the exporting site's base64 public key"),
    ] = None,
) -> None:
    """Check every file's SHA-256, that no file is missing or added, and the signature; exits 1
    naming each problem."""
    from evidence.manifest import verify_bundle
    from storage.ed25519 import PublicKey, SignatureKeyError

    trusted = None
    if public_key is not None:
        try:
            trusted = PublicKey.from_b64(public_key.read_text())
        except (OSError, SignatureKeyError) as error:
            raise typer.BadParameter(f"--public-key {public_key}: {error}") from error
    result = verify_bundle(bundle, trusted)
    for problem in result.problems:
        console.print(f"FAILED {problem}", markup=False, soft_wrap=True)
    source = "trusted key" if result.trusted_key else "the bundle's own key (compare it)"
    console.print(f"key {result.key_fingerprint or '-'} ({source})", markup=False)
    if not result.ok:
        console.print(f"{bundle}: NOT verified ({len(result.problems)} problem(s))", markup=False)
        raise typer.Exit(1)
    files = counted(0 if result.manifest is None else len(result.manifest.files), "file")
    console.print(f"{bundle}: OK, {files} and the signature verified", markup=False)


@exports.command("public-key")
def public_key() -> None:
    """Print the site's export-signing public key (base64; its fingerprint on stderr)."""
    from storage.ed25519 import Signer

    signer = Signer.load_or_create(Settings().evidence_key_path)
    typer.echo(signer.public_key.b64)  # stdout alone: `> site.pub` makes a --public-key file
    typer.echo(f"fingerprint {signer.public_key.fingerprint}", err=True)
