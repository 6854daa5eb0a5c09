"""API key endpoints (admins only): list, issue, revoke. The plaintext key is returned once."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from index.catalog import (
    ApiKeyInfo,
    DuplicateKeyNameError,
    api_key_named,
    append_audit,
    create_api_key,
    list_api_keys,
    revoke_api_key_id,
)
from search_api.access import ACCESS_ADMIN
from search_api.deps import PrincipalDep, SessionDep, requires
from search_api.errors import Conflict, InvalidInput, NotFound
from search_api.openapi import AUTH_RESPONSES

router = APIRouter(prefix="/keys", tags=["keys"], responses=AUTH_RESPONSES)


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="unique among active keys")
    role: str = Field(description="admin, investigator, operator, city_manager, auditor or viewer")
    camera_ids: list[str] | None = Field(default=None, max_length=1000, description="None: all")
    expires_at: datetime | None = Field(default=None, description="None: never expires")


class ApiKeyOut(BaseModel):
    id: int
    name: str
    role: str
    camera_ids: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, info: ApiKeyInfo) -> ApiKeyOut:
        cameras = None if info.camera_ids is None else sorted(info.camera_ids)
        return cls(
            id=info.id, name=info.name, role=info.role, camera_ids=cameras,
            created_at=info.created_at, expires_at=info.expires_at, revoked_at=info.revoked_at,
        )  # fmt: skip


class ApiKeyIssued(ApiKeyOut):
    key: str = Field(description="the key itself: shown once, only its SHA-256 is stored")


@router.get(
    "",
    response_model=list[ApiKeyOut],
    summary="API keys (never the keys themselves)",
    dependencies=[requires(ACCESS_ADMIN)],
)
def read_keys(principal: PrincipalDep, session: SessionDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(info) for info in list_api_keys(session)]


@router.post(
    "",
    response_model=ApiKeyIssued,
    status_code=status.HTTP_201_CREATED,
    summary="Issue a key",
    dependencies=[requires(ACCESS_ADMIN)],
)
def issue_key(body: ApiKeyIn, principal: PrincipalDep, session: SessionDep) -> ApiKeyIssued:
    """409 when an active key already has the name; 422 naming a bad role, camera or expiry."""
    try:
        plaintext = create_api_key(session, body.name, body.role, body.camera_ids, body.expires_at)
    except DuplicateKeyNameError as error:
        raise Conflict(str(error)) from error
    except ValueError as error:
        raise InvalidInput(str(error)) from error
    info = api_key_named(session, body.name)
    assert info is not None
    append_audit(
        session, principal=principal.name, role=principal.role, action="key_create",
        target=f"key:{info.id}",
    )  # fmt: skip
    session.commit()
    return ApiKeyIssued(key=plaintext, **ApiKeyOut.of(info).model_dump())


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a key (and its links)",
    dependencies=[requires(ACCESS_ADMIN)],
)
def revoke_key(key_id: int, principal: PrincipalDep, session: SessionDep) -> Response:
    if key_id not in {info.id for info in list_api_keys(session) if info.revoked_at is None}:
        raise NotFound(f"key {key_id} not found or already revoked")
    revoke_api_key_id(session, key_id)
    append_audit(
        session, principal=principal.name, role=principal.role, action="key_revoke",
        target=f"key:{key_id}",
    )  # fmt: skip
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
