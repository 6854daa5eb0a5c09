"""Uploaded footage originals under retention (issues #15 and #17): the file an operator
uploaded is kept in object storage beside the segments cut from it (index/footage_ingest.py,
`report.original_key`), and goes with them: once the whole span it covers is past the
offline camera's segment tier, unless a legal hold keeps a moment of it.

A deleted original stays listed with its upload (its report gains `original_deleted_at`), so
the upload still says what was stored and when retention removed it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog.footage_rows import FootageUploadRow
from index.catalog.rows import ensure_utc

DELETED_AT = "original_deleted_at"


@dataclass(frozen=True)
class PlannedOriginal:
    """An uploaded original whose span [start_at, end_at] is past its camera's segment tier."""

    upload_id: str
    camera_id: str
    start_at: datetime
    end_at: datetime
    object_key: str


def _kept_original(row: FootageUploadRow) -> PlannedOriginal | None:
    """The stored upload's original, if it is still kept (None: deleted, or never stored)."""
    report: dict[str, Any] = row.report or {}
    key, end_at = report.get("original_key"), report.get("end_at")
    if row.state != "stored" or not key or not end_at or report.get(DELETED_AT):
        return None
    start_at = ensure_utc(row.start_at) if row.start_at is not None else None
    end = ensure_utc(datetime.fromisoformat(str(end_at)))
    return PlannedOriginal(row.id, row.camera_id, start_at or end, end, str(key))


def originals_ended_before(
    session: Session, camera_id: str, cutoff: datetime
) -> list[PlannedOriginal]:
    """The kept originals of `camera_id` whose footage ended before `cutoff`, oldest first;
    the caller leaves out those a hold keeps (and takes a batch of the rest)."""
    rows = session.scalars(
        select(FootageUploadRow)
        .where(FootageUploadRow.camera_id == camera_id, FootageUploadRow.state == "stored")
        .order_by(FootageUploadRow.start_at, FootageUploadRow.id)
    )
    return [o for o in map(_kept_original, rows) if o is not None and o.end_at < cutoff]


def mark_originals_deleted(session: Session, upload_ids: Iterable[str], at: datetime) -> None:
    """Note on each upload that retention deleted its original (flushed, not committed)."""
    for upload_id in upload_ids:
        row = session.get(FootageUploadRow, upload_id)
        if row is not None:
            row.report = {**(row.report or {}), DELETED_AT: at.isoformat()}
    session.flush()


def original_keys(session: Session) -> dict[str, str]:
    """Every kept original's object key with what names it ("footage:UPLOAD")."""
    rows = session.scalars(select(FootageUploadRow).where(FootageUploadRow.state == "stored"))
    return {o.object_key: f"footage:{o.upload_id}" for o in map(_kept_original, rows) if o}
