"""The audit hash chain (issue #17): appends, checkpoints, verification, and tampering done the
way an attacker with the database file would do it — sqlite3 on the file, triggers dropped."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from index import catalog
from index.catalog.audit_chain import content_hash, entry_hash
from index.catalog.engine import init_catalog, session_factory
from index.catalog.values import AuditEntry
from storage.ed25519 import Signer
from tests.migration_support import upgraded_from

SIGNER = Signer.generate()


def append(session: Session, n: int, action: str = "search") -> None:
    for i in range(n):
        catalog.append_audit(
            session, principal=f"user{i % 3}", role="investigator", action=action,
            query_type="image", filters={"cameras": ["c1"], "i": i}, image_sha256="ab" * 32,
            hit_count=i,
        )  # fmt: skip


def verify(sessions: sessionmaker[Session], from_seq: int = 1) -> catalog.AuditVerification:
    with sessions() as session:
        return catalog.verify_audit_chain(session, SIGNER.public_key, from_seq)


def test_a_clean_chain_with_checkpoints_verifies(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        append(session, 5)
        first = catalog.make_audit_checkpoint(session, SIGNER)
        assert first is not None and first.seq == 5
        assert catalog.make_audit_checkpoint(session, SIGNER) is None  # nothing new to sign
        append(session, 3, action="clip_access")
        assert catalog.make_audit_checkpoint(session, SIGNER) is not None
        append(session, 2)
    report = verify(sessions)
    assert report.ok, report.problems
    assert (report.entries_checked, report.last_seq, report.checkpoints_checked) == (10, 10, 2)
    assert report.last_good_checkpoint == 8
    assert verify(sessions, from_seq=6).entries_checked == 5
    with sessions() as session:
        entries = catalog.audit_entries(session)
        assert [e.seq for e in entries] == list(range(1, 11))
        page = catalog.audit_page(session, catalog.AuditQuery(action="clip_access", limit=2))
        assert [e.seq for e in page] == [6, 7]
        rest = catalog.AuditQuery(action="clip_access", after_seq=7)
        assert [e.seq for e in catalog.iter_audit_entries(session, rest)] == [8]


def test_concurrent_appends_keep_one_chain(sessions: sessionmaker[Session]) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(15):
                with sessions.begin() as session:
                    append(session, 1)
        except BaseException as error:  # reported by the assert below
            errors.append(error)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = verify(sessions)
    assert report.ok, report.problems
    assert report.entries_checked == report.last_seq == 60


def test_times_never_go_back(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        catalog.append_audit(session, principal="a", role="r", action="x", at=now)
        with pytest.raises(catalog.BackdatedAuditError, match="before the newest entry"):
            catalog.append_audit(session, principal="a", role="r", action="x",
                                 at=now - timedelta(seconds=1))  # fmt: skip
        with pytest.raises(catalog.BackdatedAuditError, match="future"):
            catalog.append_audit(session, principal="a", role="r", action="x",
                                 at=now + timedelta(minutes=5))  # fmt: skip
        catalog.append_audit(session, principal="a", role="r", action="x")
    with sessions() as session:
        first, second = catalog.audit_entries(session)
        assert second.at >= first.at and second.seq == 2


def test_checkpoints_fall_due_by_count_or_age(sessions: sessionmaker[Session]) -> None:
    hour = timedelta(hours=1)
    with sessions.begin() as session:
        assert not catalog.audit_checkpoint_due(session, 3, hour)
        append(session, 2)
        assert not catalog.audit_checkpoint_due(session, 3, hour)
        assert catalog.audit_checkpoint_due(session, 3, hour, datetime.now(UTC) + 2 * hour)
        append(session, 1)
        assert catalog.audit_checkpoint_due(session, 3, hour)
        catalog.make_audit_checkpoint(session, SIGNER)
        assert not catalog.audit_checkpoint_due(session, 1, hour)


def test_upgrade_chains_existing_rows(catalog_url: str) -> None:
    insert = (
        "INSERT INTO audit_log (at, principal, role, action, filters) VALUES"
        " ('2026-03-01 12:05:00', 'bob', 'admin', 'camera_update', '{}'),"
        " ('2026-03-01 12:00:00', 'ana', 'investigator', 'search', '{\"k\": [1, 2]}')"
    )
    with upgraded_from(catalog_url, "0012_accounts", insert, {}) as session:
        report = catalog.verify_audit_chain(session, SIGNER.public_key)
        assert report.ok, report.problems
        assert [e.principal for e in catalog.audit_entries(session)] == ["ana", "bob"]
        catalog.append_audit(session, principal="cy", role="admin", action="key_create")
        session.commit()
        assert catalog.verify_audit_chain(session, SIGNER.public_key).last_seq == 3


# ---- tampering with the SQLite file directly ------------------------------------------------


def _raw_content(row: sqlite3.Row) -> AuditEntry:
    at = datetime.fromisoformat(row["at"]).replace(tzinfo=UTC)
    return AuditEntry(
        0, at, row["principal"], row["role"], row["action"], row["query_type"], row["case_id"],
        row["purpose"], json.loads(row["filters"]), row["image_sha256"], row["hit_count"],
        row["target"],
    )  # fmt: skip


def _forge(db: sqlite3.Connection, seq: int, prev: str, content: AuditEntry) -> str:
    """Insert an entry with correct hashes for what it claims; its entry hash."""
    own = content_hash(content)
    chained = entry_hash(prev, own, seq)
    db.execute(
        "INSERT INTO audit_log (at, principal, role, action, filters, seq, prev_hash,"
        " content_hash, entry_hash) VALUES (?, ?, ?, ?, '{}', ?, ?, ?, ?)",
        (content.at.strftime("%Y-%m-%d %H:%M:%S.%f"), content.principal, content.role,
         content.action, seq, prev, own, chained),
    )  # fmt: skip
    return chained


def _rehash_all(db: sqlite3.Connection) -> None:
    """Recompute every hash and the head, as an attacker who knows the scheme would."""
    prev = "0" * 64
    for row in db.execute("SELECT * FROM audit_log ORDER BY seq").fetchall():
        own = content_hash(_raw_content(row))
        chained = entry_hash(prev, own, row["seq"])
        db.execute(
            "UPDATE audit_log SET prev_hash = ?, content_hash = ?, entry_hash = ? WHERE id = ?",
            (prev, own, chained, row["id"]),
        )
        prev = chained
    db.execute("UPDATE audit_chain_head SET entry_hash = ?", (prev,))


def _drop_triggers(db: sqlite3.Connection) -> None:
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")


def _alter_field(db: sqlite3.Connection) -> None:
    db.execute("UPDATE audit_log SET principal = 'nobody' WHERE seq = 4")


def _alter_and_rehash(db: sqlite3.Connection) -> None:
    db.execute("UPDATE audit_log SET purpose = 'routine' WHERE seq = 3")
    _rehash_all(db)


def _insert_forged(db: sqlite3.Connection) -> None:
    """A row claiming to sit between entries 3 and 4 (its time), linked to entry 3."""
    row = db.execute("SELECT * FROM audit_log WHERE seq = 3").fetchone()
    content = _raw_content(row)
    forged = AuditEntry(0, content.at + timedelta(microseconds=1), "mallory", "admin",
                        "key_create", None, None, None, {}, None, None, None)  # fmt: skip
    _forge(db, 11, row["entry_hash"], forged)


def _backdated_append(db: sqlite3.Connection) -> None:
    """A well-linked entry at the end of the chain (head updated too) dated last year."""
    head = db.execute("SELECT seq, entry_hash FROM audit_chain_head").fetchone()
    at = datetime.now(UTC) - timedelta(days=365)
    content = AuditEntry(0, at, "mallory", "admin", "login", None, None, None, {}, None, None,
                         None)  # fmt: skip
    chained = _forge(db, head["seq"] + 1, head["entry_hash"], content)
    db.execute("UPDATE audit_chain_head SET seq = seq + 1, entry_hash = ?", (chained,))


def _delete_middle(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM audit_log WHERE seq = 5")


def _delete_middle_and_renumber(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM audit_log WHERE seq = 5")
    db.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq > 5")
    db.execute("UPDATE audit_chain_head SET seq = seq - 1")
    _rehash_all(db)


def _truncate_tail(db: sqlite3.Connection) -> None:
    """The last three entries deleted and the head moved back to match."""
    db.execute("DELETE FROM audit_log WHERE seq > 7")
    last = db.execute("SELECT entry_hash, at FROM audit_log WHERE seq = 7").fetchone()
    db.execute("UPDATE audit_chain_head SET seq = 7, entry_hash = ?, at = ?", tuple(last))


TAMPERING: dict[str, tuple[Callable[[sqlite3.Connection], None], str, int]] = {
    # scenario: (what is done, the kind of damage reported first, at which entry)
    "altered field": (_alter_field, "altered", 4),
    "altered field, chain rehashed": (_alter_and_rehash, "checkpoint", 8),
    "inserted forged row": (_insert_forged, "inserted", 11),
    "backdated append": (_backdated_append, "backdated", 11),
    "deleted middle row": (_delete_middle, "removed", 5),
    "deleted middle row, renumbered and rehashed": (_delete_middle_and_renumber, "checkpoint", 8),
    "truncated tail": (_truncate_tail, "truncated", 8),
    "dropped triggers only": (lambda _db: None, "triggers", 0),
}


@pytest.fixture
def chained_file(tmp_path: Path) -> tuple[Path, sessionmaker[Session]]:
    """A SQLite catalog with 10 entries, a checkpoint at 8."""
    path = tmp_path / "catalog.db"
    sessions = session_factory(init_catalog(f"sqlite:///{path}"))
    with sessions.begin() as session:
        append(session, 8)
        catalog.make_audit_checkpoint(session, SIGNER)
        append(session, 2)
    assert verify(sessions).ok
    return path, sessions


@pytest.mark.parametrize("scenario", sorted(TAMPERING))
def test_verify_detects_tampering(
    chained_file: tuple[Path, sessionmaker[Session]], scenario: str
) -> None:
    path, sessions = chained_file
    tamper, kind, seq = TAMPERING[scenario]
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    _drop_triggers(db)
    tamper(db)
    db.commit()
    db.close()
    report = verify(sessions)
    assert not report.ok
    first = report.first_problem
    assert first is not None and (first.kind, first.seq) == (kind, seq), report.problems
    assert any(p.kind == "triggers" for p in report.problems)  # always: they were dropped
    with sessions.begin() as session, pytest.raises(catalog.AuditChainBroken):
        catalog.make_audit_checkpoint(session, SIGNER)  # never signs over damage


def test_a_checkpoint_signed_by_another_key_is_reported(
    chained_file: tuple[Path, sessionmaker[Session]],
) -> None:
    _path, sessions = chained_file
    with sessions() as session:
        report = catalog.verify_audit_chain(session, Signer.generate().public_key)
    assert report.first_problem is not None
    assert (
        report.first_problem.kind == "checkpoint" and "unknown key" in report.first_problem.detail
    )


def test_the_triggers_still_refuse_changes(engine: Engine, sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        append(session, 2)
        catalog.make_audit_checkpoint(session, SIGNER)
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    for statement in (
        "UPDATE audit_checkpoints SET seq = 1",
        "DELETE FROM audit_checkpoints",
        "DELETE FROM audit_chain_head",
        "UPDATE audit_log SET principal = 'x'",
    ):
        with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
    with sessions() as session:
        assert catalog.missing_audit_triggers(session) == []
