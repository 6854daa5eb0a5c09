"""An export's stored bundle verified on the server (issue #18 part 7): checked the way
`skynet export verify` checks a copy — every file against the signed manifest, nothing missing
or added, the signature by this site's key — plus the bundle's SHA-256 against the one recorded
when it was built, so the case page can show "verified" without the user downloading the bundle
and running the tool. The bundle is copied to a temporary file in ranges (never held whole in
memory) and removed afterwards."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from evidence.manifest import verify_bundle
from storage.ed25519 import PublicKey
from storage.objectstore import ObjectStore

COPY_CHUNK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class StoredBundleCheck:
    sha256: str  # of the stored bundle that was checked
    key_fingerprint: str | None
    trusted_key: bool
    files_checked: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def copy_object(store: ObjectStore, key: str, size_bytes: int, path: Path) -> None:
    with path.open("wb") as out:
        for start in range(0, size_bytes, COPY_CHUNK_BYTES):
            out.write(store.get_range(key, start, min(COPY_CHUNK_BYTES, size_bytes - start)))


def check_stored_bundle(
    store: ObjectStore, key: str, built_sha256: str, trusted: PublicKey
) -> StoredBundleCheck:
    """Verify the bundle stored at `key` (ObjectNotFoundError when it is gone)."""
    stored = store.stat(key)
    with tempfile.TemporaryDirectory(prefix="skynet-verify-") as work:
        path = Path(work) / "bundle.zip"
        copy_object(store, key, stored.size_bytes, path)
        report = verify_bundle(path, trusted)
    problems = list(report.problems)
    if stored.sha256 != built_sha256:
        problems.insert(0, f"the stored bundle's SHA-256 {stored.sha256} is not the {built_sha256}"
                           " recorded when it was built")  # fmt: skip
    files = 0 if report.manifest is None else len(report.manifest.files)
    return StoredBundleCheck(
        stored.sha256, report.key_fingerprint, report.trusted_key, files, tuple(problems)
    )
