"""Background search jobs: wide searches run on a thread pool, in slices, with progress and cancel.

A job's state lives in the catalog's `jobs` table (queued → running → succeeded / failed /
cancelled), so any API process can report it; the work itself runs in the process that took it.
Results are stored as ranked track ids with their scores; links are signed when a page is read.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from index.catalog import append_audit, update_job
from index.catalog_models import TrackRow
from search_api.context import ApiContext
from search_api.search_service import ScoredTrack, SearchFilters, matching_rows

log = logging.getLogger(__name__)

SLICE_TRACKS = 20_000
ATTRIBUTE_PROGRESS_ROWS = 5_000


class JobCancelledError(Exception):
    """Raised inside a worker when its job was cancelled."""


@dataclass(frozen=True)
class SearchJobSpec:
    """What to search: `query` set for appearance searches, else attributes only."""

    job_id: str
    kind: str
    owner: str
    role: str
    filters: SearchFilters
    top_k: int
    query: np.ndarray | None = field(default=None, repr=False)
    exclude_ids: frozenset[int] = frozenset()


class SearchJobRunner:
    """Runs search jobs on `workers` threads; `cancel` stops one between slices."""

    def __init__(self, context: ApiContext, workers: int = 2) -> None:
        self._context = context
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="search-job")
        self._cancelled: dict[str, threading.Event] = {}
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def submit(self, spec: SearchJobSpec) -> None:
        with self._lock:
            self._cancelled[spec.job_id] = threading.Event()
            self._futures[spec.job_id] = self._pool.submit(self._run, spec)

    def cancel(self, job_id: str) -> None:
        """Ask a job to stop; its state becomes 'cancelled' when the worker notices."""
        with self._lock:
            event = self._cancelled.get(job_id)
        if event is not None:
            event.set()

    def wait(self, job_id: str, timeout_s: float) -> None:
        """Block until the job's worker returns (tests and shutdown)."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout_s)

    def shutdown(self) -> None:
        with self._lock:
            events = list(self._cancelled.values())
        for event in events:
            event.set()
        self._pool.shutdown(wait=True)

    def _set(self, job_id: str, **changes: object) -> None:
        with self._context.sessions() as session:
            update_job(session, job_id, **changes)  # type: ignore[arg-type]
            session.commit()

    def _run(self, spec: SearchJobSpec) -> None:
        event = self._cancelled[spec.job_id]

        def progress(fraction: float) -> None:
            if event.is_set():
                raise JobCancelledError
            self._set(spec.job_id, progress=round(min(1.0, fraction), 4))

        try:
            if event.is_set():
                raise JobCancelledError
            self._set(spec.job_id, state="running")
            results = (
                self._appearance(spec, progress)
                if spec.query is not None
                else self._attributes(spec, progress)
            )
            self._finish(spec, results)
        except JobCancelledError:
            self._set(spec.job_id, state="cancelled")
        except Exception as error:  # a failed job must record why, whatever went wrong
            log.exception("search job %s failed", spec.job_id)
            self._set(spec.job_id, state="failed", error=f"{type(error).__name__}: {error}")
        finally:
            with self._lock:
                self._cancelled.pop(spec.job_id, None)

    def _finish(self, spec: SearchJobSpec, results: list[ScoredTrack]) -> None:
        with self._context.sessions() as session:
            update_job(
                session,
                spec.job_id,
                state="succeeded",
                progress=1.0,
                result={"total": len(results), "hits": [r.as_json() for r in results]},
            )
            append_audit(
                session,
                principal=spec.owner,
                role=spec.role,
                action="search_job_finished",
                query_type=spec.kind,
                filters=spec.filters.as_audit(),
                hit_count=len(results),
                target=f"job:{spec.job_id}",
            )
            session.commit()

    def _slices(self, session: Session, spec: SearchJobSpec) -> Iterator[tuple[set[int], float]]:
        """Candidate ids in slices of SLICE_TRACKS with the fraction done after each."""
        ids = [
            track_id
            for track_id, _ in matching_rows(session, spec.filters)
            if track_id not in spec.exclude_ids
        ]
        for offset in range(0, len(ids), SLICE_TRACKS):
            yield set(ids[offset : offset + SLICE_TRACKS]), (offset + SLICE_TRACKS) / len(ids)

    def _appearance(
        self, spec: SearchJobSpec, progress: Callable[[float], None]
    ) -> list[ScoredTrack]:
        assert spec.query is not None
        best: list[tuple[float, int]] = []
        with self._context.sessions() as session:
            for allowed, done in self._slices(session, spec):
                for hit in self._context.vectors.search(spec.query, spec.top_k, allowed):
                    entry = (hit.score, hit.track_id)
                    if len(best) < spec.top_k:
                        heapq.heappush(best, entry)
                    else:
                        heapq.heappushpop(best, entry)
                progress(done)
        ranked = sorted(best, reverse=True)
        return [ScoredTrack(i, round(s, 4), similarity=round(s, 4)) for s, i in ranked]

    def _attributes(
        self, spec: SearchJobSpec, progress: Callable[[float], None]
    ) -> list[ScoredTrack]:
        results: list[ScoredTrack] = []
        with self._context.sessions() as session:
            total = self._count(session, spec.filters)
            for seen, (track_id, matched) in enumerate(matching_rows(session, spec.filters), 1):
                score = float(np.prod(list(matched.values()) or [1.0]))
                results.append(ScoredTrack(track_id, round(score, 4), None, matched))
                if seen % ATTRIBUTE_PROGRESS_ROWS == 0:
                    progress(seen / max(total, 1))
        results.sort(key=lambda r: -r.score)
        return results[: spec.top_k]

    @staticmethod
    def _count(session: Session, filters: SearchFilters) -> int:
        statement = select(func.count(TrackRow.id))
        if filters.camera_ids is not None:
            statement = statement.where(TrackRow.camera_id.in_(sorted(filters.camera_ids)))
        if filters.class_names is not None:
            statement = statement.where(TrackRow.class_name.in_(sorted(filters.class_names)))
        return int(session.scalar(statement) or 0)
