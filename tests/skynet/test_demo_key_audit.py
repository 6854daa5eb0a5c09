"""The demo's own API key is created and revoked with audit entries like `skynet api-key
create|revoke` (first-user check: the demo's key_create / key_revoke were missing from the
chain), on a real SQLite catalog that `skynet audit verify` checks."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.catalog import api_key_named, audit_entries
from skynet.cli import app
from skynet.cli_catalog import catalog_sessions
from skynet.demo import DEMO_KEY_NAME, issue_demo_key, revoke_demo_key
from skynet.settings import Settings


def test_the_demo_key_is_audited_when_issued_and_revoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    sessions = catalog_sessions(Settings())
    with sessions() as session:
        plaintext = issue_demo_key(session)
        made = api_key_named(session, DEMO_KEY_NAME)
        session.commit()
    assert made is not None and plaintext
    for _ in range(2):  # a second revoke finds no active key: no second entry
        with sessions() as session:
            revoke_demo_key(session)
            session.commit()
    with sessions() as session:
        assert api_key_named(session, DEMO_KEY_NAME) is None
        entries = [(e.principal, e.role, e.action, e.target) for e in audit_entries(session)]
    principal = f"cli:{getpass.getuser()}"
    assert entries == [
        (principal, "admin", "key_create", f"key:{made.id}"),
        (principal, "admin", "key_revoke", f"key:{made.id}"),
    ]
    signed = CliRunner().invoke(app, ["audit", "checkpoint"], terminal_width=200)
    assert signed.exit_code == 0, signed.output  # signs over the chain (refused if broken)
    verified = CliRunner().invoke(app, ["audit", "verify"], terminal_width=200)
    assert verified.exit_code == 0 and "audit chain OK" in verified.output, verified.output
