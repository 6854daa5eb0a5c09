"""Deferred plate reads on the recorded main stream (issue #14).

A vehicle track of a camera whose `plate_source` is "main" is indexed at once without a plate
and carries `plate_views` (detect/plate_views.py: each with its analysed sub-stream crop; the
track builder reads none of them, one read per vehicle instead of two). Its best view is
usually in the segment still being recorded, so the request waits here until every view's time
is covered by a closed segment of that camera (or the camera's newest closed segment ends after
it: a view in a recording gap is given up), at most `max_wait_s`. Then, on this queue's own
thread: the segment is read from the local spool file (before or while it uploads) or else
fetched from object storage; its frames at the views' times are decoded in one pass per run of
close times (ingest/segment_frames.py); each view is found again on the full-resolution frame
and read by the same `PlateReader` (detect/main_stream_plates.py); the reads are voted.

Write order as the track indexer's: the plate crop goes to storage (or the picture spool) under
the track's plate-crop key first, then one catalog transaction replaces the plate row and runs
the watchlist check (a hit and its outbox row commit with the plate, so the events channel
pushes it). Failures lose nothing: when the main stream cannot be read (`SUB_READ_FALLBACKS`:
views in a recording gap, a missing, truncated or undecodable segment, storage down, a request
that waited too long, the queue stopped) the views' sub-stream crops are read instead, as a
"sub" camera's are, and stored the same way (crop, plate row, watchlist check). A main read that
finds no plate, views too small for the main stream's gate and a parked vehicle read in vain
lately are not failures: the sub stream's third of the pixels reads none of them either. Each
fall-back is logged and counted in `stats`. Requests live in memory: an orderly stop reads the
waiting tracks' sub crops; a crash loses their plates (at most `max_wait_s` of vehicles).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from detect.main_stream_plates import (
    MAX_MAIN_READS,
    MAX_VIEWS_PER_TRACK,
    NO_PLATE_MEMORY_S,
    MainRead,
    ReadInVain,
    legible_on,
    look_of,
    map_box,
    read_in_vain_before,
    read_sub_views,
    read_view,
    stood_still,
    sure_read,
    vote_main_reads,
)
from detect.plate_values import TrackPlate
from detect.plate_views import PlateView
from detect.track_builder import PlateSighter
from detect.track_record import TrackRecord
from index.catalog.plate_updates import replace_plate
from index.catalog.watchlists import match_watchlists
from index.picture_spool import PictureSpool
from index.track_indexer import plate_crop_key, thumbnail_key
from ingest.segment import Segment
from ingest.segment_frames import SegmentDecodeError, decode_runs, frames_at, segment_size_px
from storage.objectstore import ObjectStore, ObjectStoreError

log = logging.getLogger(__name__)

MAX_WAIT_S = 60.0
SEGMENT_HISTORY_S = 900.0  # closed segments remembered per camera (a long track's old views)
POLL_S = 0.5
MAX_IN_VAIN_PER_CAMERA = 64
# Fall-backs where the main stream could not be read: the views' sub-stream crops are read.
SUB_READ_FALLBACKS = frozenset({"segment_missing", "segment_unreadable", "timed_out", "stopped"})


@dataclass(frozen=True)
class _Request:
    track_id: int
    record: TrackRecord
    views: tuple[PlateView, ...]
    submitted_s: float


@dataclass(frozen=True)
class _Closed:
    segment: Segment
    path: Path | None


@dataclass
class MainPlateStats:
    """What the queue did: requests, tracks whose main-stream plate it stored (and changed),
    the reason of each fall-back, the fall-backs' sub-stream reads and the plates they stored,
    and per stored main read the seconds from the track's best view to the commit and from the
    read's start to the commit."""

    submitted: int = 0
    stored: int = 0
    changed: int = 0
    fallbacks: Counter[str] = field(default_factory=Counter)
    sub_reads: int = 0
    sub_stored: int = 0
    reads: int = 0
    illegible_views: int = 0
    read_in_vain_before: int = 0  # views skipped: a parked vehicle's plate was not found lately
    best_view_to_commit_s: list[float] = field(default_factory=list)
    read_to_commit_s: list[float] = field(default_factory=list)


class MainStreamPlates:
    """The deferred main-stream plate queue: `segment_closed` (the recorder's segments) and
    `submit` (indexed tracks) in, plate rows and watchlist hits out; `start`/`stop`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        pictures: PictureSpool,
        reader: PlateSighter,
        max_wait_s: float = MAX_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
        max_reads: int = MAX_MAIN_READS,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._pictures = pictures
        self._reader = reader
        self._max_wait_s = max_wait_s
        self._max_reads = max_reads
        # each camera's main-stream (W, H), read from its first segment (the queue's thread only)
        self._main_size_px: dict[str, tuple[int, int]] = {}
        self._in_vain: dict[str, list[ReadInVain]] = {}  # per camera (the queue's thread only)
        self._clock = clock
        self._pending: list[_Request] = []
        self._segments: dict[str, deque[_Closed]] = defaultdict(deque)
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = MainPlateStats()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="main-plates", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; requests still waiting are read on their sub-stream crops."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None
        with self._lock:
            waiting, self._pending = self._pending, []
        for request in waiting:
            self._fall_back(request, "stopped", "stopped before its segment closed")

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def segment_closed(self, path: Path | None, segment: Segment) -> None:
        """A camera's segment was closed (`path`: its local file while it lasts)."""
        with self._lock:
            closed = self._segments[segment.camera_id]
            closed.append(_Closed(segment, path))
            while (segment.end_at - closed[0].segment.end_at).total_seconds() > SEGMENT_HISTORY_S:
                closed.popleft()
            self._lock.notify_all()

    def submit(self, track_ids: Sequence[int], records: Sequence[TrackRecord]) -> None:
        """Queue the indexed tracks that carry main-stream plate views (others are ignored)."""
        now_s = self._clock()
        requests = [
            _Request(track_id, record, record.plate_views[:MAX_VIEWS_PER_TRACK], now_s)
            for track_id, record in zip(track_ids, records, strict=True)
            if record.plate_views
        ]
        if not requests:
            return
        with self._lock:
            self._pending.extend(requests)
            self.stats.submitted += len(requests)
            self._lock.notify_all()

    def after(
        self, index: Callable[[list[TrackRecord]], list[int]]
    ) -> Callable[[list[TrackRecord]], list[int]]:
        """A track sink that indexes with `index` (TrackIndexer.index), then queues."""

        def index_then_queue(records: list[TrackRecord]) -> list[int]:
            ids = index(records)
            self.submit(ids, records)
            return ids

        return index_then_queue

    def process_ready(self) -> int:
        """Read every request whose segments have closed, give up on those that waited too
        long; how many were handled (the thread calls this; tests may too)."""
        now_s = self._clock()
        with self._lock:
            ready: list[tuple[_Request, list[tuple[_Closed, list[PlateView]]]]] = []
            expired: list[_Request] = []
            waiting: list[_Request] = []
            for request in self._pending:
                plan = self._plan(request)
                if plan is not None:
                    ready.append((request, plan))
                elif now_s - request.submitted_s > self._max_wait_s:
                    expired.append(request)
                else:
                    waiting.append(request)
            self._pending = waiting
        for request in expired:
            self._fall_back(request, "timed_out", "no closed segment in time")
        for request, plan in ready:
            self._read(request, plan)
        return len(ready) + len(expired)

    def _plan(self, request: _Request) -> list[tuple[_Closed, list[PlateView]]] | None:
        """The request's views as decode runs (views of one segment close in time), the run
        holding the best view first; None while a view's segment may still come (the caller
        holds the lock)."""
        closed = self._segments.get(request.record.camera_id, ())
        newest_end = max((c.segment.end_at for c in closed), default=None)
        groups: dict[int, tuple[_Closed, list[PlateView]]] = {}
        for view in request.views:  # best first
            holder = next(
                (c for c in closed if c.segment.start_at <= view.at < c.segment.end_at), None
            )
            if holder is not None:
                groups.setdefault(id(holder), (holder, []))[1].append(view)
            elif newest_end is None or newest_end <= view.at:
                return None  # its segment is still being recorded
        runs: list[tuple[int, _Closed, list[PlateView]]] = []
        for holder, views in groups.values():
            offsets = [(v.at - holder.segment.start_at).total_seconds() for v in views]
            for run in decode_runs(offsets):
                ranked = sorted(run)  # indices follow the request's order: best first
                rank = request.views.index(views[ranked[0]])
                runs.append((rank, holder, [views[k] for k in ranked]))
        return [(holder, views) for _rank, holder, views in sorted(runs, key=lambda r: r[0])]

    def _read(self, request: _Request, plan: list[tuple[_Closed, list[PlateView]]]) -> None:
        started_s = self._clock()
        reads: list[MainRead] = []
        problems: list[str] = []
        frame_size_px = (0, 0)
        sources: dict[str, bytes] = {}
        camera_id = request.record.camera_id
        skipped = 0
        in_vain = 0
        for closed, planned in plan:
            if _enough(reads, self._max_reads):
                break
            key = closed.segment.object_key
            fresh = self._not_read_in_vain(camera_id, planned)
            in_vain += len(planned) - len(fresh)
            views = self._legible(camera_id, fresh)
            try:
                if views:
                    source = sources.get(key) or self._source(closed)
                    sources[key] = source
                    if camera_id not in self._main_size_px:  # the camera's first read
                        self._main_size_px[camera_id] = segment_size_px(source)
                        views = self._legible(camera_id, views)
                skipped += len(fresh) - len(views)
                if not views:
                    continue
                frames = frames_at(source, closed.segment.start_at, [v.at for v in views])
            except (SegmentDecodeError, ObjectStoreError, OSError) as error:
                problems.append(f"{key}: {error}")
                continue
            for view, frame in zip(views, frames, strict=True):
                if _enough(reads, self._max_reads):
                    break
                if frame is None:
                    problems.append(f"{key}: no frame at {view.at.isoformat()}")
                    continue
                reads.append(read_view(view, frame.image, frame.at, self._reader))
                frame_size_px = frame.size_px
        with self._lock:
            self.stats.reads += sum(r.legible for r in reads)
            self.stats.illegible_views += skipped + sum(not r.legible for r in reads)
            self.stats.read_in_vain_before += in_vain
        plate = vote_main_reads(reads)
        if plate is None:
            if not plan:
                self._fall_back(request, "segment_missing", "its views fell in a recording gap")
            elif problems and not reads:
                self._fall_back(request, "segment_unreadable", "; ".join(problems))
            elif not reads and in_vain:
                self._fall_back(request, "read_in_vain_before", f"{in_vain} views")
            elif not reads:
                self._fall_back(request, "illegible", f"{skipped} views too small to read")
            else:
                if stood_still(request.record.trajectory):  # parked: not read for a while
                    self._remember_in_vain(camera_id, reads, request.views)
                self._fall_back(request, "no_plate_read", f"{len(reads)} views read")
            return
        try:
            self._store_plate(request, plate, frame_size_px, "main")
        except Exception as error:  # the catalog or storage failed
            log.exception("main-stream plate of track %d not stored", request.track_id)
            self._fall_back(request, "not_stored", str(error))
            return
        done_s = self._clock()
        best_view_s = (datetime.now(UTC) - request.record.best_shot_at).total_seconds()
        old = request.record.plate
        with self._lock:
            self.stats.stored += 1
            self.stats.changed += old is None or old.text != plate.text
            self.stats.best_view_to_commit_s.append(round(best_view_s, 3))
            self.stats.read_to_commit_s.append(round(done_s - started_s, 3))

    def _not_read_in_vain(self, camera_id: str, views: list[PlateView]) -> list[PlateView]:
        """The views not showing a vehicle whose plate was read in vain lately (parked)."""
        memory = self._in_vain.get(camera_id, [])
        now_s = self._clock()
        return [v for v in views if not read_in_vain_before(v, memory, now_s)]

    def _remember_in_vain(
        self, camera_id: str, reads: list[MainRead], views: Sequence[PlateView]
    ) -> None:
        """Note the views read in vain, dropping expired notes."""
        now_s = self._clock()
        read_at = {r.view_at for r in reads if r.legible}
        kept = [m for m in self._in_vain.get(camera_id, []) if m.until_s > now_s]
        kept += [
            ReadInVain(v.box_xyxy_px, look_of(v), now_s + NO_PLATE_MEMORY_S)
            for v in views
            if v.at in read_at and min(v.crop.shape[:2]) >= 2
        ]
        self._in_vain[camera_id] = kept[-MAX_IN_VAIN_PER_CAMERA:]

    def _legible(self, camera_id: str, views: list[PlateView]) -> list[PlateView]:
        """The views whose vehicle is legible at the camera's main-stream size (all of them
        while it is unknown): a distant vehicle costs no fetch and no decode."""
        size_px = self._main_size_px.get(camera_id)
        if size_px is None:
            return views
        return [v for v in views if legible_on(map_box(v.box_xyxy_px, v.frame_size_px, size_px))]

    def _source(self, closed: _Closed) -> bytes:
        """The segment's bytes: its local file while it is there (read whole, so an upload
        deleting it meanwhile does not matter), else its stored object."""
        if closed.path is not None:
            try:
                return closed.path.read_bytes()
            except FileNotFoundError:
                pass  # uploaded (or dropped) since: the store has it, or nobody does
        return self._store.get(closed.segment.object_key)

    def _store_plate(
        self, request: _Request, plate: TrackPlate, frame_size_px: tuple[int, int], stream: str
    ) -> None:
        """Crop first, then the plate row and the watchlist check in one transaction."""
        record = replace(request.record, plate=plate, plate_views=())
        crop_key = None
        if plate.crop_jpeg:
            crop_key = plate_crop_key(thumbnail_key(record))
            self._pictures.put([(crop_key, plate.crop_jpeg)])
        with self._sessions() as session:
            if not replace_plate(session, request.track_id, plate, crop_key, frame_size_px, stream):
                raise LookupError(f"track {request.track_id} is gone")
            match_watchlists(session, [request.track_id], [record])
            session.commit()

    def _fall_back(self, request: _Request, kind: str, detail: str) -> None:
        """No main-stream plate: log why, count it under `kind`, and where the main stream
        could not be read (`SUB_READ_FALLBACKS`) read and store the sub-stream crops' plate."""
        log.info(
            "camera %s track %d: no main-stream plate (%s): %s",
            request.record.camera_id, request.track_id, kind, detail,
        )  # fmt: skip
        with self._lock:
            self.stats.fallbacks[kind] += 1
        if kind not in SUB_READ_FALLBACKS:
            return
        plate = read_sub_views(request.views, self._reader)
        with self._lock:
            self.stats.sub_reads += 1
        if plate is None:
            return
        try:
            self._store_plate(request, plate, request.views[0].frame_size_px, "sub")
        except Exception:  # the catalog or storage failed too: logged, the track keeps none
            log.exception("sub-stream plate of track %d not stored", request.track_id)
            with self._lock:
                self.stats.fallbacks["not_stored"] += 1
            return
        with self._lock:
            self.stats.sub_stored += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.process_ready()
            except Exception:  # one bad request must not stop the queue
                log.exception("main-stream plate reads failed")
            with self._lock:
                self._lock.wait(POLL_S)


def _enough(reads: Sequence[MainRead], max_reads: int) -> bool:
    """Whether a track's main-stream reads can stop: a sure read, or `max_reads` legible."""
    return any(sure_read(r) for r in reads) or sum(r.legible for r in reads) >= max_reads
