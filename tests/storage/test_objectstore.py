"""Contract tests for the object stores: local directory and a real S3 (Swift s3api)."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from storage.local import LocalObjectStore, verify_signature
from storage.objectstore import (
    InvalidKeyError,
    ObjectNotFoundError,
    ObjectStore,
    StorageAuthError,
    StorageUnavailableError,
    StoredObject,
)
from storage.s3 import S3ObjectStore
from tests.servers.swift import S3Endpoint

SIGNING_KEY = b"test-signing-key-0123456789abcdef"
OBJECT_ROUTE = "/objects/"
INVALID_KEYS = [
    "",
    "../etc/passwd",
    "a/../b",
    "a..b",
    "/absolute/key",
    "back\\slash",
    "a//b",
    "a/./b",
    "trailing/",
    "space in key",
    "ünïcode",
    "semi;colon",
    "x" * 1025,
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _SignedObjectHandler(BaseHTTPRequestHandler):
    """Serves GET /objects/<key>?expires=&sig= the way the API's object route does."""

    store: LocalObjectStore

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        key = unquote(url.path.removeprefix(OBJECT_ROUTE))
        try:
            expires = int(query["expires"][0])
            sig = query["sig"][0]
        except (KeyError, ValueError):
            self.send_error(400, "missing expires or sig")
            return
        if not verify_signature(key, expires, sig, SIGNING_KEY, time.time()):
            self.send_error(403, "bad or expired signature")
            return
        try:
            body = self.store.get(key)
        except ObjectNotFoundError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def local_store(tmp_path: Path) -> Iterator[LocalObjectStore]:
    """A local store whose signed URLs are served by a real HTTP server on 127.0.0.1."""
    port = _free_port()
    store = LocalObjectStore(
        tmp_path / "objects", f"http://127.0.0.1:{port}{OBJECT_ROUTE.rstrip('/')}", SIGNING_KEY
    )
    handler = type("Handler", (_SignedObjectHandler,), {"store": store})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield store
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _s3_store(endpoint: S3Endpoint, secret_key: str | None = None) -> S3ObjectStore:
    return S3ObjectStore(
        endpoint.endpoint,
        endpoint.access_key,
        secret_key or endpoint.secret_key,
        bucket=f"test-{uuid.uuid4().hex[:12]}",
        region=endpoint.region,
    )


@pytest.fixture
def s3_store(s3_server: S3Endpoint) -> S3ObjectStore:
    return _s3_store(s3_server)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    fixture_name = "local_store" if request.param == "local" else "s3_store"
    value: ObjectStore = request.getfixturevalue(fixture_name)
    return value


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- contract: both implementations -------------------------------------------------------


def test_implements_protocol(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)
    store.check()


def test_put_get_roundtrip_records_sha256_and_type(store: ObjectStore) -> None:
    data = os.urandom(10_000)
    stored = store.put_bytes("cam1/2026/11/25/seg-0001.mp4", data, "video/mp4")
    assert stored == StoredObject("cam1/2026/11/25/seg-0001.mp4", 10_000, _sha(data), "video/mp4")
    assert store.get(stored.key) == data
    assert store.stat(stored.key) == stored


def test_put_file_streams_large_file(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    data = os.urandom(6 * 1024 * 1024 + 123)  # over 5 MiB: multipart upload on S3
    source.write_bytes(data)
    stored = store.put_file("exports/big.bin", source, "application/octet-stream")
    assert stored.size_bytes == len(data)
    assert stored.sha256 == _sha(data)
    fetched = store.get("exports/big.bin")
    assert _sha(fetched) == _sha(data)
    assert store.stat("exports/big.bin").sha256 == _sha(data)


def test_put_file_missing_source(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not an existing regular file"):
        store.put_file("a/b.bin", tmp_path / "missing.bin")


def test_overwrite_replaces_object(store: ObjectStore) -> None:
    store.put_bytes("thumbs/t1.jpg", b"old", "image/jpeg")
    stored = store.put_bytes("thumbs/t1.jpg", b"new bytes", "image/png")
    assert store.get("thumbs/t1.jpg") == b"new bytes"
    assert store.stat("thumbs/t1.jpg") == stored


def test_get_range(store: ObjectStore) -> None:
    data = bytes(range(256)) * 4
    store.put_bytes("r/data.bin", data)
    assert store.get_range("r/data.bin", 0, 10) == data[:10]
    assert store.get_range("r/data.bin", 500, 100) == data[500:600]
    assert store.get_range("r/data.bin", 1000, 100) == data[1000:]  # short read at the end
    assert store.get_range("r/data.bin", 5000, 10) == b""  # past the end
    assert store.get_range("r/data.bin", 3, 0) == b""
    with pytest.raises(ValueError, match="start"):
        store.get_range("r/data.bin", -1, 10)
    with pytest.raises(ValueError, match="length"):
        store.get_range("r/data.bin", 0, -5)


def test_list_with_prefix(store: ObjectStore) -> None:
    keys = ["cam1/a.mp4", "cam1/b.mp4", "cam1/sub/e.mp4", "cam10/c.mp4", "cam2/d.mp4"]
    for key in keys:
        store.put_bytes(key, key.encode(), "video/mp4")
    assert [o.key for o in store.list("cam1/")] == ["cam1/a.mp4", "cam1/b.mp4", "cam1/sub/e.mp4"]
    assert [o.key for o in store.list("cam1")] == [*keys[:3], "cam10/c.mp4"]
    assert [o.key for o in store.list("cam1/s")] == ["cam1/sub/e.mp4"]
    assert [o.key for o in store.list("")] == keys
    assert store.list("nothing/") == []
    with pytest.raises(InvalidKeyError):
        store.list("../")
    listed = store.list("cam2/")[0]
    assert listed == StoredObject("cam2/d.mp4", 10, _sha(b"cam2/d.mp4"), "video/mp4")


def test_key_and_nested_key_coexist(store: ObjectStore) -> None:
    store.put_bytes("a/b", b"file")
    store.put_bytes("a/b/c", b"nested")
    assert store.get("a/b") == b"file"
    assert store.get("a/b/c") == b"nested"
    assert [o.key for o in store.list("a/")] == ["a/b", "a/b/c"]


def test_delete_and_exists(store: ObjectStore) -> None:
    store.put_bytes("d/x.bin", b"x")
    assert store.exists("d/x.bin")
    store.delete("d/x.bin")
    assert not store.exists("d/x.bin")
    assert store.list("d/") == []
    store.delete("d/x.bin")  # deleting a missing key is not an error


def test_missing_key_raises_not_found(store: ObjectStore) -> None:
    for call in (
        lambda: store.get("no/such.bin"),
        lambda: store.get_range("no/such.bin", 0, 4),
        lambda: store.get_range("no/such.bin", 0, 0),
        lambda: store.stat("no/such.bin"),
    ):
        with pytest.raises(ObjectNotFoundError) as info:
            call()
        assert info.value.key == "no/such.bin"
    assert not store.exists("no/such.bin")


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_rejected(store: ObjectStore, key: str, tmp_path: Path) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(b"x")
    for call in (
        lambda: store.put_bytes(key, b"x"),
        lambda: store.put_file(key, source),
        lambda: store.get(key),
        lambda: store.get_range(key, 0, 1),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.presigned_url(key, 60),
    ):
        with pytest.raises(InvalidKeyError):
            call()


def test_presigned_url_fetch_over_http(store: ObjectStore) -> None:
    data = os.urandom(2048)
    store.put_bytes("clips/case-7/clip.mp4", data, "video/mp4")
    url = store.presigned_url("clips/case-7/clip.mp4", 300)
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == data
    with pytest.raises(ValueError, match="expires_s"):
        store.presigned_url("clips/case-7/clip.mp4", 0)


def test_tampered_presigned_url_refused(store: ObjectStore) -> None:
    store.put_bytes("clips/x.mp4", b"secret")
    url = store.presigned_url("clips/x.mp4", 300)
    other = store.presigned_url("clips/y.mp4", 300)  # valid URL for another key
    assert httpx.get(url.replace("clips/x.mp4", "clips/y.mp4"), timeout=10).status_code == 403
    assert httpx.get(other.replace("clips/y.mp4", "clips/x.mp4"), timeout=10).status_code == 403


# ---- local store specifics ----------------------------------------------------------------


def test_local_signature_verification(local_store: LocalObjectStore) -> None:
    url = local_store.presigned_url("cam1/seg.mp4", 60)
    query = parse_qs(urlsplit(url).query)
    expires, sig = int(query["expires"][0]), query["sig"][0]
    now = time.time()
    assert expires - now == pytest.approx(60, abs=2)
    assert verify_signature("cam1/seg.mp4", expires, sig, SIGNING_KEY, now)
    assert not verify_signature("cam1/seg.mp4", expires, sig, SIGNING_KEY, expires + 1)
    assert not verify_signature("cam1/other.mp4", expires, sig, SIGNING_KEY, now)
    assert not verify_signature("cam1/seg.mp4", expires + 1, sig, SIGNING_KEY, now)
    assert not verify_signature("cam1/seg.mp4", expires, sig, b"another-key-0123456789", now)
    flipped = sig[:-1] + ("1" if sig.endswith("0") else "0")
    assert not verify_signature("cam1/seg.mp4", expires, flipped, SIGNING_KEY, now)
    assert not verify_signature("cam1/seg.mp4", expires, "zz\u00e9", SIGNING_KEY, now)
    assert not verify_signature("../seg.mp4", expires, sig, SIGNING_KEY, now)


def test_local_expired_url_refused_over_http(local_store: LocalObjectStore) -> None:
    local_store.put_bytes("cam1/seg.mp4", b"abc")
    url = local_store.presigned_url("cam1/seg.mp4", 1)
    time.sleep(2.1)
    assert httpx.get(url, timeout=10).status_code == 403


def test_local_layout_and_no_temp_files_left(local_store: LocalObjectStore) -> None:
    local_store.put_bytes("cam1/seg.mp4", b"abc", "video/mp4")
    files = sorted(p.relative_to(local_store.root).as_posix() for p in local_store.root.rglob("*"))
    assert files == ["cam1", "cam1/seg.mp4~data", "cam1/seg.mp4~meta.json"]
    local_store.delete("cam1/seg.mp4")
    assert list(local_store.root.iterdir()) == []  # emptied directories are removed


def test_local_failed_write_keeps_previous_object(local_store: LocalObjectStore) -> None:
    local_store.put_bytes("cam1/seg.mp4", b"original", "video/mp4")

    def broken_source() -> Iterator[bytes]:
        yield b"partial data"
        raise OSError("source disk failed")

    with pytest.raises(OSError, match="source disk failed"):
        local_store._put_chunks("cam1/seg.mp4", broken_source(), "video/mp4")
    assert local_store.get("cam1/seg.mp4") == b"original"
    assert local_store.stat("cam1/seg.mp4").sha256 == _sha(b"original")
    assert [p.name for p in (local_store.root / "cam1").iterdir() if "tmp" in p.name] == []


def test_local_stale_metadata_is_recomputed(local_store: LocalObjectStore) -> None:
    local_store.put_bytes("k/v.bin", b"12345", "text/plain")
    (local_store.root / "k/v.bin~meta.json").unlink()
    assert local_store.stat("k/v.bin") == StoredObject(
        "k/v.bin", 5, _sha(b"12345"), "application/octet-stream"
    )


def test_local_check_fails_when_root_unusable(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "root", "http://x", SIGNING_KEY)
    store.check()
    (tmp_path / "root").rmdir()
    (tmp_path / "root").write_bytes(b"not a directory")
    with pytest.raises(StorageUnavailableError, match="not a directory"):
        store.check()


def test_local_constructor_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="signing_key"):
        LocalObjectStore(tmp_path, "http://x", b"short")
    with pytest.raises(ValueError, match="public_base_url"):
        LocalObjectStore(tmp_path, "ftp://x", SIGNING_KEY)


# ---- S3 specifics (real Swift s3api server) ----------------------------------------------


@pytest.mark.integration
def test_s3_wrong_secret_refused(s3_server: S3Endpoint, s3_store: S3ObjectStore) -> None:
    s3_store.put_bytes("k/v.bin", b"data")
    intruder = S3ObjectStore(
        s3_server.endpoint, s3_server.access_key, "wrong-secret", s3_store.bucket
    )
    with pytest.raises(StorageAuthError, match=r"SignatureDoesNotMatch|AccessDenied"):
        intruder.check()
    with pytest.raises(StorageAuthError):
        intruder.get("k/v.bin")
    with pytest.raises(StorageAuthError):
        intruder.put_bytes("k/v.bin", b"overwrite")
    assert s3_store.get("k/v.bin") == b"data"


@pytest.mark.integration
def test_s3_expired_url_refused(s3_store: S3ObjectStore) -> None:
    s3_store.put_bytes("k/v.bin", b"data")
    url = s3_store.presigned_url("k/v.bin", 1)
    time.sleep(2.5)
    response = httpx.get(url, timeout=10)
    assert response.status_code == 403
    assert b"expired" in response.content.lower()


@pytest.mark.integration
def test_s3_closed_port_is_unavailable(s3_server: S3Endpoint) -> None:
    store = S3ObjectStore(
        f"127.0.0.1:{_free_port()}", s3_server.access_key, s3_server.secret_key, "closed-port"
    )
    started = time.monotonic()
    for call in (store.check, lambda: store.put_bytes("a/b", b"x"), lambda: store.get("a/b")):
        with pytest.raises(StorageUnavailableError, match="unreachable"):
            call()
    assert time.monotonic() - started < 15


@pytest.mark.integration
@pytest.mark.slow
def test_s3_server_restart_keeps_data(s3_server: S3Endpoint, s3_store: S3ObjectStore) -> None:
    data = os.urandom(50_000)
    stored = s3_store.put_bytes("cam1/before-restart.mp4", data, "video/mp4")
    s3_server.stop()
    try:
        with pytest.raises(StorageUnavailableError):
            s3_store.check()
        with pytest.raises(StorageUnavailableError):
            s3_store.put_bytes("cam1/during-outage.mp4", b"x")
    finally:
        s3_server.start()
    s3_store.check()
    assert s3_store.get("cam1/before-restart.mp4") == data
    assert s3_store.stat("cam1/before-restart.mp4") == stored
    s3_store.put_bytes("cam1/after-restart.mp4", b"y")
    assert [o.key for o in s3_store.list("cam1/")] == [
        "cam1/after-restart.mp4",
        "cam1/before-restart.mp4",
    ]


@pytest.mark.integration
@pytest.mark.slow
def test_s3_object_service_down_is_unavailable(
    s3_server: S3Endpoint, s3_store: S3ObjectStore
) -> None:
    s3_store.put_bytes("cam1/a.mp4", b"kept")
    s3_server.stop_service("object")  # proxy still answers, but with 503
    try:
        for call in (
            s3_store.check,
            lambda: s3_store.get("cam1/a.mp4"),
            lambda: s3_store.put_bytes("cam1/b.mp4", b"x"),
        ):
            with pytest.raises(StorageUnavailableError, match="503"):
                call()
    finally:
        s3_server.start()
    assert s3_store.get("cam1/a.mp4") == b"kept"


def test_s3_constructor_validation() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        S3ObjectStore("http://127.0.0.1:9000", "a", "b", "bucket")
    with pytest.raises(ValueError, match="bucket"):
        S3ObjectStore("127.0.0.1:9000", "a", "b", "Bad_Bucket")
