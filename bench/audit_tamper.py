"""Benchmark (issue #17): which direct edits of the catalog file the audit chain detects.

A SQLite catalog gets ENTRIES audit entries through the real append path, with a signed
checkpoint every CHECKPOINT_EVERY entries (the server's default cadence) and a few entries past
the last one. Each scenario then edits a fresh copy of the file with sqlite3, as someone holding
the file would: drop the triggers, change what they want, recompute whatever hashes they can
(the scheme is public; the signing key is not on the file) and put the triggers back — so only
the chain, not a missing trigger, can give them away (the "dropped triggers" scenario alone
leaves them dropped). A scenario counts as detected when `verify_audit_chain` reports a problem.
Also measured in the same run: the cost of a chained append against a plain insert of the same
row, and the verifier's speed. Results merged into bench/results/security.json (audit_* keys).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bench.live import machine_description
from index.audit_export import export_lines, read_checkpoints
from index.catalog import (
    AuditQuery,
    AuditVerification,
    append_audit,
    audit_checkpoints,
    iter_audit_entries,
    make_audit_checkpoint,
    verify_audit_chain,
)
from index.catalog.audit_chain import (
    GENESIS_HASH,
    checkpoint_message,
    content_hash,
    entry_hash,
)
from index.catalog.engine import init_catalog, session_factory
from index.catalog.values import AuditEntry
from storage.ed25519 import Signer

RESULTS = Path(__file__).parent / "results" / "security.json"
TRIGGER_SQL = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
Tamper = Callable[[sqlite3.Connection, int], None]  # (file, last seq)


def _content(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        0, datetime.fromisoformat(row["at"]).replace(tzinfo=UTC), row["principal"], row["role"],
        row["action"], row["query_type"], row["case_id"], row["purpose"],
        json.loads(row["filters"]), row["image_sha256"], row["hit_count"], row["target"],
    )  # fmt: skip


def _rehash(db: sqlite3.Connection) -> None:
    """Recompute every entry's hashes and the head, in seq order."""
    prev = GENESIS_HASH
    for row in db.execute("SELECT * FROM audit_log ORDER BY seq").fetchall():
        own = content_hash(_content(row))
        chained = entry_hash(prev, own, row["seq"])
        db.execute(
            "UPDATE audit_log SET prev_hash = ?, content_hash = ?, entry_hash = ? WHERE id = ?",
            (prev, own, chained, row["id"]),
        )
        prev = chained
    last = db.execute("SELECT seq, at FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    db.execute("UPDATE audit_chain_head SET seq = ?, entry_hash = ?, at = ?",
               (last["seq"], prev, last["at"]))  # fmt: skip


def _forge(db: sqlite3.Connection, seq: int, at: datetime, prev: str) -> str:
    content = AuditEntry(0, at, "mallory", "admin", "key_create", None, None, None, {}, None,
                         None, "key:99")  # fmt: skip
    own = content_hash(content)
    chained = entry_hash(prev, own, seq)
    db.execute(
        "INSERT INTO audit_log (at, principal, role, action, filters, target, seq, prev_hash,"
        " content_hash, entry_hash) VALUES (?, 'mallory', 'admin', 'key_create', '{}',"
        " 'key:99', ?, ?, ?, ?)",
        (at.strftime("%Y-%m-%d %H:%M:%S.%f"), seq, prev, own, chained),
    )
    return chained


def _row(db: sqlite3.Connection, seq: int) -> sqlite3.Row:
    row: sqlite3.Row = db.execute("SELECT * FROM audit_log WHERE seq = ?", (seq,)).fetchone()
    return row


def _set_head(db: sqlite3.Connection, seq: int) -> None:
    row = _row(db, seq)
    db.execute("UPDATE audit_chain_head SET seq = ?, entry_hash = ?, at = ?",
               (seq, row["entry_hash"], row["at"]))  # fmt: skip


def altered_field(db: sqlite3.Connection, last: int) -> None:
    db.execute("UPDATE audit_log SET image_sha256 = ? WHERE seq = ?", ("00" * 32, last // 3))


def altered_field_rehashed(db: sqlite3.Connection, last: int) -> None:
    db.execute("UPDATE audit_log SET purpose = 'routine' WHERE seq = ?", (last // 3,))
    _rehash(db)


def inserted_row_linked(db: sqlite3.Connection, last: int) -> None:
    """A row dated between two old entries, linked to the earlier one, numbered at the end."""
    earlier = _row(db, last // 2)
    at = datetime.fromisoformat(earlier["at"]).replace(tzinfo=UTC) + timedelta(microseconds=1)
    _forge(db, last + 1, at, earlier["entry_hash"])


def inserted_row_renumbered_rehashed(db: sqlite3.Connection, last: int) -> None:
    """A row put in the middle: later entries renumbered, the whole chain rehashed."""
    middle = last // 2
    db.execute("UPDATE audit_log SET seq = -(seq + 1) WHERE seq > ?", (middle,))
    db.execute("UPDATE audit_log SET seq = -seq WHERE seq < 0")
    at = datetime.fromisoformat(_row(db, middle)["at"]).replace(tzinfo=UTC)
    _forge(db, middle + 1, at + timedelta(microseconds=1), GENESIS_HASH)
    _rehash(db)


def backdated_append(db: sqlite3.Connection, last: int) -> None:
    """A well-linked entry at the end (head moved too), dated a month back."""
    chained = _forge(db, last + 1, datetime.now(UTC) - timedelta(days=30),
                     _row(db, last)["entry_hash"])  # fmt: skip
    db.execute("UPDATE audit_chain_head SET seq = ?, entry_hash = ?", (last + 1, chained))


def deleted_middle_row(db: sqlite3.Connection, last: int) -> None:
    db.execute("DELETE FROM audit_log WHERE seq = ?", (last // 2,))


def deleted_middle_renumbered_rehashed(db: sqlite3.Connection, last: int) -> None:
    db.execute("DELETE FROM audit_log WHERE seq = ?", (last // 2,))
    db.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq > ?", (last // 2,))
    _rehash(db)


def truncated_tail_head_fixed(db: sqlite3.Connection, last: int) -> None:
    """The newest 40 % of entries (checkpoints among them) removed, the head moved back."""
    keep = last * 6 // 10
    db.execute("DELETE FROM audit_log WHERE seq > ?", (keep,))
    _set_head(db, keep)


def truncated_tail_head_left(db: sqlite3.Connection, last: int) -> None:
    """Only entries past the last checkpoint removed; the head row left as it was."""
    db.execute("DELETE FROM audit_log WHERE seq > ?", (last - 3,))


def truncated_tail_past_checkpoint(db: sqlite3.Connection, last: int) -> None:
    """Only entries past the last checkpoint removed, the head moved back: invisible until the
    next checkpoint is due (the window the checkpoint cadence leaves open)."""
    db.execute("DELETE FROM audit_log WHERE seq > ?", (last - 3,))
    _set_head(db, last - 3)


def truncated_with_checkpoints(db: sqlite3.Connection, last: int) -> None:
    """The tail and the checkpoints covering it removed, the head moved back: the database
    alone then holds a shorter valid chain; found with the checkpoints of an earlier export."""
    keep = last * 6 // 10
    db.execute("DELETE FROM audit_log WHERE seq > ?", (keep,))
    db.execute("DELETE FROM audit_checkpoints WHERE seq > ?", (keep,))
    _set_head(db, keep)


def resigned_checkpoints(db: sqlite3.Connection, last: int) -> None:
    """An edit, the chain rehashed, and every checkpoint re-signed with the attacker's key."""
    db.execute("UPDATE audit_log SET principal = 'nobody' WHERE seq = ?", (last // 3,))
    _rehash(db)
    forger = Signer.generate()
    seqs = [seq for (seq,) in db.execute("SELECT seq FROM audit_checkpoints").fetchall()]
    db.execute("DELETE FROM audit_checkpoints")
    for seq in seqs:
        row = _row(db, seq)
        signed_at = datetime.now(UTC)
        fingerprint = forger.public_key.fingerprint
        signature = forger.sign(checkpoint_message(seq, row["entry_hash"], signed_at,
                                                   fingerprint))  # fmt: skip
        db.execute(
            "INSERT INTO audit_checkpoints (seq, entry_hash, signed_at, signature,"
            " key_fingerprint) VALUES (?, ?, ?, ?, ?)",
            (seq, row["entry_hash"], signed_at.strftime("%Y-%m-%d %H:%M:%S.%f"), signature,
             fingerprint),
        )  # fmt: skip


def rehashed_checkpoints_deleted(db: sqlite3.Connection, last: int) -> None:
    """An edit, the chain rehashed, every checkpoint deleted: the database alone then holds a
    valid unsigned chain; found with the checkpoints of an earlier export."""
    db.execute("UPDATE audit_log SET principal = 'nobody' WHERE seq = ?", (last // 3,))
    _rehash(db)
    db.execute("DELETE FROM audit_checkpoints")


def dropped_triggers(_db: sqlite3.Connection, _last: int) -> None:
    """Nothing else changed: the triggers stay dropped."""


SCENARIOS: dict[str, tuple[Tamper, bool]] = {
    # name: (edit, triggers put back afterwards)
    "altered_field": (altered_field, True),
    "altered_field_rehashed": (altered_field_rehashed, True),
    "inserted_row_linked": (inserted_row_linked, True),
    "inserted_row_renumbered_rehashed": (inserted_row_renumbered_rehashed, True),
    "backdated_append": (backdated_append, True),
    "deleted_middle_row": (deleted_middle_row, True),
    "deleted_middle_renumbered_rehashed": (deleted_middle_renumbered_rehashed, True),
    "truncated_tail_head_fixed": (truncated_tail_head_fixed, True),
    "truncated_tail_head_left": (truncated_tail_head_left, True),
    "truncated_tail_past_last_checkpoint": (truncated_tail_past_checkpoint, True),
    "truncated_with_its_checkpoints": (truncated_with_checkpoints, True),
    "resigned_checkpoints_own_key": (resigned_checkpoints, True),
    "rehashed_checkpoints_deleted": (rehashed_checkpoints_deleted, True),
    "dropped_triggers": (dropped_triggers, False),
}


def build(path: Path, signer: Signer, entries: int, every: int) -> tuple[float, float, str]:
    """The catalog; mean ms of a chained append and of a plain insert of the same row; the
    checkpoints of an export taken at the end (JSON Lines)."""
    engine = init_catalog(f"sqlite:///{path}")
    sessions = session_factory(engine)
    chained_s = 0.0
    for i in range(1, entries + 1):
        with sessions.begin() as session:
            started = time.perf_counter()
            append_audit(
                session, principal=f"user{i % 7}", role="investigator", action="search",
                query_type="image", case_id=None, purpose="case work",
                filters={"cameras": ["cam1", "cam2"], "classes": ["person"]},
                image_sha256="ab" * 32, hit_count=i % 50,
            )  # fmt: skip
            chained_s += time.perf_counter() - started
            if i % every == 0:
                make_audit_checkpoint(session, signer)
    plain_s = 0.0
    with sessions.begin() as session:
        session.execute(text("CREATE TABLE plain_log AS SELECT * FROM audit_log WHERE 0"))
    for i in range(1, entries + 1):
        with sessions.begin() as session:
            started = time.perf_counter()
            session.execute(
                text("INSERT INTO plain_log (at, principal, role, action, query_type, purpose,"
                     " filters, image_sha256, hit_count, seq, prev_hash, content_hash,"
                     " entry_hash) VALUES (:at, :p, 'investigator', 'search', 'image',"
                     " 'case work', :f, :h, :n, :n, '', '', '')"),
                {"at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), "p": f"user{i % 7}",
                 "f": json.dumps({"cameras": ["cam1", "cam2"], "classes": ["person"]}),
                 "h": "ab" * 32, "n": i},
            )  # fmt: skip
            plain_s += time.perf_counter() - started
    with sessions.begin() as session:
        session.execute(text("DROP TABLE plain_log"))
    with sessions() as session:
        entries_read = iter_audit_entries(session, AuditQuery())
        lines = export_lines(
            entries_read, audit_checkpoints(session), signer.public_key.b64, "jsonl"
        )
        exported = "".join(lines)
    engine.dispose()
    return 1000 * chained_s / entries, 1000 * plain_s / entries, exported


def run_scenario(
    original: Path, work: Path, name: str, signer: Signer, last: int, kept: str
) -> tuple[AuditVerification, AuditVerification]:
    """Verified from the database alone, and against the checkpoints of an earlier export."""
    tamper, restore = SCENARIOS[name]
    path = work / f"{name}.db"
    shutil.copyfile(original, path)
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    triggers = db.execute(TRIGGER_SQL).fetchall()
    for trigger in triggers:
        db.execute(f"DROP TRIGGER {trigger['name']}")
    tamper(db, last)
    if restore:
        for trigger in triggers:
            db.execute(trigger["sql"])
    db.commit()
    db.close()
    engine = init_catalog(f"sqlite:///{path}")
    try:
        with session_factory(engine)() as session:
            alone = verify_audit_chain(session, signer.public_key)
            kept_too = verify_audit_chain(session, signer.public_key, 1, read_checkpoints(kept))
            return alone, kept_too
    finally:
        engine.dispose()


UNDETECTED = "undetected"


def _outcome(report: AuditVerification) -> str:
    first = report.first_problem
    return UNDETECTED if first is None else f"{first.kind} at {first.seq}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2003)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    signer = Signer.generate()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as root:
        work = Path(root)
        original = work / "catalog.db"
        chained_ms, plain_ms, kept = build(original, signer, args.entries, args.checkpoint_every)
        engine = init_catalog(f"sqlite:///{original}")
        with session_factory(engine)() as session:
            started = time.perf_counter()
            clean = verify_audit_chain(session, signer.public_key)
            verify_s = time.perf_counter() - started
        engine.dispose()
        assert clean.ok, clean.problems
        outcomes: dict[str, list[str]] = {}
        for name in SCENARIOS:
            reports = run_scenario(original, work, name, signer, args.entries, kept)
            outcomes[name] = [_outcome(report) for report in reports]
    detected = sum(1 for alone, _kept in outcomes.values() if alone != UNDETECTED)
    detected_kept = sum(1 for _alone, kept_too in outcomes.values() if kept_too != UNDETECTED)
    figures = {
        "audit_tamper_detected": detected,
        "audit_tamper_tried": len(outcomes),
        "audit_tamper_detected_fraction": round(detected / len(outcomes), 3),
        "audit_tamper_detected_with_export": detected_kept,
        # scenario: [first problem from the database alone, with an earlier export's checkpoints]
        "audit_tamper_scenarios": outcomes,
        "audit_entries": args.entries,
        "audit_checkpoint_every": args.checkpoint_every,
        "audit_append_ms": round(chained_ms, 3),
        "audit_plain_insert_ms": round(plain_ms, 3),
        "audit_append_overhead_ratio": round(chained_ms / plain_ms, 2),
        "audit_verify_entries_per_s": round(args.entries / verify_s),
    }
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged = {
        **previous,
        **figures,
        "audit_date": datetime.now(UTC).date().isoformat(),
        "audit_machine": f"{machine_description()} (shared with other work)",
    }
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
