"""Evidence export jobs (issue #17): a case bundle built in the background, kept in object storage.

An export is a row of the catalog's `jobs` table (kind `export`) holding the request
(evidence.bundle.ExportRequest as JSON), its progress and, once built, the bundle's object key,
SHA-256 and manifest. Like search jobs, each API process has one runner that holds the exports
it builds and keeps their heartbeat fresh; an export whose heartbeat stopped (its process died)
is taken over and built again from the start — the same request gives the same clips, only
the build time and signature differ. Every step is a chain-of-custody entry in the audit log:
`export_requested` (by the API, in the request's transaction), `export_built` or
`export_failed` (here), `export_downloaded` (by the API).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evidence.bundle import build_bundle, load_material
from evidence.request import EXPORT_JOB_KIND, EvidenceKit, ExportRequest
from index.catalog import (
    CatalogError,
    JobRecord,
    Session,
    append_audit,
    beat,
    create_held_job,
    finish_held_job,
    get_job,
    orphaned_job_ids,
    record_progress,
    release_jobs,
    start_held_job,
    take_over_job,
)
from search_api.context import ApiContext

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
LEASE_S = 60.0  # a live export whose heartbeat is older was left by a dead process
BUNDLE_CONTENT_TYPE = "application/zip"


class ExportCancelledError(Exception):
    """Raised inside a build when its job was cancelled or taken over by another runner."""


def bundle_key(case_id: str, export_id: str) -> str:
    """Object key of an export's bundle."""
    return f"exports/{case_id}/{export_id}.zip"


def export_request(job: JobRecord) -> ExportRequest:
    """The request an export job stores (ValueError if the job is not an export)."""
    if job.kind != EXPORT_JOB_KIND:
        raise ValueError(f"job {job.id} is a {job.kind!r} job, not an export")
    return ExportRequest.from_json(dict(job.params))


class ExportRunner:
    """Builds this process's exports, one at a time (each decodes, detects and encodes video:
    more at once would only share the same cores)."""

    def __init__(self, context: ApiContext, kit: EvidenceKit) -> None:
        self.runner_id = uuid.uuid4().hex
        self._context = context
        self._kit = kit
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export")
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._heartbeat = threading.Thread(
            target=self._beat_until_stopped, name="export-heartbeat", daemon=True
        )

    def start(self) -> list[str]:
        """Take over exports dead processes left, start the heartbeat; the ids taken over."""
        try:
            taken = self.take_over_orphans()
        except CatalogError:
            log.exception("exports: could not take over orphaned exports at start-up")
            taken = []
        self._heartbeat.start()
        return taken

    def create(self, session: Session, owner: str, request: ExportRequest) -> str:
        """Store a queued export held by this runner (the caller audits, commits, submits)."""
        return create_held_job(session, EXPORT_JOB_KIND, owner, request.as_json(), self.runner_id)

    def submit(self, job_id: str) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self._futures[job_id] = self._pool.submit(self._run, job_id)

    def wait(self, job_id: str, timeout_s: float) -> None:
        """Block until this runner's build of the export returns (KeyError: not run here)."""
        with self._lock:
            future = self._futures[job_id]
        future.result(timeout=timeout_s)

    def take_over_orphans(self) -> list[str]:
        now = datetime.now(UTC)
        stale_before = now - timedelta(seconds=LEASE_S)
        with self._context.sessions() as session:
            orphans = orphaned_job_ids(session, EXPORT_JOB_KIND, stale_before)
            taken = [
                job_id
                for job_id in orphans
                if take_over_job(session, job_id, self.runner_id, stale_before, now)
            ]
            session.commit()
        for job_id in taken:
            log.info("export %s: taken over from a stopped runner", job_id)
            self.submit(job_id)
        return taken

    def shutdown(self) -> None:
        """Stop after the build in progress and hand unfinished exports back; idempotent."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._context.sessions() as session:
            release_jobs(session, self.runner_id)
            session.commit()

    def _beat_until_stopped(self) -> None:
        while not self._stopping.wait(HEARTBEAT_S):
            try:
                with self._context.sessions() as session:
                    beat(session, self.runner_id)
                    session.commit()
                self.take_over_orphans()
            except CatalogError:
                log.exception("export heartbeat failed")

    def _progress(self, job_id: str, fraction: float) -> None:
        with self._context.sessions() as session:
            held = record_progress(session, job_id, self.runner_id, round(min(1.0, fraction), 4))
            session.commit()
        if not held:
            raise ExportCancelledError

    def _run(self, job_id: str) -> None:
        request: ExportRequest | None = None
        try:
            with self._context.sessions() as session:
                if not start_held_job(session, job_id, self.runner_id):
                    return  # cancelled while queued, or taken over
                session.commit()
                job = get_job(session, job_id)
                assert job is not None
                request = export_request(job)
                material = load_material(session, request)
            with tempfile.TemporaryDirectory(prefix="skynet-export-out-") as tmp:
                out = Path(tmp) / "bundle.zip"
                summary = build_bundle(
                    material, self._context.store, self._kit.redactor(self._context.detector),
                    self._kit.signer, out, job_id, lambda f: self._progress(job_id, f),
                )  # fmt: skip
                stored = self._context.store.put_file(
                    bundle_key(request.case_id, job_id), out, BUNDLE_CONTENT_TYPE
                )
            result: dict[str, Any] = {
                "object_key": stored.key,
                "sha256": stored.sha256,
                "size_bytes": stored.size_bytes,
                "key_fingerprint": summary.manifest.key_fingerprint,
                "files": [e.path for e in summary.manifest.files],
                "redaction": {str(k): v for k, v in summary.redaction.items()},
            }
            self._finish(job_id, request, "succeeded", result=result)
        except ExportCancelledError:
            return
        except Exception as error:  # a failed export must record why, whatever went wrong
            log.exception("export %s failed", job_id)
            self._finish(job_id, request, "failed", error=f"{type(error).__name__}: {error}")

    def _finish(
        self,
        job_id: str,
        request: ExportRequest | None,
        state: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        with self._context.sessions() as session:
            if not finish_held_job(session, job_id, self.runner_id, state, result, error):
                return  # cancelled or taken over meanwhile
            if request is not None:
                append_audit(
                    session,
                    principal=request.requested_by,
                    role=request.role,
                    action="export_built" if state == "succeeded" else "export_failed",
                    case_id=request.case_id,
                    purpose=request.purpose,
                    filters={"track_ids": list(request.track_ids), **(
                        {"sha256": result["sha256"], "key_fingerprint": result["key_fingerprint"]}
                        if result else {"error": error}
                    )},
                    target=f"export:{job_id}",
                )  # fmt: skip
            session.commit()
