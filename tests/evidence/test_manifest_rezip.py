"""A bundle unzipped and zipped again (`zip -r`, a file manager) verifies: the folder entries
that adds carry no content; a folder entry that does carry bytes is still an added file."""

from __future__ import annotations

import zipfile
from pathlib import Path

from evidence.manifest import verify_bundle, write_bundle
from storage.ed25519 import Signer


def bundle(tmp_path: Path, signer: Signer) -> Path:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(bytes(range(256)) * 64)
    shot = tmp_path / "shot.jpg"
    shot.write_bytes(b"\xff\xd8best shot\xff\xd9")
    out = tmp_path / "bundle.zip"
    files = {"clips/track-1.mp4": clip, "shots/track-1.jpg": shot}
    write_bundle(out, files, signer, export_id="e1", case_id="c1", created_at="2026-12-06")
    return out


def rezip(source: Path, out: Path, folder_bytes: bytes = b"") -> Path:
    """The members again, each folder first as its own entry, as `zip -r` writes them."""
    with zipfile.ZipFile(source) as archive:
        members = [(name, archive.read(name)) for name in archive.namelist()]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder in sorted({name.rsplit("/", 1)[0] + "/" for name, _ in members if "/" in name}):
            archive.writestr(zipfile.ZipInfo(folder), folder_bytes)
        for name, data in members:
            archive.writestr(name, data)
    return out


def test_a_rezipped_bundle_with_folder_entries_verifies(tmp_path: Path) -> None:
    signer = Signer.generate()
    original = bundle(tmp_path, signer)
    again = rezip(original, tmp_path / "again.zip")
    with zipfile.ZipFile(again) as archive:
        assert {"clips/", "shots/"} <= set(archive.namelist())
    verified = verify_bundle(again, signer.public_key)
    assert verified.ok, verified.problems


def test_a_folder_entry_with_content_is_an_added_file(tmp_path: Path) -> None:
    signer = Signer.generate()
    smuggled = rezip(bundle(tmp_path, signer), tmp_path / "smuggled.zip", b"hidden bytes")
    verified = verify_bundle(smuggled, signer.public_key)
    assert not verified.ok
    assert any("not in the manifest" in p and "clips/" in p for p in verified.problems)
