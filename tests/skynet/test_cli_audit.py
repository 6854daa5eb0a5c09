"""`skynet audit checkpoint | verify | export` (issue #17) on a real SQLite catalog, tampered
with by sqlite3 the way someone holding the file would; and the server's checkpointer."""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from index.audit_checkpointer import AuditCheckpointer
from index.catalog import append_audit, audit_checkpoints
from index.catalog.engine import init_catalog, session_factory
from skynet.cli import app
from skynet.settings import Settings
from storage.ed25519 import Signer


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A catalog with six entries by two people."""
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    with sessions.begin() as session:
        for i in range(6):
            append_audit(
                session, principal="ana" if i % 2 else "bob", role="investigator",
                action="search", query_type="text", filters={"text": f"red car {i}"},
                hit_count=i,
            )  # fmt: skip
    return tmp_path


# what an attacker restores after editing, so only the chain can tell (migration 0013's SQL)
TRIGGERS = tuple(
    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}"
    f" BEGIN SELECT RAISE(ABORT, 'refused'); END"
    for table, op in (
        ("audit_log", "UPDATE"), ("audit_log", "DELETE"), ("audit_checkpoints", "UPDATE"),
        ("audit_checkpoints", "DELETE"), ("audit_chain_head", "DELETE"),
    )
)  # fmt: skip


def skynet(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def tamper(data_dir: Path, *statements: str) -> None:
    db = sqlite3.connect(data_dir / "catalog.db")
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


def test_checkpoint_then_verify_a_clean_chain(data_dir: Path) -> None:
    signed = skynet("audit", "checkpoint")
    assert signed.exit_code == 0 and "checkpoint signed at entry 6" in signed.stdout
    assert "nothing to sign" in skynet("audit", "checkpoint").stdout
    verified = skynet("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "audit chain OK: entries 1-6 (6), 1 checkpoint(s)" in verified.stdout
    assert skynet("audit", "verify", "--from", "4").stdout.startswith("audit chain OK: entries 4-6")
    stranger = Signer.generate().public_key.b64
    other_key = skynet("audit", "verify", "--public-key", stranger, "--json")
    assert other_key.exit_code == 1
    assert json.loads(other_key.stdout)["problems"][0]["kind"] == "checkpoint"
    assert skynet("audit", "verify", "--public-key", "abc").exit_code == 2
    beyond = skynet("audit", "verify", "--from", "8")
    assert beyond.exit_code == 2 and "the log has 6 entries" in beyond.output


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (["UPDATE audit_log SET hit_count = 99 WHERE seq = 2"], "entry 2: altered"),
        (["DELETE FROM audit_log WHERE seq = 3"], "entry 3: removed"),
        (
            ["DELETE FROM audit_log WHERE seq > 4",
             "UPDATE audit_chain_head SET seq = 4, entry_hash ="
             " (SELECT entry_hash FROM audit_log WHERE seq = 4)"],
            "entry 5: truncated",
        ),
        ([], "the database: triggers"),
    ],
)  # fmt: skip
def test_verify_names_the_first_bad_entry(
    data_dir: Path, statements: list[str], message: str
) -> None:
    assert skynet("audit", "checkpoint").exit_code == 0
    tamper(data_dir, *statements)
    verified = skynet("audit", "verify")
    assert verified.exit_code == 1
    assert f"AUDIT CHAIN DAMAGED at {message}" in verified.stderr
    sessions = session_factory(init_catalog(f"sqlite:///{data_dir / 'catalog.db'}"))
    with sessions.begin() as session:  # something new to sign
        append_audit(session, principal="ana", role="investigator", action="clip_access")
    refused = skynet("audit", "checkpoint")  # never signed over damage (or missing triggers)
    assert refused.exit_code == 1 and "no checkpoint signed" in refused.stderr
    assert skynet("audit", "tail").exit_code == 0  # a damaged log can still be read


def test_checkpoint_refuses_a_broken_tail(data_dir: Path) -> None:
    tamper(data_dir, "UPDATE audit_log SET principal = 'eve' WHERE seq = 6")
    refused = skynet("audit", "checkpoint")
    assert refused.exit_code == 1 and "entry 6: altered" in refused.stderr


def test_export_jsonl_and_csv(data_dir: Path, tmp_path: Path) -> None:
    assert skynet("audit", "checkpoint").exit_code == 0
    out = tmp_path / "audit.jsonl"
    assert skynet("audit", "export", "-o", str(out)).exit_code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["record"] for r in records] == ["entry"] * 6 + ["checkpoint", "key"]
    assert records[0]["filters"] == {"text": "red car 0"} and records[0]["seq"] == 1
    exported = skynet("audit", "export", "--format", "csv", "--principal", "ana")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["seq"] for r in rows if r["record"] == "entry"] == ["2", "4", "6"]
    assert skynet("audit", "export", "--format", "xml").exit_code == 2


def test_the_server_checkpointer_signs_when_due_and_warns_on_damage(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings()
    sessions = session_factory(init_catalog(settings.catalog_url))
    signer = Signer.load_or_create(settings.evidence_key_path)
    checkpointer = AuditCheckpointer(sessions, signer, 5, timedelta(minutes=10))
    assert checkpointer.verify_now().ok
    checkpointer.checkpoint_if_due()
    with sessions() as session:
        assert [c.seq for c in audit_checkpoints(session)] == [6]
    tamper(data_dir, "UPDATE audit_log SET hit_count = 0 WHERE seq = 5")
    with caplog.at_level(logging.INFO, logger="index.audit_checkpointer"):
        assert not checkpointer.verify_now().ok
    assert "AUDIT CHAIN DOES NOT VERIFY: entry 5: altered" in caplog.text


def test_kept_checkpoints_catch_a_tail_removed_with_its_checkpoints(
    data_dir: Path, tmp_path: Path
) -> None:
    assert skynet("audit", "checkpoint").exit_code == 0
    kept = tmp_path / "kept.csv"
    assert skynet("audit", "export", "--format", "csv", "-o", str(kept)).exit_code == 0
    tamper(
        data_dir,
        "DELETE FROM audit_log WHERE seq > 3",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_chain_head SET seq = 3,"
        " entry_hash = (SELECT entry_hash FROM audit_log WHERE seq = 3)",
        *TRIGGERS,
    )
    # the database alone holds a shorter valid chain: only a copy kept elsewhere tells
    assert skynet("audit", "verify").exit_code == 0
    checked = skynet("audit", "verify", "--checkpoints", str(kept))
    assert checked.exit_code == 1 and "AUDIT CHAIN DAMAGED at entry 4: truncated" in checked.stderr
    kept.write_text("record,seq\ncheckpoint,x\n")
    assert skynet("audit", "verify", "--checkpoints", str(kept)).exit_code == 2
