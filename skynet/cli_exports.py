"""`skynet export build …` and `skynet export verify BUNDLE` (issue #17): evidence bundles.

`verify` needs nothing of the site (no catalog, no settings): a court or an auditor runs it on a
bundle with the exporting site's public key (`--public-key`, a file holding the base64 key
`skynet export public-key` prints); without it the bundle's own key is used and its fingerprint
printed, to be compared with the one the site publishes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from skynet.settings import Settings

exports = typer.Typer(help="Evidence exports: signed case bundles of redacted footage")
console = Console()


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
    files = 0 if result.manifest is None else len(result.manifest.files)
    console.print(f"{bundle}: OK, {files} files and the signature verified", markup=False)


@exports.command("public-key")
def public_key() -> None:
    """Print the site's export-signing public key (base64; its fingerprint on stderr)."""
    from storage.ed25519 import Signer

    signer = Signer.load_or_create(Settings().evidence_key_path)
    typer.echo(signer.public_key.b64)  # stdout alone: `> site.pub` makes a --public-key file
    typer.echo(f"fingerprint {signer.public_key.fingerprint}", err=True)
