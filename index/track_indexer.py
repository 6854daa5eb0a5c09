"""Index stage entry: stores finished tracks and recorded segments in catalog, FAISS and storage."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from detect.track_record import TrackRecord
from index.catalog import (
    add_recording_gap,
    add_segment,
    add_track,
    count_embeddings,
    track_embeddings,
)
from index.catalog.values import NewTrack
from index.vectors import IndexPolicy, VectorIndex
from ingest.segment import Segment
from storage.objectstore import ObjectStore, StorageUnavailableError

log = logging.getLogger(__name__)

PAGE_ROWS = 10_000

MAX_PENDING_PICTURES = 20_000  # ~20 KB each: bounded memory while object storage is down


def index_file(directory: Path, embedding_version: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in embedding_version)
    return directory / f"{safe}.faiss"


def catalog_pages(
    sessions: sessionmaker[Session], embedding_version: str, page_rows: int = PAGE_ROWS
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) pages of a version's embeddings in id order, one short session per page."""
    after_id = 0
    while True:
        with sessions() as session:
            ids, vectors = track_embeddings(session, embedding_version, after_id, page_rows)
        if len(ids) == 0:
            return
        yield ids, vectors
        after_id = int(ids[-1])


def build_from_pages(
    pages: Iterable[tuple[np.ndarray, np.ndarray]],
    dim: int,
    embedding_version: str,
    expected_count: int,
    policy: IndexPolicy | None = None,
    work_dir: Path | None = None,
) -> VectorIndex:
    """A fresh index from (ids, vectors) pages; trains the approximate index up front when
    `expected_count` reaches the policy's threshold, so a bulk load is trained only once."""
    index = VectorIndex(dim, embedding_version, policy, work_dir)
    sample_rows = index.policy.train_sample_rows
    held_ids: list[np.ndarray] = []
    held_vectors: list[np.ndarray] = []
    held = 0
    trained = expected_count < index.policy.approximate_from_count
    for ids, vectors in pages:
        if trained:
            index.add(ids, vectors)
            continue
        held_ids.append(ids)
        held_vectors.append(vectors)
        held += len(ids)
        if held >= min(sample_rows, expected_count):
            sample = np.concatenate(held_vectors)
            index.train_approximate(sample, max(expected_count, held))
            index.add(np.concatenate(held_ids), sample)
            held_ids, held_vectors, trained = [], [], True
    if held_ids:  # fewer vectors arrived than expected: add what came, the policy decides
        index.add(np.concatenate(held_ids), np.concatenate(held_vectors))
    index.wait_until_idle()
    return index


def rebuild_vector_index(
    sessions: sessionmaker[Session], directory: Path, embedding_version: str, dim: int
) -> VectorIndex:
    """A fresh index from the embeddings the catalog keeps (the catalog is the source of truth)."""
    with sessions() as session:
        count = count_embeddings(session, embedding_version)
    pages = catalog_pages(sessions, embedding_version)
    return build_from_pages(pages, dim, embedding_version, count, work_dir=directory)


def open_vector_index(
    sessions: sessionmaker[Session], directory: Path, embedding_version: str, dim: int
) -> VectorIndex:
    """The saved index when it holds exactly the catalog's tracks, else one rebuilt from it."""
    path = index_file(directory, embedding_version)
    with sessions() as session:
        expected = count_embeddings(session, embedding_version)
    if path.exists():
        try:
            saved = VectorIndex.load(path, embedding_version)
        except (OSError, ValueError, RuntimeError) as error:
            log.warning("vector index %s unreadable (%s); rebuilding from the catalog", path, error)
        else:
            if len(saved) == expected and saved.dim == dim:
                return saved
            log.warning("vector index %s disagrees with the catalog; rebuilding from it", path)
    return rebuild_vector_index(sessions, directory, embedding_version, dim)


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
                ids.append(add_track(session, NewTrack.from_record(record, key)))
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
            add_segment(session, segment)
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
