"""Catalog repository for tracks: idempotent ingest, lookups, FAISS pre-filters, embeddings."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from index.catalog.cameras import require_camera
from index.catalog.rows import (
    TrackRow,
    ensure_utc,
    insert_ignoring_conflict,
    utc_now,
)
from index.catalog.values import (
    MAX_TRACK_SPAN,
    NewTrack,
    StoredTrack,
    embedding_to_bytes,
)
from index.catalog.zones import link_new_tracks


def _stored_track(row: TrackRow) -> StoredTrack:
    return StoredTrack(
        id=row.id,
        created_at=row.created_at,
        camera_id=row.camera_id,
        local_track_id=row.local_track_id,
        class_name=row.class_name,
        confidence=row.confidence,
        start_at=row.start_at,
        end_at=row.end_at,
        best_shot_at=row.best_shot_at,
        best_bbox_xyxy_px=(row.bbox_x1, row.bbox_y1, row.bbox_x2, row.bbox_y2),
        thumbnail_key=row.thumbnail_key,
        embedding=row.embedding,
        embedding_version=row.embedding_version,
        attributes=dict(row.attributes or {}),
        trajectory=tuple(tuple(point) for point in row.trajectory or ()),
        frame_size_px=(
            None
            if row.frame_width_px is None or row.frame_height_px is None
            else (row.frame_width_px, row.frame_height_px)
        ),
    )


TRACK_KEY_COLUMNS = ("camera_id", "local_track_id", "start_at")
TRACKS_PER_STATEMENT = 1000  # rows per executemany; SQLAlchemy batches them into multi-row INSERTs

TrackKey = tuple[str, int, datetime]


def _track_values(track: NewTrack, created_at: datetime) -> dict[str, Any]:
    x1, y1, x2, y2 = (float(v) for v in track.best_bbox_xyxy_px)
    return {
        "camera_id": track.camera_id,
        "local_track_id": int(track.local_track_id),
        "class_name": track.class_name,
        "confidence": float(track.confidence),
        "start_at": track.start_at,
        "end_at": track.end_at,
        "best_shot_at": track.best_shot_at,
        "bbox_x1": x1,
        "bbox_y1": y1,
        "bbox_x2": x2,
        "bbox_y2": y2,
        "thumbnail_key": track.thumbnail_key,
        "embedding": track.embedding,
        "embedding_version": track.embedding_version,
        "attributes": dict(track.attributes),
        "trajectory": [[float(v) for v in point] for point in track.trajectory],
        "frame_width_px": None if track.frame_size_px is None else int(track.frame_size_px[0]),
        "frame_height_px": None if track.frame_size_px is None else int(track.frame_size_px[1]),
        "created_at": created_at,
    }


def _key(track: NewTrack) -> TrackKey:
    return (track.camera_id, int(track.local_track_id), track.start_at)


def _existing_ids(session: Session, keys: Collection[TrackKey]) -> dict[TrackKey, int]:
    """Ids of already stored tracks with these unique keys."""
    found: dict[TrackKey, int] = {}
    for camera_id in {k[0] for k in keys}:
        local_ids = sorted({k[1] for k in keys if k[0] == camera_id})
        rows = session.execute(
            select(TrackRow.id, TrackRow.local_track_id, TrackRow.start_at).where(
                TrackRow.camera_id == camera_id, TrackRow.local_track_id.in_(local_ids)
            )
        )
        for row in rows:
            key = (camera_id, row.local_track_id, row.start_at)
            if key in keys:
                found[key] = int(row.id)
    return found


def add_tracks(session: Session, tracks: Sequence[NewTrack]) -> list[int]:
    """Store finished tracks and return their ids in input order.

    Idempotent on (camera_id, local_track_id, start_at): a track already stored (a re-ingest,
    or a repeat within `tracks`) gets the existing id instead of a duplicate row. Rows are
    written by an executemany INSERT ... ON CONFLICT DO NOTHING RETURNING (batched VALUES).
    The new rows are linked to the zones their trajectories pass through.
    """
    for camera_id in sorted({t.camera_id for t in tracks}):
        require_camera(session, camera_id)
    created_at = utc_now()
    ids: dict[TrackKey, int] = {}
    for offset in range(0, len(tracks), TRACKS_PER_STATEMENT):
        chunk = [t for t in tracks[offset : offset + TRACKS_PER_STATEMENT] if _key(t) not in ids]
        if not chunk:
            continue
        statement = (
            insert_ignoring_conflict(session, TrackRow)
            .on_conflict_do_nothing(index_elements=list(TRACK_KEY_COLUMNS))
            .returning(TrackRow.id, TrackRow.camera_id, TrackRow.local_track_id, TrackRow.start_at)
        )
        rows = [_track_values(t, created_at) for t in chunk]
        inserted = {
            (row.camera_id, row.local_track_id, row.start_at): int(row.id)
            for row in session.execute(statement, rows)
        }
        ids.update(inserted)
        by_key = {_key(t): t for t in chunk}
        link_new_tracks(session, [(i, by_key[key]) for key, i in inserted.items()])
        missing = {_key(t) for t in chunk} - ids.keys()
        if missing:
            ids.update(_existing_ids(session, missing))
    unresolved = [k for k in map(_key, tracks) if k not in ids]
    if unresolved:  # pragma: no cover - a conflicting row vanished between statements
        raise RuntimeError(f"tracks {unresolved[:3]} conflicted but are not in the catalog")
    return [ids[_key(t)] for t in tracks]


def add_track(session: Session, track: NewTrack) -> int:
    """Store one finished track and return its id (idempotent, see add_tracks)."""
    return add_tracks(session, [track])[0]


def get_track(session: Session, track_id: int) -> StoredTrack | None:
    row = session.get(TrackRow, int(track_id))
    return None if row is None else _stored_track(row)


def tracks_by_ids(session: Session, track_ids: Iterable[int]) -> list[StoredTrack]:
    """The tracks with these ids, in the order given (unknown ids are skipped)."""
    wanted = [int(i) for i in track_ids]
    if not wanted:
        return []
    by_id: dict[int, StoredTrack] = {}
    chunk = 5000
    for offset in range(0, len(wanted), chunk):
        ids = wanted[offset : offset + chunk]
        for row in session.scalars(select(TrackRow).where(TrackRow.id.in_(ids))):
            by_id[row.id] = _stored_track(row)
    return [by_id[i] for i in wanted if i in by_id]


def _track_filter(
    statement: Select[Any],
    camera_ids: Collection[str] | None,
    start: datetime | None,
    end: datetime | None,
    class_names: Collection[str] | None,
) -> Select[Any]:
    if camera_ids is not None:
        statement = statement.where(TrackRow.camera_id.in_(sorted(camera_ids)))
    if class_names is not None:
        statement = statement.where(TrackRow.class_name.in_(sorted(class_names)))
    if end is not None:
        statement = statement.where(TrackRow.start_at < ensure_utc(end, "track query end"))
    if start is not None:
        start_utc = ensure_utc(start, "track query start")
        statement = statement.where(
            TrackRow.end_at > start_utc,
            TrackRow.start_at > start_utc - MAX_TRACK_SPAN,  # bounds the index range scan
        )
    return statement


def track_ids_matching(
    session: Session,
    camera_ids: Collection[str] | None,
    start: datetime | None,
    end: datetime | None,
    class_names: Collection[str] | None,
) -> set[int]:
    """Ids of tracks seen on these cameras, overlapping [start, end), of these classes.

    None means "no restriction" for each filter; an empty collection matches nothing.
    Used to pre-filter FAISS searches.
    """
    if (camera_ids is not None and not camera_ids) or (class_names is not None and not class_names):
        return set()
    statement = _track_filter(select(TrackRow.id), camera_ids, start, end, class_names)
    return {int(i) for i in session.scalars(statement)}


def set_track_embedding(
    session: Session, track_id: int, embedding: bytes, embedding_version: str
) -> None:
    """Replace a track's embedding (re-index with a new model version)."""
    row = session.get(TrackRow, int(track_id))
    if row is None:
        raise LookupError(f"track {track_id} is not in the catalog")
    row.embedding = embedding_to_bytes(np.frombuffer(embedding, dtype="<f4"))
    row.embedding_version = embedding_version
    session.flush()


def count_embeddings(session: Session, embedding_version: str) -> int:
    """How many tracks carry an embedding of this version (what its vector index must hold)."""
    statement = select(func.count(TrackRow.id)).where(
        TrackRow.embedding_version == embedding_version, TrackRow.embedding.is_not(None)
    )
    return int(session.scalar(statement) or 0)


def track_embeddings(
    session: Session, embedding_version: str, after_id: int = 0, limit: int = 10_000
) -> tuple[np.ndarray, np.ndarray]:
    """One page of (ids int64 [N], vectors float32 [N, D]) for a model version, id order.

    Page through with `after_id=ids[-1]` until N == 0; used to rebuild the FAISS index.
    """
    rows = session.execute(
        select(TrackRow.id, TrackRow.embedding)
        .where(
            TrackRow.embedding_version == embedding_version,
            TrackRow.id > after_id,
            TrackRow.embedding.is_not(None),
        )
        .order_by(TrackRow.id)
        .limit(limit)
    ).all()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    ids = np.array([r.id for r in rows], dtype=np.int64)
    blob = b"".join(r.embedding for r in rows)
    dim = len(rows[0].embedding) // 4
    if len(blob) != dim * 4 * len(rows):
        raise ValueError(f"embeddings of version {embedding_version!r} differ in dimension")
    return ids, np.frombuffer(blob, dtype="<f4").reshape(len(rows), dim).astype(np.float32)
