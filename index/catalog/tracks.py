"""Catalog repository for tracks: idempotent ingest, lookups, track search (the one filter
every search path uses, from a `TrackQuery`), FAISS pre-filters, embeddings."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from index.catalog.cameras import require_camera
from index.catalog.reindex_rows import IndexVersionRow
from index.catalog.rows import (
    TrackRow,
    TrackZoneRow,
    ensure_utc,
    insert_ignoring_conflict,
    utc_now,
)
from index.catalog.values import (
    MAX_TRACK_SPAN,
    NewTrack,
    StoredTrack,
    TrackMatch,
    TrackQuery,
    TrackSpan,
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
        detector_version=row.detector_version,
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
        "detector_version": track.detector_version,
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


# ---- track search: one filter for every search path -----------------------------------------

SCAN_BATCH_ROWS = 5000  # rows fetched per round trip when scanning candidates


def track_filter(statement: Select[Any], query: TrackQuery) -> Select[Any]:
    """`statement` restricted to the tracks passing `query`'s cameras, classes, zones and time
    (its attributes are matched in Python, see `matching_tracks`)."""
    if query.camera_ids is not None:
        statement = statement.where(TrackRow.camera_id.in_(sorted(query.camera_ids)))
    if query.class_names is not None:
        statement = statement.where(TrackRow.class_name.in_(sorted(query.class_names)))
    if query.zone_ids is not None:
        in_zones = select(TrackZoneRow.track_id).where(
            TrackZoneRow.zone_id.in_(sorted(query.zone_ids))
        )
        statement = statement.where(TrackRow.id.in_(in_zones))
    if query.end is not None:
        statement = statement.where(TrackRow.start_at < ensure_utc(query.end, "track query end"))
    if query.start is not None:
        start_utc = ensure_utc(query.start, "track query start")
        statement = statement.where(
            TrackRow.end_at > start_utc,
            TrackRow.start_at > start_utc - MAX_TRACK_SPAN,  # bounds the index range scan
        )
    return statement


def live_only(session: Session, statement: Select[Any]) -> Select[Any]:
    """`statement` without the tracks of index versions that are registered but not live (a
    shadow a re-index is building, the previous live one, a retired one, issue #15): searches
    see one version's tracks. One small read of `index_versions`; no condition at all while
    no such version exists."""
    hidden = sorted(
        session.scalars(select(IndexVersionRow.version).where(IndexVersionRow.state != "live"))
    )
    if not hidden:
        return statement
    return statement.where(
        or_(TrackRow.embedding_version.is_(None), TrackRow.embedding_version.not_in(hidden))
    )


def count_candidate_tracks(session: Session, query: TrackQuery) -> int:
    """How many tracks pass every part of `query` but its attributes (what a scan reads)."""
    if query.matches_nothing():
        return 0
    statement = live_only(session, track_filter(select(func.count(TrackRow.id)), query))
    return int(session.scalar(statement) or 0)


def matching_tracks(
    session: Session,
    query: TrackQuery,
    max_rows: int | None = None,
    scanned: Callable[[int], None] | None = None,
    scanned_every_rows: int = SCAN_BATCH_ROWS,
) -> Iterator[TrackMatch]:
    """Tracks passing `query`, newest first, with their matched attribute confidences.

    Cameras, classes, zones and time are filtered in SQL (at most `max_rows` candidates are
    read); attributes in Python over each candidate's JSON document, so the same code runs on
    SQLite and PostgreSQL whatever shape the attributes take. `scanned`, if given, is called
    with the number of candidates read so far after every `scanned_every_rows` (progress).
    """
    if query.matches_nothing():
        return
    statement = track_filter(
        select(TrackRow.id, TrackRow.attributes).order_by(TrackRow.start_at.desc()), query
    )
    statement = live_only(session, statement)
    if max_rows is not None:
        statement = statement.limit(max_rows)
    rows = session.execute(statement.execution_options(yield_per=SCAN_BATCH_ROWS))
    for count, (track_id, attributes) in enumerate(rows, 1):
        matched = query.attributes.match(attributes or {})
        if matched is not None:
            yield TrackMatch(int(track_id), matched)
        if scanned is not None and count % scanned_every_rows == 0:
            scanned(count)


def matching_track_ids(session: Session, query: TrackQuery) -> dict[int, Mapping[str, float]]:
    """Ids of the tracks passing `query` with their matched attribute confidences (a vector
    pre-filter); without attribute filters the ids come straight from the (camera, time)
    index, no JSON read."""
    if query.matches_nothing():
        return {}
    if query.attributes.is_empty():
        statement = live_only(session, track_filter(select(TrackRow.id), query))
        return {int(i): {} for i in session.scalars(statement)}
    return {match.track_id: match.matched for match in matching_tracks(session, query)}


def _spans(
    session: Session, camera_id: str, class_name: str, *conditions: ColumnElement[bool]
) -> list[TrackSpan]:
    columns: Any = select(
        TrackRow.id, TrackRow.camera_id, TrackRow.class_name, TrackRow.start_at, TrackRow.end_at
    )
    statement = live_only(  # hops stay within the live version's tracks
        session,
        columns.where(
            TrackRow.camera_id == camera_id, TrackRow.class_name == class_name, *conditions
        ),
    )
    return [
        TrackSpan(int(row.id), row.camera_id, row.class_name, row.start_at, row.end_at)
        for row in session.execute(statement)
    ]


def tracks_starting_between(
    session: Session, camera_id: str, class_name: str, earliest: datetime, latest: datetime
) -> list[TrackSpan]:
    """Tracks of `class_name` on the camera that started within [earliest, latest]."""
    return _spans(
        session,
        camera_id,
        class_name,
        TrackRow.start_at >= ensure_utc(earliest, "earliest"),
        TrackRow.start_at <= ensure_utc(latest, "latest"),
    )


def tracks_ending_between(
    session: Session, camera_id: str, class_name: str, earliest: datetime, latest: datetime
) -> list[TrackSpan]:
    """Tracks of `class_name` on the camera that ended within [earliest, latest]."""
    return _spans(
        session,
        camera_id,
        class_name,
        TrackRow.end_at >= ensure_utc(earliest, "earliest"),
        TrackRow.end_at <= ensure_utc(latest, "latest"),
    )


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


def camera_track_embeddings(
    session: Session, camera_id: str, embedding_version: str, lowest_local_id: int,
    highest_local_id: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(ids [N], vectors [N, D]) of a camera's tracks of a version with local ids in
    [lowest, highest] (one re-index unit's tracks, issue #15); D is 0 when N is."""
    rows = session.execute(
        select(TrackRow.id, TrackRow.embedding)
        .where(
            TrackRow.camera_id == camera_id,
            TrackRow.embedding_version == embedding_version,
            TrackRow.local_track_id.between(lowest_local_id, highest_local_id),
            TrackRow.embedding.is_not(None),
        )
        .order_by(TrackRow.id)
    ).all()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    ids = np.array([r.id for r in rows], dtype=np.int64)
    vectors = [np.frombuffer(r.embedding, dtype="<f4") for r in rows]
    if len({len(v) for v in vectors}) != 1:
        raise ValueError(f"embeddings of version {embedding_version!r} differ in dimension")
    return ids, np.stack(vectors).astype(np.float32)


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
