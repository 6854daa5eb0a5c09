"""Request and response bodies of sign-in and user administration (issue #17)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from index.catalog.accounts import UserInfo
from index.catalog.grants import Grant
from search_api.openapi import CatalogId


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str = Field(description="send as Authorization: Bearer; expires at expires_at")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime


class MeOut(BaseModel):
    name: str
    role: str
    kind: str = Field(description="key, user or oidc")
    capabilities: list[str]
    camera_ids: list[str] | None = Field(description="null: every camera")


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    created_at: datetime
    disabled: bool
    locked_until: datetime | None

    @classmethod
    def of(cls, user: UserInfo) -> UserOut:
        return cls(
            id=user.id, name=user.name, role=user.role, created_at=user.created_at,
            disabled=user.disabled_at is not None, locked_until=user.locked_until,
        )  # fmt: skip


class GrantIn(BaseModel):
    """One camera, one camera group, or neither: every camera."""

    camera_id: str | None = Field(default=None, max_length=64)
    group: str | None = Field(default=None, max_length=100)


class GrantOut(BaseModel):
    id: int
    camera_id: str | None
    group: str | None
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, grant: Grant) -> GrantOut:
        return cls(
            id=grant.id, camera_id=grant.camera_id, group=grant.group_name,
            created_at=grant.created_at, created_by=grant.created_by,
        )  # fmt: skip


class CaseActivityEntry(BaseModel):
    """One thing done under a case: a search, a track viewed, a watchlist, an export …"""

    seq: int
    at: datetime
    principal: str
    role: str
    action: str
    query_type: str | None
    purpose: str | None
    hit_count: int | None
    target: str | None
    filters: dict[str, object]


class CaseWatchlistOut(BaseModel):
    id: int
    name: str
    purpose: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    ended_reason: str | None


class CaseActivityOut(BaseModel):
    case_id: str
    title: str
    created_by: str
    is_open: bool
    watchlists: list[CaseWatchlistOut]
    activity: list[CaseActivityEntry] = Field(description="oldest first, one page")
    next_after_seq: int | None = Field(description="pass as after_seq for the next page")


class CaseTracksIn(BaseModel):
    """Tracks to file under a case (its evidence: what an export offers and a hold keeps)."""

    track_ids: list[CatalogId] = Field(min_length=1, max_length=500)


class CaseTracksOut(BaseModel):
    case_id: str
    track_ids: list[int] = Field(description="filed under the case, oldest first")
