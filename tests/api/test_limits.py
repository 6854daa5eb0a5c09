"""Request limits and hardening (#12 items 3, 4, 5, 13): decompression bombs, authentication
before the body, body-size and rate limits, security headers, bad ids and dates, NaN, the
keep-alive connection after errors, and an OpenAPI document that matches the replies."""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from index.catalog import create_api_key
from search_api.app import create_app
from search_api.limits import ApiLimits
from search_api.rate_limit import RateLimiter
from skynet.demo import free_port
from tests.api_support import ApiEnv, api_env, jpeg

TOO_BIG_ID = 2**63
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("limits")) as built:
        yield built


@pytest.fixture(scope="module")
def server(env: ApiEnv) -> Iterator[int]:
    """The same app served by uvicorn on a loopback port (real sockets, real keep-alive)."""
    port = free_port()
    config = uvicorn.Config(create_app(env.context), host="127.0.0.1", port=port, log_level="error")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    while not served.started:
        assert thread.is_alive()
        time.sleep(0.02)
    yield port
    served.should_exit = True
    thread.join(10)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width × height (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def image_search(env: ApiEnv, client: TestClient, data: bytes, **form: str) -> Any:
    return client.post(
        "/api/v1/search/image",
        headers=env.headers(),
        data={**env.access(), **form},
        files={"image": ("q.png", data, "image/png")},
    )


# ---- item 3: decompression bombs, the event loop ----------------------------------------------


@pytest.mark.parametrize("side_px", [30_000, 60_000])
def test_picture_over_the_pixel_limit_is_refused_from_its_header(env: ApiEnv, side_px: int) -> None:
    reply = image_search(env, env.client, png_header(side_px, side_px), whole_image="true")
    assert reply.status_code == 413
    assert "40 MP are accepted" in reply.json()["detail"]


def test_health_answers_while_a_picture_search_runs(env: ApiEnv) -> None:
    """The picture handler runs on the thread pool: a slow detector does not stall /healthz."""
    detector = env.context.detector
    entered, release = threading.Event(), threading.Event()

    class SlowDetector:
        def __getattr__(self, name: str) -> Any:
            return getattr(detector, name)

        def detect(self, images: list[np.ndarray]) -> Any:
            entered.set()
            release.wait(5.0)
            return detector.detect(images)

    env.context.detector = SlowDetector()
    replies: list[int] = []
    try:
        searching = threading.Thread(
            target=lambda: replies.append(
                image_search(env, env.client, jpeg(env.later_crops[0])).status_code
            )
        )
        searching.start()
        assert entered.wait(10.0)
        began = time.monotonic()
        health = env.client.get("/api/v1/healthz", headers=env.headers())
        health_s = time.monotonic() - began
        release.set()
        searching.join(30.0)
    finally:
        release.set()
        env.context.detector = detector
    assert health.status_code == 200
    assert health_s < 2.0  # before: waited for the search (5 s here)
    assert replies and replies[0] in (200, 422)


# ---- item 4: authenticate before the body; body size --------------------------------------------


def test_malformed_json_without_a_key_is_401(env: ApiEnv) -> None:
    reply = env.client.post(
        "/api/v1/search/attributes",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert reply.status_code == 401
    assert reply.json() == {
        "detail": "missing credentials: send an API key in the X-API-Key header or a token in"
        " Authorization: Bearer"
    }
    bad_key = env.client.post(
        "/api/v1/search/attributes",
        content=b"{not json",
        headers={"content-type": "application/json", "X-API-Key": "nope"},
    )
    assert bad_key.status_code == 401


def test_unauthenticated_upload_is_refused_before_its_body_is_read(server: int) -> None:
    """Declares 100 MB, sends 1 KB: the 401 comes at once (before: the server waited for the
    whole body, which never comes: so a generous timeout still tells the two apart, and a
    loaded machine's slow first reply does not fail it)."""
    with socket.create_connection(("127.0.0.1", server), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/search/image HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 100000000\r\n\r\n" + b"x" * 1024
        )
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 401")


def test_request_body_over_the_limit_is_413(env: ApiEnv) -> None:
    limits = env.context.limits
    body = b'{"top_k": 1, "pad": "' + b"x" * limits.max_request_bytes + b'"}'
    reply = env.client.post(
        "/api/v1/search/attributes",
        content=body,
        headers={**env.headers(), "content-type": "application/json"},
    )
    assert reply.status_code == 413
    assert str(limits.max_request_bytes) in reply.json()["detail"]


def test_chunked_body_over_the_limit_is_413(env: ApiEnv) -> None:
    small = dataclasses.replace(env.context, limits=ApiLimits(max_request_bytes=1000))
    with TestClient(create_app(small)) as client:

        def chunks() -> Iterator[bytes]:
            yield b'{"top_k": 1, "text": "'
            for _ in range(20):
                yield b"x" * 100
            yield b'"}'

        reply = client.post(
            "/api/v1/search/attributes",
            content=chunks(),
            headers={**env.headers(), "content-type": "application/json"},
        )
    assert reply.status_code == 413


# ---- rate limit, security headers ---------------------------------------------------------------


def test_rate_limiter_slides_its_window_and_holds_bounded_keys() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.retry_after_s("a") is None for _ in range(60))
    assert limiter.retry_after_s("a") == 60  # when the oldest request leaves the minute
    assert limiter.retry_after_s("b") is None  # per principal
    now[0] += 59.5
    assert limiter.retry_after_s("a") == 1  # refused requests did not count
    now[0] += 0.5
    assert limiter.retry_after_s("a") is None
    small = RateLimiter(1, clock=lambda: now[0], max_keys=4)
    for n in range(50):  # a flood of principals
        assert small.retry_after_s(f"p{n}") is None
    assert len(small) <= 4
    assert small.retry_after_s("p49") == 60  # the most recent ones are still limited


def test_rate_limit_per_key_is_429_with_retry_after(env: ApiEnv) -> None:
    limited = dataclasses.replace(env.context, limits=ApiLimits(rate_limit_per_minute=3))
    with TestClient(create_app(limited)) as client:
        codes = [client.get("/api/v1/healthz", headers=env.headers()).status_code for _ in range(3)]
        refused = client.get("/api/v1/healthz", headers=env.headers())
        other = client.get("/api/v1/healthz", headers=env.headers("viewer"))
    assert codes == [200, 200, 200]
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("path", "with_key", "status"),
    [("/api/v1/healthz", True, 200), ("/api/v1/healthz", False, 401), ("/api/v1/nope", True, 404)],
)
def test_every_reply_has_security_headers(
    env: ApiEnv, path: str, with_key: bool, status: int
) -> None:
    reply = env.client.get(path, headers=env.headers() if with_key else {})
    assert reply.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert reply.headers[name] == value
    assert reply.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in reply.headers["content-security-policy"]


# ---- item 5: no 500 on bad input ----------------------------------------------------------------


def bad_requests(env: ApiEnv) -> list[tuple[str, str, dict[str, Any] | None]]:
    track = env.persons[0]
    return [
        ("GET", f"/api/v1/tracks/{TOO_BIG_ID}", None),
        ("POST", f"/api/v1/search/track/{TOO_BIG_ID}", {}),
        ("POST", "/api/v1/search/hop", {"track_id": TOO_BIG_ID}),
        ("POST", "/api/v1/search/hop", {"track_id": track, "confirmed": [TOO_BIG_ID]}),
        ("POST", "/api/v1/search/attributes", {"zone_ids": [TOO_BIG_ID]}),
        ("GET", f"/api/v1/cameras/cam1/zones/{TOO_BIG_ID}", None),
        ("DELETE", f"/api/v1/cameras/cam1/zones/{TOO_BIG_ID}", None),
        ("POST", "/api/v1/jobs/search", {"kind": "track", "track_id": TOO_BIG_ID}),
        ("POST", "/api/v1/search/attributes", {"start": "0001-01-01T00:00:00Z"}),
        ("POST", "/api/v1/search/text", {"text": "昨天下午", "now": "0001-01-01T00:00:00Z"}),
    ]


def test_bad_ids_and_dates_are_422_and_keep_the_connection(env: ApiEnv, server: int) -> None:
    """Each on one keep-alive connection, then a good request on it (before: 500s, and the
    server dropped the connection after each)."""
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    with env.context.sessions() as session:  # an admin: past every route's capability (#17)
        admin = create_api_key(session, "limits admin", "admin")
        session.commit()
    headers = {"X-API-Key": admin, "Content-Type": "application/json"}
    for method, path, body in bad_requests(env):
        payload = None if body is None else json.dumps({**env.access(), **body})
        connection.request(method, path, body=payload, headers=headers)
        reply = connection.getresponse()
        detail = json.loads(reply.read())["detail"]
        assert reply.status == 422, (method, path, detail)
        assert isinstance(detail, str)
    connection.request("GET", "/api/v1/healthz", headers=headers)
    assert connection.getresponse().status == 200
    connection.close()


def test_nan_in_json_is_422_with_a_json_body(env: ApiEnv) -> None:
    for body in (
        b'{"top_k": NaN}',
        b'{"min_dwell_s": NaN}',
        b'{"track_id": 1, "max_distance_m": NaN}',
    ):
        path = "/api/v1/search/hop" if b"track_id" in body else "/api/v1/search/attributes"
        reply = env.client.post(
            path, content=body, headers={**env.headers(), "content-type": "application/json"}
        )
        assert reply.status_code == 422, body
        assert isinstance(reply.json()["detail"], str)


# ---- item 13: the OpenAPI document --------------------------------------------------------------


def test_openapi_declares_the_error_replies_and_no_tuples(env: ApiEnv) -> None:
    document = env.client.get("/openapi.json").json()
    assert "prefixItems" not in json.dumps(document)
    error_ref = "#/components/schemas/ErrorOut"
    for path, operations in document["paths"].items():
        signed_link = any(f"/{r}/" in path for r in ("objects", "pictures", "clips"))
        if not path.startswith("/api/v1/") or signed_link:
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            for code in ("400", "401", "403", "404", "409", "413", "422", "429"):
                assert code in responses, (method, path, code)
                schema = responses[code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": error_ref}, (method, path, code)
    box = document["components"]["schemas"]["QueryInfo"]["properties"]["box"]["anyOf"][0]
    assert box["minItems"] == box["maxItems"] == 4
    assert box["items"] == {"type": "number"}


def test_a_422_body_matches_the_declared_schema(env: ApiEnv) -> None:
    reply = env.client.post(
        "/api/v1/search/attributes", json={"top_k": "many"}, headers=env.headers()
    )
    assert reply.status_code == 422
    assert set(reply.json()) == {"detail"}
    assert reply.json()["detail"].startswith("body.top_k:")
