"""Index stage entry: stores finished tracks and recorded segments in catalog, FAISS and storage."""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from detect.track_record import TrackRecord
from index.catalog import (
    add_recording_gap,
    add_segment,
    add_track,
    track_embeddings,
)
from index.catalog_values import NewTrack, embedding_to_bytes
from index.vectors import VectorIndex
from ingest.objectstore import ObjectStore, StorageUnavailableError
from ingest.segment import Segment

log = logging.getLogger(__name__)

MAX_PENDING_PICTURES = 20_000  # ~20 KB each: bounded memory while object storage is down


def index_file(directory: Path, embedding_version: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in embedding_version)
    return directory / f"{safe}.faiss"


def rebuild_vector_index(
    sessions: sessionmaker[Session], embedding_version: str, dim: int
) -> VectorIndex:
    """A fresh index from the embeddings the catalog keeps (the catalog is the source of truth)."""
    vectors = VectorIndex(dim, embedding_version)
    after_id = 0
    with sessions() as session:
        while True:
            ids, matrix = track_embeddings(session, embedding_version, after_id=after_id)
            if len(ids) == 0:
                return vectors
            vectors.add(ids.tolist(), matrix)
            after_id = int(ids[-1])


def open_vector_index(
    sessions: sessionmaker[Session], directory: Path, embedding_version: str, dim: int
) -> VectorIndex:
    """Load the saved index when it matches the catalog's count, else rebuild it from there."""
    rebuilt = rebuild_vector_index(sessions, embedding_version, dim)
    path = index_file(directory, embedding_version)
    if path.exists():
        saved = VectorIndex.load(path, embedding_version)
        if len(saved) == len(rebuilt) and saved.dim == dim:
            return saved
        log.warning("vector index %s disagrees with the catalog; rebuilt from it", path)
    return rebuilt


def context_key(thumbnail: str) -> str:
    """Key of the downscaled full frame at the best shot, beside its thumbnail."""
    return "contexts/" + thumbnail.removeprefix("thumbnails/")


def thumbnail_key(record: TrackRecord) -> str:
    ms = int(record.start_at.timestamp() * 1000)
    return (
        f"thumbnails/{record.camera_id}/{record.start_at:%Y/%m/%d}/{ms}-{record.local_track_id}.jpg"
    )


class TrackIndexer:
    """Writes in one direction: object storage first, then the catalog, then FAISS.

    A crash between steps leaves at most an unreferenced object, never a catalog row that
    points at nothing; FAISS can always be rebuilt from the catalog.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        vectors: VectorIndex,
        index_dir: Path,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self.vectors = vectors
        self._index_dir = index_dir
        self._lock = threading.Lock()
        self._pending_pictures: deque[tuple[str, bytes]] = deque(maxlen=MAX_PENDING_PICTURES)
        self.tracks_indexed = 0
        self.segments_stored = 0

    def index(self, records: list[TrackRecord]) -> list[int]:
        """Store finished tracks; returns their catalog ids (also their FAISS ids)."""
        ids = []
        with self._lock, self._sessions() as session:
            self._flush_pictures()
            for record in records:
                key = thumbnail_key(record)
                self._pending_pictures.append((key, record.thumbnail_jpeg))
                if record.context_jpeg:
                    self._pending_pictures.append((context_key(key), record.context_jpeg))
                ids.append(
                    add_track(
                        session,
                        NewTrack(
                            camera_id=record.camera_id,
                            local_track_id=record.local_track_id,
                            class_name=record.class_name,
                            confidence=record.confidence,
                            start_at=record.start_at,
                            end_at=record.end_at,
                            best_shot_at=record.best_shot_at,
                            best_bbox_xyxy_px=record.best_box,
                            thumbnail_key=key,
                            embedding=embedding_to_bytes(record.embedding),
                            embedding_version=record.embedding_version,
                            attributes=record.attributes,
                            trajectory=record.trajectory,
                        ),
                    )
                )
            session.commit()
            self._flush_pictures()
            version = self.vectors.embedding_version
            pairs = [
                (i, r.embedding)
                for i, r in zip(ids, records, strict=True)
                if r.embedding_version == version
            ]
            if pairs:
                self.vectors.add([i for i, _ in pairs], np.stack([v for _, v in pairs]))
            self.tracks_indexed += len(records)
        return ids

    def record_segment(self, segment: Segment) -> None:
        """Record an uploaded segment in the catalog's recording index (idempotent)."""
        with self._sessions() as session:
            add_segment(
                session,
                segment.camera_id,
                segment.start_at,
                segment.end_at,
                segment.object_key,
                segment.sha256,
                segment.size_bytes,
            )
            session.commit()
        self.segments_stored += 1

    def record_gap(self, camera_id: str, start_at: datetime, end_at: datetime, reason: str) -> None:
        """Record a span without recording (stream outage) with its cause."""
        with self._sessions() as session:
            add_recording_gap(session, camera_id, start_at, end_at, reason[:200])
            session.commit()

    def _flush_pictures(self) -> None:
        """Upload queued thumbnails in order; while storage is down they wait (bounded queue).

        The track rows are written regardless, so an object-storage outage loses no track.
        """
        while self._pending_pictures:
            key, jpeg = self._pending_pictures[0]
            try:
                self._store.put_bytes(key, jpeg, "image/jpeg")
            except StorageUnavailableError as error:
                log.warning(
                    "thumbnails wait for storage (%d queued): %s",
                    len(self._pending_pictures),
                    error,
                )
                return
            self._pending_pictures.popleft()

    def save(self) -> None:
        """Persist the vector index and try once more to upload queued thumbnails."""
        with self._lock:
            self._flush_pictures()
        self.vectors.save(index_file(self._index_dir, self.vectors.embedding_version))
