"""S3-compatible object store (MinIO, AWS S3, Swift s3api) over the `minio` client."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError
from urllib3.util import Retry, Timeout

from storage.objectstore import (
    DEFAULT_CONTENT_TYPE,
    ObjectNotFoundError,
    ObjectStoreError,
    StorageAuthError,
    StorageUnavailableError,
    StoredObject,
    iter_chunks,
    require_file,
    sha256_of_chunks,
    sha256_of_file,
    validate_expiry,
    validate_key,
    validate_prefix,
    validate_range,
)

SHA256_METADATA_KEY = "sha256"
HEALTH_PROBE_KEY = "health-probe/absent"
_SHA256_HEADER = f"x-amz-meta-{SHA256_METADATA_KEY}"
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchObject"})
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "InvalidToken",
        "ExpiredToken",
        "AuthorizationHeaderMalformed",
    }
)
_UNAVAILABLE_CODES = frozenset(
    {"ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout", "ServerError"}
)
_BUCKET_EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
_TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)


def _http_client(
    connect_timeout_s: float, read_timeout_s: float, retries: int
) -> urllib3.PoolManager:
    return urllib3.PoolManager(
        timeout=Timeout(connect=connect_timeout_s, read=read_timeout_s),
        maxsize=16,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=Retry(total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


def _from_s3_error(exc: S3Error, action: str, key: str | None) -> ObjectStoreError:
    if exc.code in _NOT_FOUND_CODES and key is not None:
        return ObjectNotFoundError(key)
    if exc.code in _AUTH_CODES:
        return StorageAuthError(
            f"S3 refused the credentials or signature while {action}: {exc.code}: {exc.message}"
        )
    if exc.code in _UNAVAILABLE_CODES:
        return StorageUnavailableError(f"S3 unavailable while {action}: {exc.code}: {exc.message}")
    return ObjectStoreError(f"S3 error while {action}: {exc.code}: {exc.message}")


@contextmanager
def _translated_errors(action: str, key: str | None = None) -> Iterator[None]:
    """Turn minio / urllib3 errors into the object store's error types."""
    try:
        yield
    except S3Error as exc:
        raise _from_s3_error(exc, action, key) from exc
    except (ServerError, InvalidResponseError) as exc:
        raise StorageUnavailableError(f"S3 failed while {action}: {exc}") from exc
    except _TRANSPORT_ERRORS as exc:
        raise StorageUnavailableError(f"S3 unreachable or failing while {action}: {exc}") from exc


class S3ObjectStore:
    """Objects in one bucket of an S3-compatible server; the SHA-256 rides as user metadata.

    The bucket is created on first write or `check()`, not in the constructor, so a store can
    be built while the server is down (the recorder spools until `check()` passes).
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str = "us-east-1",
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        retries: int = 2,
    ) -> None:
        if "://" in endpoint or "/" in endpoint:
            raise ValueError(
                f"S3 endpoint must be host[:port] without scheme or path: {endpoint!r}"
            )
        if not _BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
            raise ValueError(f"invalid S3 bucket name {bucket!r} (3-63 chars of a-z 0-9 . -)")
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self._client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=_http_client(connect_timeout_s, read_timeout_s, retries),
        )
        self._bucket_ready = False

    def __repr__(self) -> str:
        return f"S3ObjectStore(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with _translated_errors(f"creating bucket {self.bucket!r}"):
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket, location=self.region)
                except S3Error as exc:
                    if exc.code not in _BUCKET_EXISTS_CODES:
                        raise
        self._bucket_ready = True

    def put_bytes(
        self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        validate_key(key)
        sha256, size_bytes = sha256_of_chunks([data])
        self._ensure_bucket()
        with _translated_errors(f"writing {key!r}", key):
            self._client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                size_bytes,
                content_type=content_type,
                metadata={SHA256_METADATA_KEY: sha256},
            )
        return StoredObject(key, size_bytes, sha256, content_type)

    def put_file(
        self, key: str, path: Path, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        """Upload a file: one pass to hash it, one streamed (multipart when large) upload."""
        validate_key(key)
        source = require_file(path)
        sha256, size_bytes = sha256_of_file(source)
        self._ensure_bucket()
        with _translated_errors(f"writing {key!r}", key):
            self._client.fput_object(
                self.bucket,
                key,
                str(source),
                content_type=content_type,
                metadata={SHA256_METADATA_KEY: sha256},
            )
        return StoredObject(key, size_bytes, sha256, content_type)

    def get(self, key: str) -> bytes:
        validate_key(key)
        with _translated_errors(f"reading {key!r}", key):
            response = self._client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Bytes [start, start + length) of the object; shorter (or empty) past its end."""
        validate_key(key)
        validate_range(start, length)
        if length == 0:
            self.stat(key)  # still report a missing object
            return b""
        with _translated_errors(f"reading {key!r}", key):
            try:
                response = self._client.get_object(self.bucket, key, offset=start, length=length)
            except S3Error as exc:
                if exc.code == "InvalidRange":  # start at or past the end
                    return b""
                raise
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def stat(self, key: str) -> StoredObject:
        return self._stat(validate_key(key))

    def _stat(self, key: str) -> StoredObject:
        with _translated_errors(f"reading metadata of {key!r}", key):
            info = self._client.stat_object(self.bucket, key)
        metadata = info.metadata or {}
        sha256 = metadata.get(_SHA256_HEADER)
        if not sha256:
            sha256 = self._hash_remote(key)  # written by another tool: hash it once here
        return StoredObject(
            key=key,
            size_bytes=int(info.size or 0),
            sha256=str(sha256),
            content_type=str(info.content_type or DEFAULT_CONTENT_TYPE),
        )

    def _hash_remote(self, key: str) -> str:
        with _translated_errors(f"reading {key!r}", key):
            response = self._client.get_object(self.bucket, key)
            try:
                return sha256_of_chunks(iter_chunks(response))[0]
            finally:
                response.close()
                response.release_conn()

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> list[StoredObject]:
        """Objects whose key starts with `prefix`, sorted by key (one HEAD per object)."""
        validate_prefix(prefix)
        with _translated_errors(f"listing {prefix!r}"):
            try:
                keys = [
                    str(item.object_name)
                    for item in self._client.list_objects(
                        self.bucket, prefix=prefix or None, recursive=True
                    )
                    if not item.is_dir
                ]
            except S3Error as exc:
                if exc.code == "NoSuchBucket":
                    return []
                raise
        found = []
        for key in sorted(keys):
            try:
                found.append(self._stat(key))
            except ObjectNotFoundError:
                continue  # deleted while listing
        return found

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        validate_key(key)
        with _translated_errors(f"deleting {key!r}", key):
            try:
                self._client.remove_object(self.bucket, key)
            except S3Error as exc:
                if exc.code not in _NOT_FOUND_CODES:
                    raise

    def presigned_url(self, key: str, expires_s: int) -> str:
        """A SigV4 presigned GET URL (computed locally, no request to the server)."""
        validate_key(key)
        validate_expiry(expires_s)
        with _translated_errors(f"signing {key!r}", key):
            return self._client.presigned_get_object(
                self.bucket, key, expires=timedelta(seconds=expires_s)
            )

    def check(self) -> None:
        """Raise `StorageUnavailableError` (or `StorageAuthError`) unless the bucket is usable."""
        self._bucket_ready = False
        self._ensure_bucket()
        # Bucket calls touch only account/container services; a HEAD on an object also needs
        # the object service (Swift answers 503 for it when that service is down).
        with _translated_errors("probing object service"):
            try:
                self._client.stat_object(self.bucket, HEALTH_PROBE_KEY)
            except S3Error as exc:
                if exc.code not in _NOT_FOUND_CODES:
                    raise
