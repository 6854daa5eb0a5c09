"""Local-directory object store (the embedded default) and its HMAC-signed object URLs."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from storage.objectstore import (
    DEFAULT_CONTENT_TYPE,
    InvalidKeyError,
    ObjectNotFoundError,
    StorageUnavailableError,
    StoredObject,
    iter_chunks,
    require_file,
    sha256_of_file,
    validate_expiry,
    validate_key,
    validate_prefix,
    validate_range,
)
from storage.signing import sign, signature_valid

DATA_SUFFIX = "~data"
META_SUFFIX = "~meta.json"
TEMP_PREFIX = ".tmp~"
MIN_SIGNING_KEY_BYTES = 16
# errno values that mean "the storage itself is unusable now", not "this request was wrong".
_UNAVAILABLE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EROFS, errno.EIO, errno.ENOTCONN, errno.ESTALE, errno.EDQUOT}
)


def verify_signature(
    key: str, expires: int, sig: str, signing_key: bytes, now: float | None = None
) -> bool:
    """True if `sig` signs (key, expires) with `signing_key` and `expires` (unix s) is not past.

    `now` is unix seconds (defaults to the current time). Invalid keys, expired links and wrong
    signatures all give False; the comparison is constant-time.
    """
    try:
        validate_key(key)
    except InvalidKeyError:
        return False
    return signature_valid(signing_key, sig, key, expires=expires, now=now)


class LocalObjectStore:
    """Objects as files under `root`: `<key>~data` plus `<key>~meta.json`, written atomically.

    The suffixes keep a key such as `a/b` and a key such as `a/b/c` from clashing (a file and
    a directory of the same name), so the local store accepts exactly the keys S3 accepts.
    """

    def __init__(self, root: Path, public_base_url: str, signing_key: bytes) -> None:
        if len(signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(
                f"signing_key must be at least {MIN_SIGNING_KEY_BYTES} bytes, "
                f"got {len(signing_key)}"
            )
        if not public_base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"public_base_url must start with http:// or https://: {public_base_url!r}"
            )
        self.root = Path(root)
        self.public_base_url = public_base_url.rstrip("/")
        self._signing_key = bytes(signing_key)
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalObjectStore(root={str(self.root)!r})"

    def _data_path(self, key: str) -> Path:
        return self.root / (validate_key(key) + DATA_SUFFIX)

    def _meta_path(self, key: str) -> Path:
        return self.root / (validate_key(key) + META_SUFFIX)

    def put_bytes(
        self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        """Store `data` under `key` atomically (replacing any previous object)."""
        return self._put_chunks(key, [bytes(data)], content_type)

    def put_file(
        self, key: str, path: Path, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        """Copy a file into the store in 1 MiB chunks, hashing as it goes."""
        source = require_file(path)
        with source.open("rb") as stream:
            return self._put_chunks(key, iter_chunks(stream), content_type)

    def _put_chunks(self, key: str, chunks: Iterable[bytes], content_type: str) -> StoredObject:
        data_path = self._data_path(key)
        meta_path = self._meta_path(key)
        temp_data = temp_meta = None
        try:
            temp_data, stream = self._open_temp(data_path.parent)
            digest = hashlib.sha256()
            size_bytes = 0
            with stream:
                for chunk in chunks:
                    digest.update(chunk)
                    size_bytes += len(chunk)
                    stream.write(chunk)
                stream.flush()
                os.fsync(stream.fileno())
            stored = StoredObject(key, size_bytes, digest.hexdigest(), content_type)
            temp_meta, meta_stream = self._open_temp(meta_path.parent)
            with meta_stream:
                meta_stream.write(json.dumps(_meta_dict(stored)).encode())
            os.replace(temp_data, data_path)
            temp_data = None
            os.replace(temp_meta, meta_path)
            temp_meta = None
            return stored
        except OSError as exc:
            _raise_if_unavailable(exc, f"writing {key!r}")
            raise
        finally:
            for leftover in (temp_data, temp_meta):
                if leftover is not None:
                    leftover.unlink(missing_ok=True)

    def _open_temp(self, directory: Path) -> tuple[Path, BinaryIO]:
        # A concurrent delete may remove an emptied directory between mkdir and open: retry.
        for _attempt in range(3):
            directory.mkdir(parents=True, exist_ok=True)
            temp_path = directory / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
            try:
                return temp_path, temp_path.open("xb")
            except FileNotFoundError:
                continue
        raise StorageUnavailableError(f"cannot create a temporary file in {directory}")

    def get(self, key: str) -> bytes:
        try:
            return self._data_path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(key) from None
        except OSError as exc:
            _raise_if_unavailable(exc, f"reading {key!r}")
            raise

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Bytes [start, start + length) of the object; shorter (or empty) past its end."""
        validate_range(start, length)
        try:
            with self._data_path(key).open("rb") as stream:
                stream.seek(start)
                return stream.read(length)
        except FileNotFoundError:
            raise ObjectNotFoundError(key) from None
        except OSError as exc:
            _raise_if_unavailable(exc, f"reading {key!r}")
            raise

    def stat(self, key: str) -> StoredObject:
        data_path = self._data_path(key)
        try:
            size_bytes = data_path.stat().st_size
        except FileNotFoundError:
            raise ObjectNotFoundError(key) from None
        try:
            meta = json.loads(self._meta_path(key).read_text())
            if int(meta["size_bytes"]) == size_bytes:
                return StoredObject(key, size_bytes, str(meta["sha256"]), str(meta["content_type"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        # Metadata missing or stale (e.g. a crash between the two renames): recompute.
        sha256, size_bytes = sha256_of_file(data_path)
        return StoredObject(key, size_bytes, sha256, DEFAULT_CONTENT_TYPE)

    def exists(self, key: str) -> bool:
        return self._data_path(key).is_file()

    def list(self, prefix: str = "") -> list[StoredObject]:
        """Objects whose key starts with `prefix`, sorted by key."""
        validate_prefix(prefix)
        base = self.root / prefix.rpartition("/")[0]
        keys: list[str] = []
        for directory, _subdirs, files in os.walk(base):
            for name in files:
                if not name.endswith(DATA_SUFFIX):
                    continue
                relative = Path(directory, name).relative_to(self.root).as_posix()
                key = relative[: -len(DATA_SUFFIX)]
                if key.startswith(prefix):
                    keys.append(key)
        found = []
        for key in sorted(keys):
            try:
                found.append(self.stat(key))
            except ObjectNotFoundError:
                continue  # deleted while listing
        return found

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error (as in S3)."""
        data_path = self._data_path(key)
        try:
            data_path.unlink(missing_ok=True)
            self._meta_path(key).unlink(missing_ok=True)
        except OSError as exc:
            _raise_if_unavailable(exc, f"deleting {key!r}")
            raise
        directory = data_path.parent
        while directory != self.root:
            try:
                directory.rmdir()
            except OSError:
                break
            directory = directory.parent

    def presigned_url(self, key: str, expires_s: int) -> str:
        """`{public_base_url}/{key}?expires=<unix s>&sig=<hmac-sha256 hex>`."""
        validate_key(key)
        validate_expiry(expires_s)
        expires_unix_s = int(time.time()) + expires_s
        sig = sign(self._signing_key, key, expires_unix_s)
        return f"{self.public_base_url}/{quote(key)}?expires={expires_unix_s}&sig={sig}"

    def check(self) -> None:
        """Raise `StorageUnavailableError` unless the root directory takes a write."""
        if not self.root.is_dir():
            raise StorageUnavailableError(f"object store root {self.root} is not a directory")
        probe = self.root / f"{TEMP_PREFIX}probe-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageUnavailableError(
                f"object store root {self.root} is not writable: {exc}"
            ) from exc


def _meta_dict(stored: StoredObject) -> dict[str, object]:
    return {
        "size_bytes": stored.size_bytes,
        "sha256": stored.sha256,
        "content_type": stored.content_type,
    }


def _raise_if_unavailable(exc: OSError, action: str) -> None:
    if exc.errno in _UNAVAILABLE_ERRNOS:
        raise StorageUnavailableError(
            f"local object store unavailable while {action}: {exc}"
        ) from exc
