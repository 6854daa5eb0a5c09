"""Signed manifests: a written bundle verifies; each tamper (a changed byte, a removed file, an
added file, a forged signature, a swapped key) is detected and named, by the library and by
`skynet export verify`."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.manifest import (
    MANIFEST_NAME,
    PUBLIC_KEY_NAME,
    SIGNATURE_NAME,
    BundleError,
    verify_bundle,
    write_bundle,
)
from skynet.cli import app
from storage.ed25519 import Signer


def make_bundle(tmp_path: Path, signer: Signer) -> Path:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(bytes(range(256)) * 64)
    metadata = tmp_path / "metadata.json"
    metadata.write_text('{"tracks": [1]}')
    out = tmp_path / "bundle.zip"
    write_bundle(
        out,
        {"clips/track-1.mp4": clip, "metadata.json": metadata},
        signer,
        export_id="e1",
        case_id="c1",
        created_at="2026-12-06T05:00:00+00:00",
    )
    return out


def rewrite(bundle: Path, change: Callable[[dict[str, bytes]], dict[str, bytes]]) -> None:
    """Rewrite the zip with its members passed through `change` (name → bytes)."""
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(bundle, "w") as archive:
        for name, data in change(members).items():
            archive.writestr(name, data)


def flip_clip_byte(members: dict[str, bytes]) -> dict[str, bytes]:
    clip = bytearray(members["clips/track-1.mp4"])
    clip[1000] ^= 0x01
    return {**members, "clips/track-1.mp4": bytes(clip)}


def remove_metadata(members: dict[str, bytes]) -> dict[str, bytes]:
    return {name: data for name, data in members.items() if name != "metadata.json"}


def add_file(members: dict[str, bytes]) -> dict[str, bytes]:
    return {**members, "clips/extra.mp4": b"planted"}


def forge_signature(members: dict[str, bytes]) -> dict[str, bytes]:
    """A changed clip with a manifest rewritten to match, signed by another key."""
    forger = Signer.generate()
    changed = flip_clip_byte(members)
    manifest = changed[MANIFEST_NAME].decode()
    old = hashlib.sha256(members["clips/track-1.mp4"]).hexdigest()
    new = hashlib.sha256(changed["clips/track-1.mp4"]).hexdigest()
    manifest_bytes = manifest.replace(old, new).encode()
    signature = forger.sign(manifest_bytes).encode()
    return {**changed, MANIFEST_NAME: manifest_bytes, SIGNATURE_NAME: signature}


def swap_key(members: dict[str, bytes]) -> dict[str, bytes]:
    """A forger re-signs everything with their own key and ships that key in the bundle."""
    forger = Signer.generate()
    manifest = members[MANIFEST_NAME]  # still naming the site's key fingerprint
    return {
        **members,
        SIGNATURE_NAME: forger.sign(manifest).encode(),
        PUBLIC_KEY_NAME: forger.public_key.b64.encode(),
    }


def test_written_bundle_verifies(tmp_path: Path) -> None:
    signer = Signer.generate()
    bundle = make_bundle(tmp_path, signer)
    result = verify_bundle(bundle, signer.public_key)
    assert result.ok, result.problems
    assert result.key_fingerprint == signer.public_key.fingerprint
    assert result.manifest is not None
    assert [e.path for e in result.manifest.files] == ["clips/track-1.mp4", "metadata.json"]
    assert verify_bundle(bundle).ok  # the bundle's own key, when no trusted key is given


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (flip_clip_byte, "clips/track-1.mp4: SHA-256"),
        (remove_metadata, "metadata.json: missing"),
        (add_file, "files not in the manifest: ['clips/extra.mp4']"),
        (forge_signature, "manifest.sig: not a valid signature"),
    ],
)
def test_each_tamper_is_detected(
    tmp_path: Path, tamper: Callable[[dict[str, bytes]], dict[str, bytes]], named: str
) -> None:
    signer = Signer.generate()
    bundle = make_bundle(tmp_path, signer)
    rewrite(bundle, tamper)
    for trusted in (signer.public_key, None):
        result = verify_bundle(bundle, trusted)
        assert not result.ok
        assert any(named in problem for problem in result.problems), result.problems


def test_a_key_swapped_in_is_caught_by_the_trusted_key_and_the_fingerprint(tmp_path: Path) -> None:
    signer = Signer.generate()
    bundle = make_bundle(tmp_path, signer)
    rewrite(bundle, swap_key)
    trusted = verify_bundle(bundle, signer.public_key)
    assert any("not the trusted key" in p for p in trusted.problems), trusted.problems
    # without a trusted key the manifest's fingerprint (signed data) still names the site's key
    untrusted = verify_bundle(bundle)
    assert any("names signing key" in p for p in untrusted.problems), untrusted.problems


def test_not_a_zip_and_bad_member_names(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert "not a readable zip" in verify_bundle(junk).problems[0]
    source = tmp_path / "f.txt"
    source.write_text("x")
    for name in ("../escape.txt", "/abs.txt", MANIFEST_NAME):
        with pytest.raises(BundleError):
            write_bundle(
                tmp_path / "b.zip", {name: source}, Signer.generate(),
                export_id="e", case_id="c", created_at="t",
            )  # fmt: skip
    assert not (tmp_path / "b.zip").exists()


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    signer = Signer.generate()
    bundle = make_bundle(tmp_path, signer)
    key_file = tmp_path / "site.pub"
    key_file.write_text(signer.public_key.b64 + "\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["export", "verify", str(bundle), "--public-key", str(key_file)])
    assert ok.exit_code == 0, ok.output
    assert "OK, 2 files" in ok.output and signer.public_key.fingerprint in ok.output
    rewrite(bundle, flip_clip_byte)
    bad = runner.invoke(app, ["export", "verify", str(bundle), "--public-key", str(key_file)])
    assert bad.exit_code == 1
    assert "FAILED clips/track-1.mp4" in bad.output and "NOT verified" in bad.output
