"""API-key authentication and role / camera permission checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from index.catalog import principal_for_key
from index.catalog.values import Principal
from search_api.context import db_session

API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
BEARER = HTTPBearer(auto_error=False, description="the API key as a bearer token (Prometheus)")

SEARCH_ROLES = frozenset({"admin", "investigator"})
VIEW_ROLES = frozenset({"admin", "investigator", "operator", "viewer"})


def current_principal(
    session: Annotated[Session, Depends(db_session)],
    api_key: Annotated[str | None, Security(API_KEY_HEADER)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> Principal:
    """The caller behind the `X-API-Key` header (or a bearer token); 401 when it is missing,
    unknown or revoked."""
    api_key = api_key or (bearer.credentials if bearer is not None else None)
    if not api_key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    principal = principal_for_key(session, api_key)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked API key",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    return principal


def require_role(principal: Principal, roles: frozenset[str]) -> None:
    if principal.role not in roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role {principal.role!r} may not do this; needs one of {sorted(roles)}",
        )


def may_see_camera(principal: Principal, camera_id: str) -> bool:
    return principal.can_see(camera_id)


def visible_cameras(principal: Principal, requested: list[str] | None) -> list[str] | None:
    """Cameras a query may touch: the request's, cut to the principal's scope (None = all)."""
    if principal.camera_ids is None:
        return requested
    allowed = set(principal.camera_ids)
    if requested is None:
        return sorted(allowed)
    denied = sorted(set(requested) - allowed)
    if denied:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"no access to camera(s) {denied}")
    return requested


PrincipalDep = Annotated[Principal, Depends(current_principal)]
SessionDep = Annotated[Session, Depends(db_session)]
