"""The signed manifest of an evidence bundle: SHA-256 of every file, Ed25519 over the manifest.

A bundle is one .zip. Besides its content it holds three members: `manifest.json` (canonical
JSON: the export's header and each file's path, size and SHA-256), `manifest.sig` (the base64
Ed25519 signature of the exact bytes of manifest.json) and `signing_key.pub` (the base64 public
key whose SHA-256 fingerprint the manifest also names). `verify_bundle` checks that every listed
file is there with its hash, that nothing else is, and the signature — against a public key the
checker trusts (`trusted`), or else against the bundle's own key, whose fingerprint it reports so
a person can compare it with the one the exporting site publishes.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from storage.ed25519 import PublicKey, SignatureKeyError, Signer
from storage.objectstore import sha256_of_file

FORMAT = "skynet-evidence/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
PUBLIC_KEY_NAME = "signing_key.pub"
SIGNING_MEMBERS = frozenset({MANIFEST_NAME, SIGNATURE_NAME, PUBLIC_KEY_NAME})
STORED_SUFFIXES = (".mp4", ".jpg", ".jpeg")  # already compressed: zipped without deflate
CHUNK_BYTES = 1024 * 1024


class BundleError(ValueError):
    """A bundle that cannot be written as asked (bad member name, missing file)."""


@dataclass(frozen=True)
class ManifestEntry:
    """One file of the bundle: its path inside the zip, size and SHA-256 (hex)."""

    path: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What the signature covers: the export's header (case, export id, time, key) and files."""

    export_id: str
    case_id: str
    created_at: str  # ISO 8601, UTC
    key_fingerprint: str
    files: tuple[ManifestEntry, ...]

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): the bytes that are signed."""
        document = {
            "format": FORMAT,
            "export_id": self.export_id,
            "case_id": self.case_id,
            "created_at": self.created_at,
            "key_fingerprint": self.key_fingerprint,
            "files": [
                {"path": e.path, "size_bytes": e.size_bytes, "sha256": e.sha256} for e in self.files
            ],
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse manifest.json; ValueError naming what is malformed."""
        try:
            document: Any = json.loads(data)
            if document.get("format") != FORMAT:
                raise ValueError(f"format is {document.get('format')!r}, not {FORMAT!r}")
            files = tuple(
                ManifestEntry(str(f["path"]), int(f["size_bytes"]), str(f["sha256"]))
                for f in document["files"]
            )
            return cls(
                export_id=str(document["export_id"]),
                case_id=str(document["case_id"]),
                created_at=str(document["created_at"]),
                key_fingerprint=str(document["key_fingerprint"]),
                files=files,
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{MANIFEST_NAME} is malformed: {error}") from error


def check_member_name(name: str) -> str:
    """`name` if it is a safe relative zip path (no `..`, not absolute, not a signing member)."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or name.endswith("/"):
        raise BundleError(f"bundle member name {name!r} is not a plain relative path")
    if name in SIGNING_MEMBERS:
        raise BundleError(f"bundle member name {name!r} is reserved for the signature")
    return name


def write_bundle(
    out_path: Path,
    members: Mapping[str, Path],
    signer: Signer,
    *,
    export_id: str,
    case_id: str,
    created_at: str,
) -> Manifest:
    """Write the .zip at `out_path`: every member (zip name → file on disk), then the manifest
    of their hashes, its signature and the public key. Written to a temporary name and renamed,
    so a crash never leaves a half bundle under the final name."""
    entries = []
    for name in sorted(members):
        check_member_name(name)
        source = members[name]
        if not source.is_file():
            raise BundleError(f"bundle member {name!r}: {source} is not a file")
        sha256, size_bytes = sha256_of_file(source)
        entries.append(ManifestEntry(name, size_bytes, sha256))
    manifest = Manifest(
        export_id=export_id,
        case_id=case_id,
        created_at=created_at,
        key_fingerprint=signer.public_key.fingerprint,
        files=tuple(entries),
    )
    manifest_bytes = manifest.to_bytes()
    partial = out_path.with_name(out_path.name + ".partial")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(partial, "w") as archive:
        for entry in entries:
            stored = entry.path.lower().endswith(STORED_SUFFIXES)
            compression = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.write(members[entry.path], entry.path, compress_type=compression)
        archive.writestr(MANIFEST_NAME, manifest_bytes, zipfile.ZIP_DEFLATED)
        archive.writestr(SIGNATURE_NAME, signer.sign(manifest_bytes) + "\n")
        archive.writestr(PUBLIC_KEY_NAME, signer.public_key.b64 + "\n")
    partial.replace(out_path)
    return manifest


@dataclass(frozen=True)
class Verification:
    """What `verify_bundle` found: `problems` is empty when the bundle is intact and signed."""

    problems: tuple[str, ...]
    key_fingerprint: str | None = None
    trusted_key: bool = False
    manifest: Manifest | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems


def _member_sha256(archive: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest, size_bytes = hashlib.sha256(), 0
    with archive.open(name) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            size_bytes += len(chunk)
    return digest.hexdigest(), size_bytes


def _signing_key(
    archive: zipfile.ZipFile, trusted: PublicKey | None, problems: list[str]
) -> PublicKey | None:
    try:
        bundled = PublicKey.from_b64(archive.read(PUBLIC_KEY_NAME).decode("ascii"))
    except (KeyError, UnicodeDecodeError, SignatureKeyError) as error:
        problems.append(f"{PUBLIC_KEY_NAME}: missing or not an Ed25519 public key ({error})")
        bundled = None
    if trusted is None:
        return bundled
    if bundled is not None and bundled.raw != trusted.raw:
        problems.append(
            f"{PUBLIC_KEY_NAME}: the bundle names key {bundled.fingerprint}, not the trusted key"
            f" {trusted.fingerprint}"
        )
    return trusted


def _check_files(archive: zipfile.ZipFile, manifest: Manifest, problems: list[str]) -> None:
    members = archive.infolist()
    names = [info.filename for info in members]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"duplicate members: {duplicates}")
    listed = {entry.path for entry in manifest.files}
    # a bundle unzipped and zipped again (`zip -r`) gains empty folder entries: no content
    folders = {info.filename for info in members if info.is_dir() and info.file_size == 0}
    extra = sorted(set(names) - listed - SIGNING_MEMBERS - folders)
    if extra:
        problems.append(f"files not in the manifest: {extra}")
    for entry in manifest.files:
        if entry.path not in names:
            problems.append(f"{entry.path}: missing")
            continue
        sha256, size_bytes = _member_sha256(archive, entry.path)
        if sha256 != entry.sha256 or size_bytes != entry.size_bytes:
            problems.append(
                f"{entry.path}: SHA-256 {sha256} ({size_bytes} bytes) does not match the"
                f" manifest's {entry.sha256} ({entry.size_bytes} bytes)"
            )


def verify_bundle(path: Path, trusted: PublicKey | None = None) -> Verification:
    """Check every file of the bundle at `path`, that no file is missing or added, and the
    manifest's signature; never raises on a damaged bundle (its problems are listed)."""
    problems: list[str] = []
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        return Verification((f"{path}: not a readable zip ({error})",))
    with archive:
        key = _signing_key(archive, trusted, problems)
        try:
            manifest_bytes = archive.read(MANIFEST_NAME)
            manifest: Manifest | None = Manifest.from_bytes(manifest_bytes)
        except KeyError:
            problems.append(f"{MANIFEST_NAME}: missing")
            return Verification(tuple(problems), None if key is None else key.fingerprint)
        except ValueError as error:
            problems.append(str(error))
            manifest = None
        try:
            signature = archive.read(SIGNATURE_NAME).decode("ascii").strip()
        except (KeyError, UnicodeDecodeError):
            signature = ""
        if key is not None and not key.verify(signature, manifest_bytes):
            problems.append(f"{SIGNATURE_NAME}: not a valid signature of {MANIFEST_NAME} by key"
                            f" {key.fingerprint}")  # fmt: skip
        if manifest is not None:
            if key is not None and manifest.key_fingerprint != key.fingerprint:
                problems.append(
                    f"{MANIFEST_NAME}: names signing key {manifest.key_fingerprint}, checked"
                    f" against {key.fingerprint}"
                )
            _check_files(archive, manifest, problems)
    return Verification(
        tuple(problems),
        None if key is None else key.fingerprint,
        trusted_key=trusted is not None,
        manifest=manifest,
    )
