"""FastAPI dependencies, the only home of them: the catalog session, the caller (API key, user
session or OIDC token), what a route requires of the caller, the application's context and its
search-job runner."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security, params, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from index.catalog import Principal, Session, append_audit
from search_api.access import CAPABILITIES, SCOPES, require_capability, require_scope
from search_api.context import ApiContext
from search_api.errors import Forbidden
from search_api.search_jobs import SearchJobRunner
from search_api.tokens import Unauthenticated, authenticate

API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
BEARER = HTTPBearer(
    auto_error=False, description="a session token, an OIDC token, or an API key (Prometheus)"
)
CHALLENGE = "ApiKey, Bearer"
_RUNNER_LOCK = threading.Lock()


def api_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


def db_session(request: Request) -> Iterator[Session]:
    """A catalog session for one request; the handler commits what it wrote."""
    with api_context(request).sessions() as session:
        yield session


def caller_principal(context: ApiContext, credential: str) -> Principal:
    """The principal behind an API key, a session token or an OIDC token, in a session of its
    own; Unauthenticated (search_api/tokens.py) saying what is wrong otherwise."""
    with context.sessions() as session:
        return authenticate(session, context.accounts, credential)


def current_principal(
    request: Request,
    session: Annotated[Session, Depends(db_session)],
    api_key: Annotated[str | None, Security(API_KEY_HEADER)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> Principal:
    """The caller behind the `X-API-Key` header or an `Authorization: Bearer` token (an API
    key, a session token from POST /auth/login, or an OIDC issuer's token); 401 saying what is
    wrong when it is missing, unknown, forged, expired or revoked. The request guard
    (search_api/limits.py) has already checked it before the body was read; the check here
    serves an app without the guard."""
    checked: Principal | None = getattr(request.state, "principal", None)
    if checked is not None:
        return checked
    credential = api_key or (bearer.credentials if bearer is not None else None)
    try:
        return authenticate(session, api_context(request).accounts, credential or "")
    except Unauthenticated as error:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, error.detail, headers={"WWW-Authenticate": CHALLENGE}
        ) from error


@dataclass(frozen=True)
class Requirement:
    """What a route requires of its caller: one of `capabilities` (search_api/access.py), and,
    with `scope`, that the camera its path names (directly, or through a track or an event) is
    one the caller may see (404 otherwise). Declared on the route with `requires(...)`; the
    role × endpoint matrix test reads it back."""

    capabilities: frozenset[str]
    scope: str | None = None

    def __call__(
        self,
        request: Request,
        principal: Annotated[Principal, Depends(current_principal)],
        session: Annotated[Session, Depends(db_session)],
    ) -> Principal:
        try:
            require_capability(principal, self.capabilities)
        except Forbidden as error:  # a refused attempt is audited like a granted one
            append_audit(
                session, principal=principal.name, role=principal.role, action="access_denied",
                filters={"denied": error.detail}, target=f"{request.method} {request.url.path}",
            )  # fmt: skip
            session.commit()
            raise
        if self.scope is not None:
            require_scope(session, principal, self.scope, request.path_params)
        return principal


def requires(*capabilities: str, scope: str | None = None) -> params.Depends:
    """The dependency a route declares, e.g. `dependencies=[requires(CAMERA_ADMIN,
    scope="camera")]`: 401 without valid credentials, 403 without the capability, 404 when the
    path's camera is outside the caller's cameras — all before the body is read."""
    if not capabilities:
        raise ValueError("a route requires at least one capability")
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"scope {scope!r} is not one of {sorted(SCOPES)}")
    unknown = sorted(set(capabilities) - CAPABILITIES)
    if unknown:
        raise ValueError(f"unknown capabilities {unknown}: add them to ROLE_CAPABILITIES")
    return Depends(Requirement(frozenset(capabilities), scope))


def start_job_runner(app: FastAPI) -> SearchJobRunner:
    """The application's job runner (one per application), started on first use: it takes
    over the jobs a stopped process left unfinished."""
    with _RUNNER_LOCK:
        runner: SearchJobRunner | None = getattr(app.state, "search_jobs", None)
        if runner is None:
            runner = SearchJobRunner(app.state.context, current=lambda: app.state.context)
            app.state.search_jobs = runner
            runner.start()
        return runner


def job_runner(request: Request) -> SearchJobRunner:
    return start_job_runner(request.app)


SessionDep = Annotated[Session, Depends(db_session)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
ContextDep = Annotated[ApiContext, Depends(api_context)]
RunnerDep = Annotated[SearchJobRunner, Depends(job_runner)]


# The query parameters every signed link carries (routers/pictures.py, routers/clips.py).
HolderParam = Annotated[
    str,
    Query(
        min_length=1,
        max_length=300,
        pattern=r"^([0-9]{1,19}|u[0-9]{1,19}|oidc:.+)$",
        description="whom the link was handed to: a key id, u<user id> or oidc:<role>:<name>",
    ),
]
ExpiresParam = Annotated[int, Query(ge=0, le=2**63 - 1, description="unix seconds")]
SigParam = Annotated[str, Query(max_length=128)]
