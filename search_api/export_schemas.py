"""Request and response schemas of evidence exports (issue #17)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from evidence.request import DEFAULT_PAD_S, MAX_TRACKS
from search_api.openapi import CatalogId


class ExportCreate(BaseModel):
    """Which tracks of the case to export, and why (the purpose is audited and goes into the
    bundle's chain-of-custody record)."""

    track_ids: list[CatalogId] = Field(min_length=1, max_length=MAX_TRACKS, examples=[[1042, 1077]])
    purpose: str = Field(min_length=1, max_length=500, examples=["court file 2026/117"])
    include_originals: bool = Field(
        default=False,
        description="also stream-copy the unredacted recording (admins only); otherwise the "
        "originals are in the bundle as SHA-256 of the sealed segments",
    )
    pad_s: float = Field(
        default=DEFAULT_PAD_S,
        ge=0.0,
        le=60.0,
        description="seconds of "
        "recording kept before each track's first and after its last sighting",
    )


class ExportOut(BaseModel):
    id: str
    case_id: str
    state: str
    progress: float
    track_ids: list[int]
    purpose: str
    requested_by: str
    created_at: datetime
    updated_at: datetime
    error: str | None
    sha256: str | None = Field(default=None, description="of the bundle, once built")
    size_bytes: int | None = None
    key_fingerprint: str | None = Field(
        default=None, description="SHA-256 of the Ed25519 public key that signed the manifest"
    )
    files: list[str] = Field(default_factory=list)
    download_path: str | None = Field(default=None, description="GET it with your API key")


class ExportVerificationOut(BaseModel):
    """The stored bundle checked on the server (issue #18): files, manifest signature, hash."""

    export_id: str
    ok: bool = Field(description="every file matches the signed manifest, signed by this site")
    sha256: str = Field(description="of the stored bundle that was checked")
    key_fingerprint: str | None = Field(description="the key the manifest was checked against")
    trusted_key: bool = Field(description="checked against this site's own signing key")
    files_checked: int
    problems: list[str]
