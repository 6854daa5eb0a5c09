"""Sign-in endpoints (issue #17): log in with a name and password for a short-lived session
token, refresh it (rotation: the old one is revoked), log out, and ask who you are."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from search_api.access import SIGNED_IN, capabilities_of
from search_api.account_schemas import LoginIn, MeOut, TokenOut
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.login_throttle import client_address
from search_api.logins import log_in, log_out, rotate
from search_api.openapi import AUTH_RESPONSES, ErrorOut

router = APIRouter(prefix="/auth", tags=["auth"])
LOGIN_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut, "description": "wrong user name or password"},
    403: {"model": ErrorOut, "description": "the account is locked or disabled"},
    429: {
        "model": ErrorOut,
        "description": "too many attempts from this client or for this name lately; retry"
        " after `Retry-After` seconds (no password was checked)",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}


@router.post("/login", response_model=TokenOut, summary="Log in", responses=LOGIN_RESPONSES)
def login(body: LoginIn, request: Request, session: SessionDep, context: ContextDep) -> TokenOut:
    """A session token (Authorization: Bearer) for the user; it expires after a few minutes
    (refresh it before then). Repeated wrong passwords lock the account for a while; attempts
    are limited per client address and per name (429 with Retry-After)."""
    issued = log_in(session, context.accounts, body.name, body.password, client_address(request))
    return TokenOut(access_token=issued.token, expires_at=issued.expires_at)


@router.post(
    "/refresh",
    response_model=TokenOut,
    summary="A new session token for the presented one (which is revoked)",
    responses=AUTH_RESPONSES,
    dependencies=[requires(SIGNED_IN)],
)
def refresh(principal: PrincipalDep, session: SessionDep, context: ContextDep) -> TokenOut:
    issued = rotate(session, context.accounts, principal)
    return TokenOut(access_token=issued.token, expires_at=issued.expires_at)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke the presented session token",
    responses=AUTH_RESPONSES,
    dependencies=[requires(SIGNED_IN)],
)
def logout(principal: PrincipalDep, session: SessionDep) -> Response:
    log_out(session, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/me",
    response_model=MeOut,
    summary="Who the credentials belong to and what they may do",
    responses=AUTH_RESPONSES,
    dependencies=[requires(SIGNED_IN)],
)
def me(principal: PrincipalDep) -> MeOut:
    cameras = None if principal.camera_ids is None else sorted(principal.camera_ids)
    return MeOut(
        name=principal.name, role=principal.role, kind=principal.kind,
        capabilities=sorted(capabilities_of(principal.role)), camera_ids=cameras,
    )  # fmt: skip
