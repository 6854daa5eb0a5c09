"""Object storage interface: the `ObjectStore` protocol, `StoredObject`, errors and key rules."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

MAX_KEY_BYTES = 1024
MAX_KEY_SEGMENT_CHARS = 200
MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600
HASH_CHUNK_BYTES = 1024 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"

_KEY_CHARS = re.compile(r"[A-Za-z0-9._=/-]*")


class ObjectStoreError(Exception):
    """Base class of every object storage error."""


class ObjectNotFoundError(ObjectStoreError, KeyError):
    """No object is stored under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"object not found: {self.key!r}"


class InvalidKeyError(ObjectStoreError, ValueError):
    """The key breaks the key rules (see `validate_key`)."""


class StorageUnavailableError(ObjectStoreError):
    """The backend cannot be reached or refuses service (callers spool and retry)."""


class StorageAuthError(StorageUnavailableError):
    """The backend refused the credentials or the signature."""


class ByteReader(Protocol):
    """Anything with a binary `read(n)`: files, HTTP response bodies."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class StoredObject:
    """One stored object: key, size, SHA-256 of the bytes (hex) and content type."""

    key: str
    size_bytes: int
    sha256: str
    content_type: str


@runtime_checkable
class ObjectStore(Protocol):
    """Blob storage by key; implemented by a local directory and by S3-compatible servers."""

    def put_bytes(
        self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject: ...

    def put_file(
        self, key: str, path: Path, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject: ...

    def get(self, key: str) -> bytes: ...

    def get_range(self, key: str, start: int, length: int) -> bytes: ...

    def stat(self, key: str) -> StoredObject: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> list[StoredObject]: ...

    def delete(self, key: str) -> None: ...

    def presigned_url(self, key: str, expires_s: int) -> str: ...

    def check(self) -> None: ...


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise `InvalidKeyError`.

    Allowed: ASCII letters, digits and `. _ = - /`; segments separated by single `/`;
    no leading or trailing `/`, no `..` anywhere, no `.` segment, at most 1024 bytes.
    """
    if not isinstance(key, str):
        raise InvalidKeyError(f"object key must be a str, got {type(key).__name__}")
    if not key:
        raise InvalidKeyError("object key is empty")
    if len(key) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"object key is {len(key)} chars, limit {MAX_KEY_BYTES}")
    if "\\" in key:
        raise InvalidKeyError(f"object key {key!r} contains a backslash")
    if key.startswith("/"):
        raise InvalidKeyError(f"object key {key!r} is an absolute path")
    if ".." in key:
        raise InvalidKeyError(f"object key {key!r} contains '..'")
    if not _KEY_CHARS.fullmatch(key):
        bad = sorted({c for c in key if not _KEY_CHARS.fullmatch(c)})
        raise InvalidKeyError(
            f"object key {key!r} has characters outside [A-Za-z0-9._=/-]: {bad!r}"
        )
    for segment in key.split("/"):
        if segment in ("", "."):
            raise InvalidKeyError(f"object key {key!r} has an empty or '.' path segment")
        if len(segment) > MAX_KEY_SEGMENT_CHARS:
            raise InvalidKeyError(
                f"object key {key!r} has a segment over {MAX_KEY_SEGMENT_CHARS} chars"
            )
    return key


def validate_prefix(prefix: str) -> str:
    """Return `prefix` if listing by it is safe: empty, or a key start (may end in `/`)."""
    if prefix == "":
        return prefix
    validate_key(prefix[:-1] if prefix.endswith("/") and len(prefix) > 1 else prefix)
    return prefix


def validate_range(start: int, length: int) -> None:
    """Raise `ValueError` unless `start` and `length` are non-negative ints."""
    if start < 0:
        raise ValueError(f"range start must be >= 0, got {start}")
    if length < 0:
        raise ValueError(f"range length must be >= 0, got {length}")


def validate_expiry(expires_s: int) -> None:
    """Raise `ValueError` unless 1 <= expires_s <= 7 days (the S3 limit)."""
    if not 1 <= expires_s <= MAX_PRESIGN_EXPIRY_S:
        raise ValueError(f"expires_s must be in [1, {MAX_PRESIGN_EXPIRY_S}], got {expires_s}")


def sha256_of_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    """SHA-256 hex digest and total length of a stream of chunks."""
    digest = hashlib.sha256()
    size_bytes = 0
    for chunk in chunks:
        digest.update(chunk)
        size_bytes += len(chunk)
    return digest.hexdigest(), size_bytes


def iter_chunks(stream: ByteReader, chunk_bytes: int = HASH_CHUNK_BYTES) -> Iterable[bytes]:
    """Read a binary stream in fixed-size chunks until EOF."""
    while chunk := stream.read(chunk_bytes):
        yield chunk


def sha256_of_file(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in 1 MiB chunks."""
    with path.open("rb") as stream:
        return sha256_of_chunks(iter_chunks(stream))


def require_file(path: Path) -> Path:
    """Return `path` as a Path if it is an existing regular file, else raise FileNotFoundError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cannot upload {path}: not an existing regular file")
    return path
