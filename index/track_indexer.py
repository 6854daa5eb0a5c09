"""Index stage entry: stores finished tracks and recorded segments in catalog, FAISS and storage."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from detect.plate_values import TrackPlate
from detect.track_record import TrackRecord
from index.catalog import (
    add_recording_gap,
    add_segment,
    add_tracks,
    count_embeddings,
    store_plates,
    track_embeddings,
)
from index.catalog.retention_plan import embedded_track_ids
from index.catalog.values import NewTrack
from index.catalog.watchlists import match_watchlists
from index.picture_spool import PictureSpool
from index.vectors import IndexPolicy, VectorIndex
from ingest.segment import Segment
from storage.objectstore import ObjectStore

log = logging.getLogger(__name__)

PAGE_ROWS = 10_000
MAINTAIN_EVERY_S = 2.0  # how often spooled pictures are retried and a due index save is made


def index_file(directory: Path, embedding_version: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in embedding_version)
    return directory / f"{safe}.faiss"


def catalog_pages(
    sessions: sessionmaker[Session],
    embedding_version: str,
    page_rows: int = PAGE_ROWS,
    after_id: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) pages of a version's embeddings with ids above `after_id`, in id order,
    one short session per page."""
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
    """The saved index plus the catalog's tracks newer than it, else one rebuilt from the catalog.

    The catalog commits a track before FAISS sees it, and ids grow with time, so a snapshot
    saved at any moment (TrackIndexer saves on a timer) lacks exactly the catalog's tracks above
    its highest id: after a crash those few are added instead of rebuilding everything. When
    the result still does not hold exactly the catalog's tracks (e.g. a crash between deleting
    tracks from the catalog and saving), it is rebuilt.
    """
    path = index_file(directory, embedding_version)
    with sessions() as session:
        expected = count_embeddings(session, embedding_version)
    if path.exists():
        try:
            saved = VectorIndex.load(path, embedding_version)
        except (OSError, ValueError, RuntimeError) as error:
            log.warning("vector index %s unreadable (%s); rebuilding from the catalog", path, error)
        else:
            if saved.dim == dim:
                in_snapshot = len(saved)
                for ids, vectors in catalog_pages(
                    sessions, embedding_version, after_id=saved.max_track_id()
                ):
                    saved.add(ids, vectors)
                if len(saved) == expected:
                    if len(saved) > in_snapshot:
                        log.info(
                            "vector index %s: %d saved, %d newer tracks added from the catalog",
                            path, in_snapshot, len(saved) - in_snapshot,
                        )  # fmt: skip
                    return saved
                saved.wait_until_idle()  # a build the catch-up started must not outlive it
            log.warning("vector index %s disagrees with the catalog; rebuilding from it", path)
    return rebuild_vector_index(sessions, directory, embedding_version, dim)


def remove_trackless_vectors(sessions: sessionmaker[Session], vectors: VectorIndex) -> int:
    """Remove the vectors whose track the catalog no longer holds (deleted by retention, or
    replaced by a re-index whose removal never reached this index); how many went. Safe while
    tracks are being indexed: the ids held are read before the catalog's, and a track's row
    commits before its vector is added, so a held id missing from the catalog is gone."""
    held = vectors.track_ids()
    with sessions() as session:
        in_catalog = np.array(embedded_track_ids(session, vectors.embedding_version), np.int64)
    stale = np.setdiff1d(held, in_catalog, assume_unique=True)
    if not len(stale):
        return 0
    log.info("vector index %s: %d vectors had no track; removed", vectors.embedding_version,
             len(stale))  # fmt: skip
    return vectors.remove(stale)


def context_key(thumbnail: str) -> str:
    """Key of the downscaled full frame at the best shot, beside its thumbnail."""
    return "contexts/" + thumbnail.removeprefix("thumbnails/")


def plate_crop_key(thumbnail: str) -> str:
    """Key of a vehicle track's plate crop, beside its thumbnail."""
    return "plates/" + thumbnail.removeprefix("thumbnails/")


def plate_rows(
    ids: list[int], records: list[TrackRecord], tracks: list[NewTrack]
) -> list[tuple[int, TrackPlate, str | None]]:
    """(track id, plate, crop key or None) of stored records carrying a plate (store_plates)."""
    return [
        (i, r.plate, plate_crop_key(t.thumbnail_key) if r.plate.crop_jpeg else None)
        for i, r, t in zip(ids, records, tracks, strict=True)
        if r.plate is not None and t.thumbnail_key is not None
    ]


def thumbnail_key(record: TrackRecord) -> str:
    ms = int(record.start_at.timestamp() * 1000)
    return (
        f"thumbnails/{record.camera_id}/{record.start_at:%Y/%m/%d}/{ms}-{record.local_track_id}.jpg"
    )


class TrackIndexer:
    """Writes in one direction: pictures first, then the catalog, then FAISS.

    A track's pictures are in object storage, or while it is down in the local picture spool
    (fsynced), before the catalog commits the row naming them; so a crash between steps leaves
    at most an unreferenced picture, never a catalog row whose picture is lost, and an
    object-storage outage loses no track (rows are written, pictures follow from the spool).
    FAISS follows the catalog: `maintain` (a background thread once `start`ed) uploads spooled
    pictures and saves the vector index every `save_every_s` when it changed, `stop` saves it
    once more; after a crash, `open_vector_index` adds the catalog's tracks newer than the last
    save instead of rebuilding. `picture_spool_dir` defaults to "picture_spool" beside
    `index_dir`; `clock` (monotonic seconds) is injectable so tests step it.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        vectors: VectorIndex,
        index_dir: Path,
        picture_spool_dir: Path | None = None,
        save_every_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        detector_version: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._detector_version = detector_version  # what the tracks record as their detector
        self.vectors = vectors
        self._index_dir = index_dir
        self.pictures = PictureSpool(store, picture_spool_dir or index_dir.parent / "picture_spool")
        self._save_every_s = save_every_s
        self._clock = clock
        self._saved_at_s = -math.inf  # a rebuilt or caught-up index is saved at the first round
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.tracks_indexed = 0
        self.segments_stored = 0

    def start(self) -> None:
        """Run `maintain` every MAINTAIN_EVERY_S on a background thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="track-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread, then `save`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None
        self.save()

    def index(self, records: list[TrackRecord]) -> list[int]:
        """Store finished tracks; returns their catalog ids (also their FAISS ids)."""
        tracks: list[NewTrack] = []
        pictures: list[tuple[str, bytes]] = []
        for record in records:
            key = thumbnail_key(record)
            tracks.append(NewTrack.from_record(record, key, self._detector_version))
            pictures.append((key, record.thumbnail_jpeg))
            if record.context_jpeg:
                pictures.append((context_key(key), record.context_jpeg))
            if record.plate is not None and record.plate.crop_jpeg:
                pictures.append((plate_crop_key(key), record.plate.crop_jpeg))
        self.pictures.put(pictures)  # stored or spooled before any row names them
        # One at a time from commit to FAISS: the vectors reach FAISS in id order, which is
        # what lets open_vector_index complete a saved snapshot from the catalog.
        with self._lock:
            with self._sessions() as session:
                ids = add_tracks(session, tracks)
                store_plates(session, plate_rows(ids, records, tracks))
                match_watchlists(session, ids, records)  # hits + outbox rows, same commit
                session.commit()
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

    def maintain(self) -> None:
        """One round of upkeep: upload spooled pictures; save the vector index when it changed
        and `save_every_s` passed since the last save.

        A save writes a whole snapshot (atomically, see index/vectors/files.py) and blocks
        index writes meanwhile, hence a timer rather than every write; a crash loses only the
        time to re-add the tracks since the last save (open_vector_index).
        """
        self.pictures.flush()
        due = self._clock() - self._saved_at_s >= self._save_every_s
        if due and self.vectors.unsaved_writes:
            self._save_vectors()

    def save(self) -> None:
        """Persist the vector index and try once more to upload spooled pictures."""
        self.pictures.flush()
        self._save_vectors()

    def _save_vectors(self) -> None:
        self.vectors.save(index_file(self._index_dir, self.vectors.embedding_version))
        self._saved_at_s = self._clock()

    def _run(self) -> None:
        while not self._stop.wait(MAINTAIN_EVERY_S):
            try:
                self.maintain()
            except Exception:  # e.g. a full disk: keep indexing, try again next round
                log.exception("track indexer maintenance failed")
