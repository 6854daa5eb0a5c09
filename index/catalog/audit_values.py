"""Value objects of the audit chain (issue #17): queries, checkpoints and verification reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# What the verifier can find wrong, first to last in the order it checks an entry.
DAMAGE_KINDS = (
    "removed",  # a sequence number is missing: an entry was deleted
    "inserted",  # an entry does not link to the one before it, or repeats a number
    "altered",  # an entry's fields no longer match its content hash (or its entry hash)
    "backdated",  # an entry is older than the one before it
    "truncated",  # the chain ends before its head row or a signed checkpoint
    "head",  # the head row does not match the newest entry
    "checkpoint",  # a checkpoint's signature or key is not good, or it names another hash
    "triggers",  # the database triggers that refuse UPDATE/DELETE are missing
)


@dataclass(frozen=True)
class AuditQuery:
    """Which entries to read: every filter optional; keyset paging on `seq` (after_seq)."""

    principal: str | None = None
    action: str | None = None
    case_id: str | None = None
    query_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    limit: int = 100


@dataclass(frozen=True)
class AuditCheckpoint:
    """A signed statement that the chain up to entry `seq` had entry hash `entry_hash`."""

    seq: int
    entry_hash: str
    signed_at: datetime
    signature: str
    key_fingerprint: str


@dataclass(frozen=True)
class AuditProblem:
    """One piece of damage: where (entry `seq`, 0 when not an entry), what kind, in words."""

    seq: int
    kind: str
    detail: str


@dataclass(frozen=True)
class AuditVerification:
    """What `verify_audit_chain` found; `ok` when there is no problem at all."""

    entries_checked: int
    first_seq: int
    last_seq: int
    checkpoints_checked: int
    last_good_checkpoint: int  # seq of the newest checkpoint that verified (0: none)
    problems: tuple[AuditProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> AuditProblem | None:
        return self.problems[0] if self.problems else None
