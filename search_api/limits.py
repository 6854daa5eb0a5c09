"""The request guard: what happens to every request before a route reads its body.

In order: the API key is checked (routes that take one) before a byte of the body is read, so
an unauthenticated 100 MB upload or malformed JSON is answered 401 at once; then the caller's
rate limit (429 with Retry-After; a sliding minute, search_api/rate_limit.py); then the
body-size limit (413: from Content-Length at once, or while a chunked body streams in). Every
response gets the security headers. An unexpected error is answered 500 here (and logged)
instead of being re-raised to the server, which would drop the keep-alive connection.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from fastapi import FastAPI, HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index.catalog import Principal
from search_api.browser_session import cookie_credential
from search_api.docs_page import DOCS_CSP, DOCS_PATH, is_docs_path
from search_api.rate_limit import RateLimiter
from search_api.tokens import Unauthenticated

log = logging.getLogger(__name__)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# The API serves JSON, pictures and clips, never pages: nothing may load or frame it. The
# interactive docs page has its own policy (search_api/docs_page.py).
API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
FOOTAGE_PART_PATH = re.compile(r"/footage/uploads/[^/]+/parts/[0-9]+$")
# The web interface (issue #18): its pages sign the browser in themselves (search_api/ui), load
# their own scripts, styles and signed pictures and clips, and are never framed.
UI_PREFIX = "/ui"
UI_CSP = (
    b"default-src 'self'; img-src 'self' data: blob: http: https:; media-src 'self' blob: http:"
    b" https:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def is_ui_path(path: str) -> bool:
    return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


@dataclass(frozen=True)
class ApiLimits:
    """Limits on what one request may cost (Settings: max_request_bytes, max_image_pixels,
    rate_limit_per_minute; 0 turns the rate limit off)."""

    max_request_bytes: int = 25 * 1024 * 1024  # a 20 MB picture and its form fields
    max_image_pixels: int = 40_000_000
    # a footage upload part (issue #15, Settings.footage_part_bytes): that route's own limit
    max_upload_part_bytes: int = 8 * 1024 * 1024
    rate_limit_per_minute: int = 600


def public_operations(app: FastAPI) -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of the operations the OpenAPI document lists without a security
    requirement (signed links), and the document and its docs page themselves."""
    public = [("GET", DOCS_PATH)]
    if app.openapi_url:
        public.append(("GET", re.compile(re.escape(app.openapi_url) + "$")))
    for path, operations in app.openapi().get("paths", {}).items():
        # a parameter may hold slashes ({key:path} shows as {key}): public paths only widen
        pattern = "".join(
            ".+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", path)
        )
        for method, operation in operations.items():
            if not operation.get("security"):
                public.append((method.upper(), re.compile(pattern + "$")))
    return public


def api_key_of(scope: Scope) -> str | None:
    """The key in `X-API-Key`, else a bearer token, else the browser's session cookie with its
    CSRF header (search_api/browser_session.py)."""
    headers = dict(scope["headers"])
    key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    if key:
        return key
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return cookie_credential(headers)


def refusal(code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=code, headers=headers)


class RequestGuard:
    """ASGI middleware: authenticate → rate limit → body size, security headers, no dropped
    connections. `lookup(credential)` finds the caller's principal or raises Unauthenticated
    (a blocking catalog read, run on a worker thread); the OpenAPI document says which
    operations are public."""

    def __init__(
        self,
        app: ASGIApp,
        fastapi_app: FastAPI,
        limits: ApiLimits,
        lookup: Callable[[str], Principal],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.limits = limits
        self.lookup = lookup
        self.limiter = RateLimiter(limits.rate_limit_per_minute, 60.0, clock)
        self._public: list[tuple[str, re.Pattern[str]]] | None = None

    def route_takes_key(self, scope: Scope) -> bool:
        """Every request needs a key but those to public operations (fail closed: a new route,
        an unknown path or a wrong method needs one too)."""
        if self._public is None:
            self._public = public_operations(self.fastapi_app)
        method, path = scope["method"], scope["path"]
        if is_ui_path(path):  # pages check the browser's session cookie themselves
            return False
        methods = {method, "GET"} if method == "HEAD" else {method}
        return not any(m in methods and p.match(path) for m, p in self._public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = list(SECURITY_HEADERS)
                if is_ui_path(path):
                    extra.append((b"content-security-policy", UI_CSP))
                    extra.append((b"cache-control", b"no-store"))
                elif is_docs_path(path):
                    extra.append((b"content-security-policy", DOCS_CSP))
                else:
                    extra.append((b"content-security-policy", API_CSP))
                    extra.append((b"cache-control", b"no-store"))
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        try:
            refused = await self.refusal(scope)
            if refused is not None:
                await refused(scope, receive, send_with_headers)
                return
            await self.app(scope, self.limited(scope, receive), send_with_headers)
        except HTTPException as error:  # the body limit, raised outside a route's body parsing
            if started:
                raise
            await refusal(error.status_code, str(error.detail))(scope, receive, send_with_headers)
        except Exception:
            if started:
                raise
            log.exception("unexpected error on %s %s", scope["method"], path)
            await refusal(500, "internal error")(scope, receive, send_with_headers)

    async def refusal(self, scope: Scope) -> JSONResponse | None:
        """The response that refuses this request before its body is read, if any; the
        principal found is kept in scope["state"] for the route's key dependency."""
        if self.route_takes_key(scope):
            key = api_key_of(scope)
            challenge = {"WWW-Authenticate": "ApiKey, Bearer"}
            if not key:
                return refusal(
                    401,
                    "missing credentials: send an API key in the X-API-Key header or a token in"
                    " Authorization: Bearer",
                    challenge,
                )
            try:
                principal = await anyio.to_thread.run_sync(self.lookup, key)
            except Unauthenticated as error:  # forged, expired, revoked: say which
                return refusal(401, error.detail, challenge)
            scope["state"] = {**scope.get("state", {}), "principal": principal}
            wait_s = self.limiter.retry_after_s(principal.principal_id)
            if wait_s is not None:
                return refusal(
                    429,
                    f"rate limit of {self.limits.rate_limit_per_minute} requests a minute "
                    f"reached; retry in {wait_s} s",
                    {"Retry-After": str(wait_s)},
                )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return refusal(400, "Content-Length is not a number")
            if length > self.body_limit(scope):
                return refusal(413, self.too_large(scope))
        return None

    def body_limit(self, scope: Scope) -> int:
        """Bytes a request's body may hold: max_request_bytes, or the part size for a footage
        part (PUT …/footage/uploads/{id}/parts/{n}), which may be larger."""
        if scope["method"] == "PUT" and FOOTAGE_PART_PATH.search(scope["path"]):
            return max(self.limits.max_request_bytes, self.limits.max_upload_part_bytes)
        return self.limits.max_request_bytes

    def too_large(self, scope: Scope) -> str:
        return f"the request body is over {self.body_limit(scope)} bytes"

    def limited(self, scope: Scope, receive: Receive) -> Receive:
        """`receive` that refuses (HTTP 413) a body growing past the limit."""
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.body_limit(scope):
                    raise HTTPException(413, self.too_large(scope))
            return message

        return receive_limited
