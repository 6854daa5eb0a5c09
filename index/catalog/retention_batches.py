"""One retention batch's catalog transaction (issue #17), safe against a legal hold placed
while the run deletes: the holds are read again inside the transaction that deletes the batch,
and the batch's objects are deleted only after it commits.

Why this order: a hold changes what may be deleted, and object storage is outside any
transaction. So the batch transaction first takes the audit chain's lock (`lock_audit_chain`),
which every change to what a hold keeps also takes before it commits — placing or re-placing a
hold, filing tracks or events under a case, viewing a track under a case — since each is
audited in its own transaction. Under that lock the holds it reads are every one committed
before, and none can commit until the batch's rows are gone; a hold that commits after finds
that material deleted, as if it had come a moment later. The objects the deleted rows named
are noted on the run's job row in the same transaction (`jobs.result`, key
`pending_object_keys`), deleted after the commit, and the note cleared; a run that stops in
between leaves the note, and the next run deletes those objects first (deleting a missing
object is not an error).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog.audit import lock_audit_chain
from index.catalog.retention_plan import (
    DeletedRows,
    RetentionPlan,
    delete_planned,
    without_new_holds,
)
from index.catalog.rows import JobRow

PENDING_OBJECTS = "pending_object_keys"


@dataclass(frozen=True)
class DeletedBatch:
    """What one batch transaction deleted: the plan as the holds left it, and its rows."""

    plan: RetentionPlan
    rows: DeletedRows


def delete_batch(
    session: Session,
    job_id: str,
    plan: RetentionPlan,
    object_keys: Callable[[RetentionPlan], list[str]],
) -> DeletedBatch:
    """Lock, re-read the holds, delete the rows of the plan that are still free and note on
    job `job_id` the objects they name (`object_keys` lists a plan's keys). Flushed, not
    committed: the caller commits once, then deletes the noted objects and clears the note."""
    lock_audit_chain(session)  # first: every read below sees the holds committed before it
    free = without_new_holds(session, plan)
    rows = delete_planned(session, free)
    note_pending_objects(session, job_id, object_keys(free))
    return DeletedBatch(free, rows)


def note_pending_objects(session: Session, job_id: str, keys: Sequence[str]) -> None:
    """Record on the run's job row the objects to delete once this transaction commits."""
    row = session.get(JobRow, job_id)
    if row is None:
        raise LookupError(f"retention job {job_id} not found")
    row.result = {**(row.result or {}), PENDING_OBJECTS: list(keys)}
    session.flush()


def clear_pending_objects(session: Session, job_id: str, keys: Sequence[str]) -> None:
    """`keys` are deleted: drop the note if it still lists just them (a run still going may
    have noted its next batch meanwhile)."""
    row = session.get(JobRow, job_id)
    if row is not None and row.result and row.result.get(PENDING_OBJECTS) == list(keys):
        row.result = {k: v for k, v in row.result.items() if k != PENDING_OBJECTS}
        session.flush()


def pending_objects(session: Session, kind: str) -> dict[str, list[str]]:
    """Objects that runs of job `kind` noted and did not get to delete, per job id (a run
    that stopped between its commit and the object deletes)."""
    rows = session.execute(
        select(JobRow.id, JobRow.result).where(JobRow.kind == kind, JobRow.state != "succeeded")
    )
    return {
        str(job_id): [str(key) for key in result[PENDING_OBJECTS]]
        for job_id, result in rows
        if result and result.get(PENDING_OBJECTS)
    }
