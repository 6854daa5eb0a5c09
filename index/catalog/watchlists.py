"""Catalog repository for watchlists (issue #14): create, list and end them (closing a case ends
its watchlists: cases.close_case calls `end_case_watchlists` in its transaction), their entries,
their hits, and the live-ingest check `match_watchlists` that the track indexer runs in the
transaction that stores the tracks, so a hit row and its `watchlist.hit` outbox row commit with
the track or not at all (the webhook dispatcher and the SSE stream then push it, see
docs/architecture.md, "Events channel").
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from detect.plate_match import PlatePattern
from detect.plate_values import PLATE_VEHICLES
from detect.track_record import TrackRecord
from index.catalog.outbox import append_outbox
from index.catalog.rows import CaseRow, TrackRow, ensure_utc, utc_now
from index.catalog.watchlist_match import EntryTarget, WatchedTrack, match_entry, stored_pattern
from index.catalog.watchlist_rows import WatchlistEntryRow, WatchlistHitRow, WatchlistRow

TOPIC_HIT = "watchlist.hit"
MAX_NAME_CHARS = 200


class WatchlistError(ValueError):
    """A watchlist or entry that cannot be stored as given; the message starts with the field."""


class UnknownWatchlistError(LookupError):
    """No such watchlist (or entry of it)."""


@dataclass(frozen=True)
class Watchlist:
    id: int
    name: str
    case_id: str
    purpose: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    ended_reason: str | None

    def active(self, now: datetime) -> bool:
        return self.ended_at is None and self.expires_at > now


@dataclass(frozen=True)
class WatchlistEntry:
    id: int
    watchlist_id: int
    kind: str  # "plate" | "exemplar"
    label: str
    plate: PlatePattern | None
    exemplar_track_id: int | None
    embedding_version: str | None
    min_similarity: float | None
    created_at: datetime


@dataclass(frozen=True)
class WatchlistHit:
    id: int
    watchlist_id: int
    entry_id: int
    track_id: int
    camera_id: str
    at: datetime
    plate_text: str | None
    score: float


def _watchlist(row: WatchlistRow) -> Watchlist:
    return Watchlist(
        row.id, row.name, row.case_id, row.purpose, row.created_by, row.created_at,
        row.expires_at, row.ended_at, row.ended_reason,
    )  # fmt: skip


def _entry(row: WatchlistEntryRow) -> WatchlistEntry:
    return WatchlistEntry(
        row.id, row.watchlist_id, row.kind, row.label, stored_pattern(row), row.exemplar_track_id,
        row.embedding_version, row.min_similarity, row.created_at,
    )  # fmt: skip


def _hit(row: WatchlistHitRow) -> WatchlistHit:
    return WatchlistHit(
        row.id, row.watchlist_id, row.entry_id, row.track_id, row.camera_id, row.at,
        row.plate_text, row.score,
    )  # fmt: skip


def create_watchlist(
    session: Session,
    name: str,
    case_id: str,
    purpose: str,
    expires_at: datetime,
    created_by: str,
    now: datetime | None = None,
) -> Watchlist:
    """A new watchlist under the open case `case_id`; WatchlistError naming the field when the
    name or purpose is blank, the case is unknown or closed, or `expires_at` is not ahead."""
    now = utc_now() if now is None else now
    if not name.strip() or len(name) > MAX_NAME_CHARS:
        raise WatchlistError(f"name: must have 1-{MAX_NAME_CHARS} characters")
    if not purpose.strip():
        raise WatchlistError("purpose: must not be blank")
    case = session.get(CaseRow, case_id)
    if case is None:
        raise WatchlistError(f"case_id: case {case_id!r} does not exist")
    if case.closed_at is not None:
        raise WatchlistError(f"case_id: case {case_id!r} is closed")
    expires_at = ensure_utc(expires_at, "expires_at")
    if expires_at <= now:
        raise WatchlistError("expires_at: must be in the future")
    row = WatchlistRow(
        name=name, case_id=case_id, purpose=purpose, created_by=created_by, created_at=now,
        expires_at=expires_at,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return _watchlist(row)


def get_watchlist(session: Session, watchlist_id: int) -> Watchlist:
    row = session.get(WatchlistRow, watchlist_id)
    if row is None:
        raise UnknownWatchlistError(f"watchlist {watchlist_id} not found")
    return _watchlist(row)


def list_watchlists(session: Session, created_by: str | None = None) -> list[Watchlist]:
    """Watchlists, newest first (only those `created_by` someone when given)."""
    statement = select(WatchlistRow).order_by(WatchlistRow.id.desc())
    if created_by is not None:
        statement = statement.where(WatchlistRow.created_by == created_by)
    return [_watchlist(row) for row in session.scalars(statement)]


def end_watchlist(
    session: Session, watchlist_id: int, reason: str, now: datetime | None = None
) -> Watchlist:
    """Stop a watchlist from matching (its hits stay); ending twice keeps the first end."""
    row = session.get(WatchlistRow, watchlist_id)
    if row is None:
        raise UnknownWatchlistError(f"watchlist {watchlist_id} not found")
    if row.ended_at is None:
        row.ended_at = utc_now() if now is None else now
        row.ended_reason = reason[:64]
        session.flush()
    return _watchlist(row)


def end_case_watchlists(session: Session, case_id: str, now: datetime) -> int:
    """End every open watchlist of a case (cases.close_case, same transaction); how many."""
    rows = session.scalars(
        select(WatchlistRow).where(WatchlistRow.case_id == case_id, WatchlistRow.ended_at.is_(None))
    ).all()
    for row in rows:
        row.ended_at, row.ended_reason = now, "case closed"
    session.flush()
    return len(rows)


def add_plate_entry(
    session: Session, watchlist_id: int, pattern: PlatePattern, label: str = ""
) -> WatchlistEntry:
    """Watch for a plate (the pattern is validated when built: PlatePattern.parse)."""
    get_watchlist(session, watchlist_id)
    row = WatchlistEntryRow(
        watchlist_id=watchlist_id, kind="plate", label=label[:200], plate_pattern=pattern.text,
        plate_match=pattern.mode, max_distance=pattern.max_distance,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return _entry(row)


def add_exemplar_entry(
    session: Session,
    watchlist_id: int,
    embedding: np.ndarray,
    embedding_version: str,
    min_similarity: float,
    exemplar_track_id: int | None = None,
    label: str = "",
) -> WatchlistEntry:
    """Watch for a vehicle that looks like `embedding` (cosine ≥ `min_similarity`)."""
    if not 0.0 < min_similarity <= 1.0:
        raise WatchlistError("min_similarity: must be in (0, 1]")
    get_watchlist(session, watchlist_id)
    vector = np.asarray(embedding, dtype="<f4").ravel()
    vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
    row = WatchlistEntryRow(
        watchlist_id=watchlist_id, kind="exemplar", label=label[:200],
        exemplar_track_id=exemplar_track_id, embedding=vector.astype("<f4").tobytes(),
        embedding_version=embedding_version, min_similarity=min_similarity,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return _entry(row)


def track_embedding(session: Session, track_id: int) -> tuple[np.ndarray, str] | None:
    """A stored track's embedding and its version (None: no such track or no embedding)."""
    row = session.get(TrackRow, track_id)
    if row is None or row.embedding is None or row.embedding_version is None:
        return None
    return np.frombuffer(row.embedding, dtype="<f4"), row.embedding_version


def list_entries(session: Session, watchlist_id: int) -> list[WatchlistEntry]:
    statement = (
        select(WatchlistEntryRow)
        .where(
            WatchlistEntryRow.watchlist_id == watchlist_id, WatchlistEntryRow.removed_at.is_(None)
        )
        .order_by(WatchlistEntryRow.id)
    )
    return [_entry(row) for row in session.scalars(statement)]


def remove_entry(session: Session, watchlist_id: int, entry_id: int) -> None:
    row = session.get(WatchlistEntryRow, entry_id)
    if row is None or row.watchlist_id != watchlist_id or row.removed_at is not None:
        raise UnknownWatchlistError(f"entry {entry_id} of watchlist {watchlist_id} not found")
    row.removed_at = utc_now()
    session.flush()


def list_hits(
    session: Session,
    watchlist_id: int,
    camera_ids: Collection[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[WatchlistHit]:
    """A watchlist's hits, newest first; only on `camera_ids` when given."""
    statement = select(WatchlistHitRow).where(WatchlistHitRow.watchlist_id == watchlist_id)
    if camera_ids is not None:
        statement = statement.where(WatchlistHitRow.camera_id.in_(camera_ids))
    statement = statement.order_by(WatchlistHitRow.at.desc(), WatchlistHitRow.id.desc())
    return [_hit(row) for row in session.scalars(statement.limit(limit).offset(offset))]


def _active_targets(session: Session, now: datetime) -> list[tuple[WatchlistRow, EntryTarget]]:
    statement = (
        select(WatchlistRow, WatchlistEntryRow)
        .join(WatchlistEntryRow, WatchlistEntryRow.watchlist_id == WatchlistRow.id)
        .where(
            WatchlistRow.ended_at.is_(None),
            WatchlistRow.expires_at > now,
            WatchlistEntryRow.removed_at.is_(None),
        )
        .order_by(WatchlistEntryRow.id)
    )
    return [(w, EntryTarget.from_row(e)) for w, e in session.execute(statement).all()]


def match_watchlists(
    session: Session,
    track_ids: Sequence[int],
    records: Sequence[TrackRecord],
    now: datetime | None = None,
) -> list[WatchlistHit]:
    """Check freshly stored vehicle tracks against the active watchlists; each match becomes a
    hit row plus a `watchlist.hit` outbox row, flushed in the caller's transaction (the track
    indexer commits them with the tracks). A track already hit by an entry is not hit again
    (re-indexing is idempotent). Cost: one query for the active entries, then per vehicle
    track a few string comparisons and one dot product per exemplar."""
    vehicles = [
        WatchedTrack.from_record(track_id, record)
        for track_id, record in zip(track_ids, records, strict=True)
        if record.class_name in PLATE_VEHICLES
    ]
    if not vehicles:
        return []
    targets = _active_targets(session, utc_now() if now is None else now)
    if not targets:
        return []
    done = set(
        (entry_id, track_id)
        for entry_id, track_id in session.execute(
            select(WatchlistHitRow.entry_id, WatchlistHitRow.track_id).where(
                WatchlistHitRow.track_id.in_([v.track_id for v in vehicles])
            )
        )
    )
    hits: list[WatchlistHit] = []
    for track in vehicles:
        for watchlist, target in targets:
            match = match_entry(target, track)
            if match is None or (target.entry_id, track.track_id) in done:
                continue
            plate_text, score = match
            payload = {
                "watchlist_id": watchlist.id, "watchlist": watchlist.name,
                "case_id": watchlist.case_id, "entry_id": target.entry_id,
                "entry_kind": target.kind, "track_id": track.track_id,
                "camera_id": track.camera_id, "at": track.at.isoformat(),
                "plate_text": plate_text, "score": round(score, 4),
            }  # fmt: skip
            outbox_id = append_outbox(session, TOPIC_HIT, payload)
            row = WatchlistHitRow(
                watchlist_id=watchlist.id, entry_id=target.entry_id, track_id=track.track_id,
                camera_id=track.camera_id, at=track.at, plate_text=plate_text, score=score,
                outbox_id=outbox_id,
            )  # fmt: skip
            session.add(row)
            session.flush()
            done.add((target.entry_id, track.track_id))
            hits.append(_hit(row))
    return hits
