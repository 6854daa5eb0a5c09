"""Evidence export jobs (issue #17): a case bundle built in the background, kept in object storage.

An export is a row of the catalog's `jobs` table (kind `export`) holding the request
(evidence.bundle.ExportRequest as JSON), its progress and, once built, the bundle's object key,
SHA-256 and manifest. Like search jobs, each API process has one runner (index/job_runner.py)
that holds the exports it builds and keeps their heartbeat fresh; an export whose heartbeat
stopped (its process died) is taken over and built again from the start — the same request
gives the same clips, only the build time and signature differ. Every step is a
chain-of-custody entry in the audit log: `export_requested` (by the API, in the request's
transaction), `export_built` or `export_failed` (here), `export_downloaded` (by the API).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from evidence.bundle import build_bundle, load_material
from evidence.request import EXPORT_JOB_KIND, EvidenceKit, ExportRequest
from index.catalog import (
    JobRecord,
    Session,
    append_audit,
    create_held_job,
    finish_held_job,
    get_job,
)
from index.job_runner import JobCancelledError, PooledJobRunner
from search_api.context import ApiContext

log = logging.getLogger(__name__)

BUNDLE_CONTENT_TYPE = "application/zip"


def bundle_key(case_id: str, export_id: str) -> str:
    """Object key of an export's bundle."""
    return f"exports/{case_id}/{export_id}.zip"


def export_request(job: JobRecord) -> ExportRequest:
    """The request an export job stores (ValueError if the job is not an export)."""
    if job.kind != EXPORT_JOB_KIND:
        raise ValueError(f"job {job.id} is a {job.kind!r} job, not an export")
    return ExportRequest.from_json(dict(job.params))


class ExportRunner(PooledJobRunner):
    """Builds this process's exports, one at a time (each decodes, detects and encodes video:
    more at once would only share the same cores); a build in progress finishes at shutdown."""

    def __init__(self, context: ApiContext, kit: EvidenceKit) -> None:
        super().__init__(context.sessions, EXPORT_JOB_KIND, "export", workers=1)
        self._context = context
        self._kit = kit

    def create(self, session: Session, owner: str, request: ExportRequest) -> str:
        """Store a queued export held by this runner (the caller audits, commits, submits)."""
        return create_held_job(session, EXPORT_JOB_KIND, owner, request.as_json(), self.runner_id)

    def run(self, job_id: str) -> None:
        request: ExportRequest | None = None
        try:
            if not self.start_job(job_id):
                return  # cancelled while queued, or taken over
            with self._context.sessions() as session:
                job = get_job(session, job_id)
                assert job is not None
                request = export_request(job)
                material = load_material(session, request)
            with tempfile.TemporaryDirectory(prefix="skynet-export-out-") as tmp:
                out = Path(tmp) / "bundle.zip"
                summary = build_bundle(
                    material, self._context.store, self._kit.redactor(self._context.detector),
                    self._kit.signer, out, job_id, lambda f: self.report_progress(job_id, f),
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
        except JobCancelledError:
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
