"""Catalog repository for the audit log: an append-only hash chain with signed checkpoints.

Every entry carries its sequence number, the previous entry's hash, its own content hash and
its entry hash (index/catalog/audit_chain.py). Appends queue on the write lock of the one chain
head row, so concurrent writers (threads, API processes, the CLI) never fork the chain. The
time of an entry is the server's clock and never earlier than the entry before it. Database
triggers refuse UPDATE and DELETE; the verifier finds what someone who removed them changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.orm import Session

from index.catalog.audit_chain import (
    GENESIS_HASH,
    checkpoint_message,
    content_hash,
    entry_hash,
    normal_filters,
)
from index.catalog.audit_rows import CHAIN_HEAD_ID, AuditChainHeadRow, AuditCheckpointRow
from index.catalog.audit_values import (
    AuditCheckpoint,
    AuditProblem,
    AuditQuery,
    AuditVerification,
)
from index.catalog.rows import AuditRow, ensure_utc, utc_now
from index.catalog.values import AuditEntry
from storage.ed25519 import PublicKey, Signer

# The triggers migration 0013 creates; the verifier reports any that is missing or disabled.
SQLITE_TRIGGERS = frozenset(
    {
        "audit_log_no_update",
        "audit_log_no_delete",
        "audit_checkpoints_no_update",
        "audit_checkpoints_no_delete",
        "audit_chain_head_no_delete",
    }
)
POSTGRES_TRIGGERS = frozenset(
    {
        "audit_log_append_only",
        "audit_log_no_truncate",
        "audit_checkpoints_append_only",
        "audit_checkpoints_no_truncate",
        "audit_chain_head_no_delete",
    }
)
CLOCK_SKEW = timedelta(seconds=1)  # how far past the server's clock an explicit `at` may be
MAX_PROBLEMS = 100  # a report lists at most this many problems
BATCH = 1000


class BackdatedAuditError(ValueError):
    """An explicit audit time earlier than the newest entry, or in the future."""


class AuditChainBroken(RuntimeError):
    """The chain does not verify, so no checkpoint may be signed over it."""

    def __init__(self, report: AuditVerification) -> None:
        first = report.first_problem
        assert first is not None
        super().__init__(f"audit chain broken at entry {first.seq}: {first.kind}: {first.detail}")
        self.report = report


class _Head(NamedTuple):
    seq: int
    entry_hash: str
    at: datetime | None


def _lock_head(session: Session) -> _Head:
    """Take the chain's write lock (an UPDATE of the head row: SQLite's write lock, a row lock
    on PostgreSQL, both held to the end of the transaction) and read the head."""
    locked = session.execute(
        update(AuditChainHeadRow)
        .where(AuditChainHeadRow.id == CHAIN_HEAD_ID)
        .values(seq=AuditChainHeadRow.seq)
        .execution_options(synchronize_session=False)
    )
    if locked.rowcount != 1:  # type: ignore[attr-defined]
        raise RuntimeError("the audit chain head row is missing: catalog not migrated or damaged")
    seq, chained, at = session.execute(
        select(AuditChainHeadRow.seq, AuditChainHeadRow.entry_hash, AuditChainHeadRow.at).where(
            AuditChainHeadRow.id == CHAIN_HEAD_ID
        )
    ).one()
    return _Head(seq, chained, at)


def lock_audit_chain(session: Session) -> None:
    """Take the chain's write lock without appending, held to the end of the transaction: a
    writer that must see every audited change committed before it and let none commit while it
    works (a retention batch re-reading the legal holds) takes it first."""
    _lock_head(session)


def append_audit(
    session: Session,
    *,
    principal: str,
    role: str,
    action: str,
    query_type: str | None = None,
    case_id: str | None = None,
    purpose: str | None = None,
    filters: Mapping[str, Any] | None = None,
    image_sha256: str | None = None,
    hit_count: int | None = None,
    target: str | None = None,
    at: datetime | None = None,
) -> int:
    """Append one entry to the chain and return its row id.

    The time is the server's clock (held back to the newest entry's time if the clock stepped
    back). An explicit `at` is accepted only between the newest entry's time and now:
    BackdatedAuditError otherwise, so nobody can slip an entry in before others."""
    if not principal or not action:
        raise ValueError("audit rows need a principal and an action")
    normal = normal_filters(filters)
    head = _lock_head(session)
    now = utc_now()
    if at is None:
        when = now if head.at is None else max(now, head.at)
    else:
        when = ensure_utc(at, "audit time")
        if head.at is not None and when < head.at:
            raise BackdatedAuditError(
                f"audit time {when.isoformat()} is before the newest entry ({head.at.isoformat()})"
            )
        if when > now + CLOCK_SKEW:
            raise BackdatedAuditError(f"audit time {when.isoformat()} is in the future")
    content = AuditEntry(
        0, when, principal, role, action, query_type, case_id, purpose, normal, image_sha256,
        hit_count, target,
    )  # fmt: skip
    seq = head.seq + 1
    own = content_hash(content)
    chained = entry_hash(head.entry_hash, own, seq)
    row = AuditRow(
        at=when, principal=principal, role=role, action=action, query_type=query_type,
        case_id=case_id, purpose=purpose, filters=normal, image_sha256=image_sha256,
        hit_count=hit_count, target=target, seq=seq, prev_hash=head.entry_hash,
        content_hash=own, entry_hash=chained,
    )  # fmt: skip
    session.add(row)
    session.execute(
        update(AuditChainHeadRow)
        .where(AuditChainHeadRow.id == CHAIN_HEAD_ID)
        .values(seq=seq, entry_hash=chained, at=when)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return row.id


def _entry(r: AuditRow) -> AuditEntry:
    return AuditEntry(
        r.id, r.at, r.principal, r.role, r.action, r.query_type, r.case_id, r.purpose,
        dict(r.filters or {}), r.image_sha256, r.hit_count, r.target, r.seq, r.entry_hash,
    )  # fmt: skip


def audit_entries(
    session: Session,
    since: datetime | None = None,
    principal: str | None = None,
    limit: int = 1000,
) -> list[AuditEntry]:
    """The newest `limit` audit rows (from `since` on, for one principal if given), oldest
    first: what `skynet audit tail` shows."""
    if limit < 1:
        raise ValueError(f"audit limit {limit} must be at least 1")
    statement = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
    if since is not None:
        statement = statement.where(AuditRow.at >= ensure_utc(since, "audit since"))
    if principal is not None:
        statement = statement.where(AuditRow.principal == principal)
    return [_entry(r) for r in reversed(session.scalars(statement).all())]


def _filtered(query: AuditQuery) -> Select[AuditRow]:
    statement = select(AuditRow).where(AuditRow.seq > query.after_seq)
    exact = (
        (AuditRow.principal, query.principal),
        (AuditRow.action, query.action),
        (AuditRow.case_id, query.case_id),
        (AuditRow.query_type, query.query_type),
    )
    for column, value in exact:
        if value is not None:
            statement = statement.where(column == value)
    if query.since is not None:
        statement = statement.where(AuditRow.at >= ensure_utc(query.since, "audit since"))
    if query.until is not None:
        statement = statement.where(AuditRow.at < ensure_utc(query.until, "audit until"))
    return statement.order_by(AuditRow.seq)


def audit_page(session: Session, query: AuditQuery) -> list[AuditEntry]:
    """Up to `query.limit` entries matching `query` after `query.after_seq`, in chain order."""
    if not 1 <= query.limit <= BATCH:
        raise ValueError(f"audit limit {query.limit} must be between 1 and {BATCH}")
    return [_entry(r) for r in session.scalars(_filtered(query).limit(query.limit))]


def iter_audit_entries(session: Session, query: AuditQuery) -> Iterator[AuditEntry]:
    """Every entry matching `query` (its limit ignored), in chain order, read in pages."""
    after = query.after_seq
    while True:
        page = session.scalars(_filtered(query).where(AuditRow.seq > after).limit(BATCH)).all()
        yield from (_entry(r) for r in page)
        if len(page) < BATCH:
            return
        after = page[-1].seq


def audit_checkpoints(session: Session) -> list[AuditCheckpoint]:
    """Every signed checkpoint, oldest first."""
    rows = session.scalars(select(AuditCheckpointRow).order_by(AuditCheckpointRow.seq))
    return [
        AuditCheckpoint(r.seq, r.entry_hash, r.signed_at, r.signature, r.key_fingerprint)
        for r in rows
    ]


def audit_checkpoint_due(
    session: Session, every_entries: int, every: timedelta, now: datetime | None = None
) -> bool:
    """Whether entries past the last checkpoint are `every_entries` or more, or the oldest of
    them has waited `every` or longer."""
    head_seq = session.scalar(
        select(AuditChainHeadRow.seq).where(AuditChainHeadRow.id == CHAIN_HEAD_ID)
    )
    signed = session.scalar(select(func.max(AuditCheckpointRow.seq))) or 0
    if head_seq is None or head_seq <= signed:
        return False
    if head_seq - signed >= every_entries:
        return True
    oldest = session.scalar(select(AuditRow.at).where(AuditRow.seq == signed + 1))
    return oldest is not None and (now or utc_now()) - oldest >= every


def make_audit_checkpoint(session: Session, signer: Signer) -> AuditCheckpoint | None:
    """Sign the chain up to its newest entry (None when the last checkpoint already covers it).

    The entries since the last checkpoint are verified first, under the chain's lock:
    AuditChainBroken when they do not, so a signature never vouches for damage."""
    head = _lock_head(session)
    last = session.scalar(select(func.max(AuditCheckpointRow.seq))) or 0
    if head.seq == last:
        return None
    # from the last checkpoint on (the head behind it: a truncated tail, reported)
    report = verify_audit_chain(session, signer.public_key, from_seq=min(last, head.seq) + 1)
    if not report.ok:
        raise AuditChainBroken(report)
    signed_at = max(utc_now(), head.at) if head.at is not None else utc_now()
    fingerprint = signer.public_key.fingerprint
    signature = signer.sign(checkpoint_message(head.seq, head.entry_hash, signed_at, fingerprint))
    session.add(
        AuditCheckpointRow(
            seq=head.seq,
            entry_hash=head.entry_hash,
            signed_at=signed_at,
            signature=signature,
            key_fingerprint=fingerprint,
        )
    )
    session.flush()
    return AuditCheckpoint(head.seq, head.entry_hash, signed_at, signature, fingerprint)


def missing_audit_triggers(session: Session) -> list[str]:
    """Names of the audit triggers that are absent (or disabled, on PostgreSQL)."""
    if session.get_bind().dialect.name == "sqlite":
        present = set(
            session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        )
        return sorted(SQLITE_TRIGGERS - present)
    present = set(
        session.scalars(
            text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'"
                " AND tgrelid IN ('audit_log'::regclass, 'audit_checkpoints'::regclass,"
                " 'audit_chain_head'::regclass)"
            )
        )
    )
    return sorted(POSTGRES_TRIGGERS - present)


class _Report:
    """Problems gathered while verifying (at most MAX_PROBLEMS)."""

    def __init__(self) -> None:
        self.problems: list[AuditProblem] = []

    def add(self, seq: int, kind: str, detail: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(AuditProblem(seq, kind, detail))


def verify_audit_chain(
    session: Session,
    public_key: PublicKey,
    from_seq: int = 1,
    kept: Sequence[AuditCheckpoint] = (),
) -> AuditVerification:
    """Check the chain from entry `from_seq` on (trusting the stored hash of the entry before
    it): numbering, links, content and entry hashes, time order, the head row, every
    checkpoint's Ed25519 signature by `public_key` and the hash it vouches for, the triggers.

    `kept`: checkpoints kept outside the database (an earlier export): checked like the stored
    ones, so deleting checkpoints along with the entries they cover is found too."""
    if from_seq < 1:
        raise ValueError(f"audit verify from entry {from_seq}: entries start at 1")
    head_seq = session.scalar(
        select(AuditChainHeadRow.seq).where(AuditChainHeadRow.id == CHAIN_HEAD_ID)
    )
    if head_seq is not None and from_seq > head_seq + 1:
        raise ValueError(f"audit verify from entry {from_seq}: the log has {head_seq} entries")
    report = _Report()
    checkpoints = {c.seq: c for c in audit_checkpoints(session)}
    for point in kept:
        stored = checkpoints.setdefault(point.seq, point)
        if stored.entry_hash != point.entry_hash:
            report.add(point.seq, "checkpoint", f"checkpoint {point.seq} differs from the kept "
                       "copy")  # fmt: skip
    prev_hash, prev_at, expected = GENESIS_HASH, None, from_seq
    if from_seq > 1:
        anchor = session.scalars(select(AuditRow).where(AuditRow.seq == from_seq - 1)).first()
        if anchor is None:
            report.add(from_seq - 1, "removed", f"entry {from_seq - 1} (the anchor) is missing")
        else:
            prev_hash, prev_at = anchor.entry_hash, anchor.at
    hashes = {}  # entry hashes at checkpointed entries, as stored
    if from_seq - 1 in checkpoints and prev_hash != GENESIS_HASH:
        hashes[from_seq - 1] = prev_hash
    checked, last_seq = 0, from_seq - 1
    after = from_seq - 1
    while True:
        page = session.scalars(
            select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq).limit(BATCH)
        ).all()
        for row in page:
            checked += 1
            if row.seq > expected:
                missing = f"{expected}" if row.seq == expected + 1 else f"{expected}-{row.seq - 1}"
                report.add(expected, "removed", f"entry {missing} is missing before {row.seq}")
            elif row.seq < expected:
                report.add(row.seq, "inserted", f"entry {row.seq} appears twice (row {row.id})")
            if content_hash(_entry(row)) != row.content_hash:
                report.add(row.seq, "altered", f"entry {row.seq}'s fields do not match its hash")
            elif row.seq == expected and row.prev_hash != prev_hash:
                report.add(row.seq, "inserted", f"entry {row.seq} does not link to the one before")
            elif entry_hash(row.prev_hash, row.content_hash, row.seq) != row.entry_hash:
                report.add(row.seq, "altered", f"entry {row.seq}'s entry hash is wrong")
            if prev_at is not None and row.at < prev_at:
                report.add(row.seq, "backdated", f"entry {row.seq} is older than the one before")
            if row.seq in checkpoints:
                hashes[row.seq] = row.entry_hash
            prev_hash, prev_at = row.entry_hash, row.at
            expected, last_seq = max(expected, row.seq + 1), row.seq
        if len(page) < BATCH:
            break
        after = page[-1].seq
    head = session.execute(
        select(AuditChainHeadRow.seq, AuditChainHeadRow.entry_hash).where(
            AuditChainHeadRow.id == CHAIN_HEAD_ID
        )
    ).first()
    if head is None:
        report.add(0, "head", "the chain head row is missing")
    elif head.seq > last_seq:
        report.add(last_seq + 1, "truncated", f"the log ends at {last_seq}; its head is {head.seq}")
    elif head.seq < last_seq:
        report.add(head.seq + 1, "inserted", f"entries after the head ({head.seq}) were added")
    elif last_seq >= from_seq and head.entry_hash != prev_hash:
        report.add(last_seq, "head", f"the head's hash is not entry {last_seq}'s")
    good = _check_checkpoints(report, checkpoints, hashes, public_key, from_seq, last_seq)
    triggers = missing_audit_triggers(session)
    if triggers:
        report.add(0, "triggers", f"audit triggers missing or disabled: {', '.join(triggers)}")
    problems = sorted(report.problems, key=lambda p: (p.seq == 0, p.seq))
    first_bad = min((p.seq for p in problems if p.seq > 0), default=None)
    last_good = max((s for s in good if first_bad is None or s < first_bad), default=0)
    return AuditVerification(
        checked, from_seq, last_seq, len(checkpoints), last_good, tuple(problems)
    )


def _check_checkpoints(
    report: _Report,
    checkpoints: Mapping[int, AuditCheckpoint],
    hashes: Mapping[int, str],
    public_key: PublicKey,
    from_seq: int,
    last_seq: int,
) -> list[int]:
    """Report bad checkpoints; return the seqs of the good ones in the verified range."""
    good = []
    for seq, point in sorted(checkpoints.items()):
        message = checkpoint_message(seq, point.entry_hash, point.signed_at, point.key_fingerprint)
        if point.key_fingerprint != public_key.fingerprint:
            report.add(seq, "checkpoint", f"checkpoint {seq} is signed by an unknown key "
                       f"({point.key_fingerprint[:16]})")  # fmt: skip
        elif not public_key.verify(point.signature, message):
            report.add(seq, "checkpoint", f"checkpoint {seq}'s signature does not verify")
        elif seq < from_seq - 1:
            continue
        elif seq > last_seq:
            report.add(
                last_seq + 1,
                "truncated",
                f"the log ends at {last_seq}; checkpoint {seq} signed entries up to {seq}",
            )
        elif seq not in hashes:
            report.add(seq, "removed", f"entry {seq}, signed by a checkpoint, is missing")
        elif hashes[seq] != point.entry_hash:
            report.add(seq, "checkpoint", f"entries up to {seq} were rewritten since checkpoint "
                       f"{seq} was signed ({point.signed_at.isoformat()})")  # fmt: skip
        else:
            good.append(seq)
    return good
