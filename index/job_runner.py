"""A process's hold on catalog jobs (search, export and re-index jobs): leases, heartbeat,
take-over of what dead processes left, hand-back at a clean stop. The SQL is
index/catalog/jobs.py's; this module is the loop around it, and each job kind keeps its own work.

A runner has its own id and holds the jobs it queued or took over; every write a worker makes is
conditional on still holding the job, so a job cancelled or taken over meanwhile is never
overwritten. A live job whose heartbeat is older than the lease was left by a dead process: the
next runner to look takes it over, queued from the start (jobs are idempotent). At a clean stop
a runner hands its unfinished jobs back, queued with no holder, so the next one to start takes
them at once.
"""

from __future__ import annotations

import logging
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from index.catalog.engine import CatalogError, SessionFactory
from index.catalog.jobs import (
    beat,
    orphaned_job_ids,
    record_progress,
    release_jobs,
    start_held_job,
    take_over_job,
)

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
LEASE_S = 60.0  # a live job whose heartbeat is older was left by a dead process

ProgressWriter = Callable[[Session, str, str, float], bool]  # session, job, runner, fraction


class JobCancelledError(Exception):
    """Raised inside a worker when its job was cancelled or taken over by another runner."""


class JobLease:
    """`runner_id`'s hold on the live jobs whose kind starts with `kind_prefix`."""

    def __init__(
        self,
        sessions: SessionFactory,
        kind_prefix: str,
        runner_id: str | None = None,
        lease_s: float = LEASE_S,
    ) -> None:
        self.runner_id = runner_id or uuid.uuid4().hex
        self.kind_prefix = kind_prefix
        self.lease_s = lease_s
        self._sessions = sessions

    def take_over_orphans(self) -> list[str]:
        """Queue for this runner every job of the kind whose runner stopped beating; the ids,
        oldest first."""
        now = datetime.now(UTC)
        stale_before = now - timedelta(seconds=self.lease_s)
        with self._sessions() as session:
            orphans = orphaned_job_ids(session, self.kind_prefix, stale_before)
            taken = [
                job_id
                for job_id in orphans
                if take_over_job(session, job_id, self.runner_id, stale_before, now)
            ]
            session.commit()
        return taken

    def beat(self) -> int:
        """Refresh the heartbeat of every live job this runner holds; how many it holds."""
        with self._sessions() as session:
            held = beat(session, self.runner_id)
            session.commit()
        return held

    def release(self) -> int:
        """Hand every live job this runner holds back, queued with no holder; how many."""
        with self._sessions() as session:
            released = release_jobs(session, self.runner_id)
            session.commit()
        return released


class PooledJobRunner(ABC):
    """Runs one kind of job on a thread pool, one `run(job_id)` per job. `start` takes over the
    jobs dead processes left and starts the heartbeat, which beats and takes over again every
    `heartbeat_s`; `shutdown` stops the heartbeat, waits for the workers and hands unfinished
    jobs back. `label` names the jobs in logs and threads ("search job", "export")."""

    def __init__(
        self,
        sessions: SessionFactory,
        kind_prefix: str,
        label: str,
        *,
        workers: int,
        heartbeat_s: float = HEARTBEAT_S,
        lease_s: float = LEASE_S,
    ) -> None:
        self.lease = JobLease(sessions, kind_prefix, lease_s=lease_s)
        self.runner_id = self.lease.runner_id
        self.label = label
        self._sessions = sessions
        self._heartbeat_s = heartbeat_s
        threads = label.replace(" ", "-")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=threads)
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._heartbeat = threading.Thread(
            target=self._beat_until_stopped, name=f"{threads}-heartbeat", daemon=True
        )

    @abstractmethod
    def run(self, job_id: str) -> None:
        """The whole work of a job this runner holds, on a worker thread: it starts the job
        (`start_job`), reports progress and records how the job ended; it must not raise."""

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> list[str]:
        """Take over the jobs dead processes left, start the heartbeat; the ids taken over."""
        try:
            taken = self.take_over_orphans()
        except CatalogError:  # the heartbeat tries again; the API serves meanwhile
            log.exception("%ss: could not take over orphaned jobs at start-up", self.label)
            taken = []
        self._heartbeat.start()
        return taken

    def submit(self, job_id: str) -> None:
        """Run a stored job this runner holds (ignored once shutting down: it is handed back)."""
        with self._lock:
            if not self._stopping.is_set():
                self._futures[job_id] = self._pool.submit(self.run, job_id)

    def take_over_orphans(self) -> list[str]:
        """Queue here and run every job of the kind whose runner stopped beating; the ids."""
        taken = self.lease.take_over_orphans()
        for job_id in taken:
            log.info("%s %s: taken over from a stopped runner", self.label, job_id)
            self.submit(job_id)
        return taken

    def wait(self, job_id: str, timeout_s: float) -> None:
        """Block until this runner's worker for the job returns (KeyError: not run here)."""
        with self._lock:
            future = self._futures[job_id]
        future.result(timeout=timeout_s)

    def shutdown(self) -> None:
        """Stop the heartbeat, wait for the workers (a worker that checks `stopping` stops
        early) and hand every unfinished job back, queued; idempotent."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
        released = self.lease.release()
        if released:
            log.info("%ss: %d unfinished job(s) handed back for the next start", self.label,
                     released)  # fmt: skip

    def start_job(self, job_id: str) -> bool:
        """queued → running if this runner still holds the job (committed); False when it was
        cancelled while queued or taken over by another runner."""
        with self._sessions() as session:
            started = start_held_job(session, job_id, self.runner_id)
            session.commit()
        return started

    def report_progress(
        self, job_id: str, fraction: float, write: ProgressWriter = record_progress
    ) -> None:
        """Record a held job's progress (rounded, at most 1) through `write`;
        JobCancelledError when this runner no longer holds the job."""
        with self._sessions() as session:
            held = write(session, job_id, self.runner_id, round(min(1.0, fraction), 4))
            session.commit()
        if not held:
            raise JobCancelledError

    def _beat_until_stopped(self) -> None:
        while not self._stopping.wait(self._heartbeat_s):
            try:
                self.lease.beat()
                self.take_over_orphans()
            except CatalogError:  # a catalog hiccup must not stop the heartbeat for good
                log.exception("%s heartbeat failed", self.label)
