"""An export's verification on the server (issue #18 part 7): the stored bundle checked the way
`skynet export verify` checks a copy — every file against the signed manifest, nothing missing
or added, the signature by this site's key — so the case page can show "verified" without the
user downloading and running the tool. The bundle is copied to a temporary file in chunks
(never held whole in memory) and removed afterwards; the check is audited."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter
from pydantic import BaseModel, Field

from evidence.manifest import verify_bundle
from index.catalog import append_audit
from search_api.access import EXPORTS
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import Conflict, NotFound
from search_api.openapi import AUTH_RESPONSES
from search_api.routers.exports import ExportsUnavailable, visible_export
from storage.objectstore import ObjectNotFoundError, ObjectStore

router = APIRouter(prefix="/cases", tags=["exports"], responses=AUTH_RESPONSES)
COPY_CHUNK_BYTES = 8 * 1024 * 1024


class ExportVerificationOut(BaseModel):
    export_id: str
    ok: bool = Field(description="every file matches the signed manifest, signed by this site")
    sha256: str = Field(description="of the stored bundle that was checked")
    key_fingerprint: str | None = Field(description="the key the manifest was checked against")
    trusted_key: bool = Field(description="checked against this site's own signing key")
    files_checked: int
    problems: list[str]


def copy_object(store: ObjectStore, key: str, size_bytes: int, path: Path) -> None:
    with path.open("wb") as out:
        for start in range(0, size_bytes, COPY_CHUNK_BYTES):
            out.write(store.get_range(key, start, min(COPY_CHUNK_BYTES, size_bytes - start)))


@router.get(
    "/{case_id}/exports/{export_id}/verification",
    response_model=ExportVerificationOut,
    summary="Verify the stored bundle: files against the signed manifest, the site's signature",
    dependencies=[requires(EXPORTS)],
)
def verify_export(
    case_id: str, export_id: str, principal: PrincipalDep, session: SessionDep,
    context: ContextDep,
) -> ExportVerificationOut:  # fmt: skip
    """409 until the bundle is built, 404 when it is no longer stored, 503 without a site key."""
    job, export = visible_export(session, principal, case_id, export_id)
    if job.state != "succeeded" or not job.result:
        raise Conflict(f"export {export_id!r} is {job.state}, not built")
    if context.evidence is None:
        raise ExportsUnavailable("exports are not configured on this server (no signing key)")
    key, built_sha256 = str(job.result["object_key"]), str(job.result["sha256"])
    with tempfile.TemporaryDirectory(prefix="skynet-verify-") as work:
        path = Path(work) / "bundle.zip"
        try:
            stored = context.store.stat(key)
            copy_object(context.store, key, stored.size_bytes, path)
        except ObjectNotFoundError as error:
            raise NotFound(f"export {export_id!r}: its bundle is no longer stored") from error
        report = verify_bundle(path, context.evidence.signer.public_key)
    problems = list(report.problems)
    if stored.sha256 != built_sha256:
        problems.insert(0, f"the stored bundle's SHA-256 {stored.sha256} is not the {built_sha256}"
                           " recorded when it was built")  # fmt: skip
    files = 0 if report.manifest is None else len(report.manifest.files)
    append_audit(
        session, principal=principal.name, role=principal.role, action="export_verified",
        case_id=case_id, purpose=export.purpose, target=f"export:{export_id}",
        filters={"ok": not problems, "sha256": stored.sha256}, hit_count=len(problems),
    )  # fmt: skip
    session.commit()
    return ExportVerificationOut(
        export_id=export_id, ok=not problems, sha256=stored.sha256,
        key_fingerprint=report.key_fingerprint, trusted_key=report.trusted_key,
        files_checked=files, problems=problems,
    )  # fmt: skip
