"""A re-index replaces what a segment held for the version it writes (issue #15).

A unit owns the tracks whose first frame lies in its segment (index/reindex_units.py), so when
it commits its tracks of embedding version V, the other tracks of the camera and of V starting
in [segment start, segment end) are the ones it supersedes: the live path's (a re-index with
the live version over footage live ingest had indexed) and an earlier job's. They are deleted
in the unit's own transaction (zone links, plates and clip flags go with them by cascade), so a
search sees a segment's old tracks or its new ones, never both, never neither. Tracks of other
versions are not touched: a shadow version's job leaves the live version as it is.

Tracks an investigator's work names stay: filed under a case (`case_material`), in a hop
decision, or a watchlist hit. Deleting those would delete the hops and hits with them, so they
are kept (and reported); everything else is deleted. The deleted tracks' thumbnail keys are
returned: the unit deletes those pictures (and their context frames and plate crops) after
its commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, union
from sqlalchemy.orm import Session

from index.catalog.hop_rows import HopDecisionRow
from index.catalog.retention_rows import CaseMaterialRow
from index.catalog.rows import TrackRow, ensure_utc
from index.catalog.watchlist_rows import WatchlistHitRow

IDS_PER_STATEMENT = 500


@dataclass(frozen=True)
class Superseded:
    """What a unit's commit replaced: deleted track ids (their vectors must leave the version's
    index), their thumbnail keys, and the ids kept because a case, hop or hit names them."""

    deleted_ids: tuple[int, ...] = ()
    thumbnail_keys: tuple[str, ...] = ()
    kept_ids: tuple[int, ...] = ()


def supersede_segment_tracks(
    session: Session,
    camera_id: str,
    embedding_version: str,
    start: datetime,
    end: datetime,
    own_local_ids: tuple[int, int],
) -> Superseded:
    """Delete the camera's tracks of `embedding_version` starting in [start, end) but for the
    unit's own (local ids within `own_local_ids`, inclusive) and those investigators' work
    names; flushes, never commits (the caller's unit transaction does)."""
    low, high = own_local_ids
    rows = session.execute(
        select(TrackRow.id, TrackRow.thumbnail_key).where(
            TrackRow.camera_id == camera_id,
            TrackRow.embedding_version == embedding_version,
            TrackRow.start_at >= ensure_utc(start, "segment start"),
            TrackRow.start_at < ensure_utc(end, "segment end"),
            or_(TrackRow.local_track_id < low, TrackRow.local_track_id > high),
        )
    ).all()
    if not rows:
        return Superseded()
    ids = sorted(int(row.id) for row in rows)
    kept = _referenced(session, ids)
    deleted = [i for i in ids if i not in kept]
    for offset in range(0, len(deleted), IDS_PER_STATEMENT):
        chunk = deleted[offset : offset + IDS_PER_STATEMENT]
        session.execute(delete(TrackRow).where(TrackRow.id.in_(chunk)))
    session.flush()
    keys = tuple(
        sorted(str(row.thumbnail_key) for row in rows if row.thumbnail_key and row.id not in kept)
    )
    return Superseded(tuple(deleted), keys, tuple(sorted(kept)))


def _referenced(session: Session, ids: list[int]) -> set[int]:
    """Those of `ids` a case's material, a hop decision or a watchlist hit names (one UNION
    query per chunk: 4 lists of IDS_PER_STATEMENT parameters, far below SQLite's 32 766 and
    PostgreSQL's 65 535)."""
    found: set[int] = set()
    for offset in range(0, len(ids), IDS_PER_STATEMENT):
        chunk = ids[offset : offset + IDS_PER_STATEMENT]
        named = union(
            select(CaseMaterialRow.ref_id).where(
                CaseMaterialRow.kind == "track", CaseMaterialRow.ref_id.in_(chunk)
            ),
            select(HopDecisionRow.from_track_id).where(HopDecisionRow.from_track_id.in_(chunk)),
            select(HopDecisionRow.to_track_id).where(HopDecisionRow.to_track_id.in_(chunk)),
            select(WatchlistHitRow.track_id).where(WatchlistHitRow.track_id.in_(chunk)),
        )
        found.update(int(i) for i in session.scalars(named))
    return found
