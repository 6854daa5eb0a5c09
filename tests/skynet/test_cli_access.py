"""`skynet api-key list|revoke` and `skynet audit tail` on a real SQLite catalog, and the API
refusing a key revoked from the command line."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from index.catalog import append_audit
from index.catalog.engine import init_catalog, session_factory
from search_api.app import API_PREFIX, create_app
from skynet.cli import app
from tests.api_support import BASE_URL, empty_context

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    return tmp_path


def skynet(*args: str) -> Result:
    """Run the real CLI; a wide terminal so table cells are not wrapped."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def table_row(output: str, name: str) -> list[str]:
    """The cells of the table row whose first cell is `name`, each cell's lines joined by
    newlines (the row ends where the next begins or the table does)."""
    row: list[list[str]] = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃|").split("│")]
        if row and (cells[0] or not line.startswith("│")):
            break
        if row or cells[0] == name:
            row = row or [[] for _ in cells]
            for lines, cell in zip(row, cells, strict=True):
                lines.extend([cell] if cell else [])
    if not row:
        raise AssertionError(f"no row {name!r} in:\n{output}")
    return ["\n".join(lines) for lines in row]


def test_keys_listed_without_secrets_and_a_revoked_key_is_refused(data_dir: Path) -> None:
    created = skynet("api-key", "create", "ana", "--role", "investigator")
    assert created.exit_code == 0, created.output
    ana_key = created.stdout.strip()
    unknown_camera = skynet("api-key", "create", "desk", "--camera", "cam2")
    assert unknown_camera.exit_code == 2 and "no camera ['cam2']" in unknown_camera.output
    assert skynet("camera", "add", "cam2", "--main", "rtsp://10.0.0.2/main").exit_code == 0
    desk_key = skynet("api-key", "create", "desk", "--camera", "cam2").stdout.strip()
    assert ana_key.startswith("skn_") and desk_key.startswith("skn_")

    listed = skynet("api-key", "list")
    assert listed.exit_code == 0, listed.output
    ana, desk = table_row(listed.stdout, "ana"), table_row(listed.stdout, "desk")
    assert ana[1] == "investigator\nall cameras" and desk[1] == "viewer\ncam2"
    assert ana[2].startswith("created 20") and "revoked" not in ana[2] + desk[2]
    for secret in (ana_key, desk_key):
        assert secret not in listed.stdout
        assert hashlib.sha256(secret.encode()).hexdigest() not in listed.stdout

    health = f"{API_PREFIX}/healthz"
    with TestClient(create_app(empty_context(data_dir)), base_url=BASE_URL) as client:
        assert client.get(health, headers={"X-API-Key": ana_key}).status_code == 200
        revoked = skynet("api-key", "revoke", "ana")
        assert revoked.exit_code == 0, revoked.output
        assert "revoked 1 key(s) named 'ana'" in revoked.stdout
        assert client.get(health, headers={"X-API-Key": ana_key}).status_code == 401
        assert client.get(health, headers={"X-API-Key": desk_key}).status_code == 200

    relisted = skynet("api-key", "list").stdout
    assert "revoked 20" in table_row(relisted, "ana")[2]
    assert "revoked" not in table_row(relisted, "desk")[2]
    again = skynet("api-key", "revoke", "ana")
    assert again.exit_code == 0 and "revoked 0 key(s)" in again.stdout
    unknown = skynet("api-key", "revoke", "nobody")
    assert unknown.exit_code == 2 and "no API key named 'nobody'" in unknown.output
    bad_role = skynet("api-key", "create", "eve", "--role", "Admin")
    assert bad_role.exit_code == 2 and "role 'Admin' is invalid" in bad_role.output
    superuser = skynet("api-key", "create", "eve", "--role", "superuser")
    assert superuser.exit_code == 2 and "role 'superuser' is invalid" in superuser.output
    twin = skynet("api-key", "create", "desk")
    assert twin.exit_code == 2 and "already named 'desk'" in twin.output
    before = datetime.now(UTC) + timedelta(days=2)
    expiring = skynet("api-key", "create", "temp", "--expires", "2")
    assert expiring.exit_code == 0, expiring.output
    dates = table_row(skynet("api-key", "list").stdout, "temp")[2].splitlines()
    after = datetime.now(UTC) + timedelta(days=2)
    assert dates[1] in {f"expires {before:%Y-%m-%d %H:%M}", f"expires {after:%Y-%m-%d %H:%M}"}
    assert "eve" not in skynet("api-key", "list").stdout
    past = skynet("api-key", "create", "old", "--expires", "2020-01-01T00:00Z")
    assert past.exit_code == 2 and "--expires: 2020-01-01T00:00:00+00:00 is not in the future" in (
        past.output
    )


@pytest.fixture
def audited(data_dir: Path) -> Path:
    """Five audit rows a minute apart (alice at even minutes, bob at odd)."""
    sessions = session_factory(init_catalog(f"sqlite:///{data_dir / 'catalog.db'}"))
    with sessions.begin() as session:
        for minute in range(5):
            append_audit(
                session,
                principal="bob" if minute % 2 else "alice",
                role="investigator",
                action="search",
                query_type="text",
                purpose=f"case {minute}",
                filters={"cameras": ["cam1"]},
                hit_count=minute,
                at=T0 + timedelta(minutes=minute),
            )
    return data_dir


def test_audit_tail_shows_the_newest_rows_oldest_first(audited: Path) -> None:
    tail = skynet("audit", "tail", "-n", "2")
    assert tail.exit_code == 0, tail.output
    lines = tail.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("2026-03-01T12:03:00Z  bob (investigator)  search/text  hits=3")
    assert lines[1].startswith("2026-03-01T12:04:00Z  alice (investigator)  search/text  hits=4")
    assert 'purpose="case 4"' in lines[1] and 'filters={"cameras": ["cam1"]}' in lines[1]
    assert "hits=0" in skynet("audit", "tail", "--principal", "alice").stdout.splitlines()[0]

    def purposes(*args: str) -> list[str]:
        result = skynet("audit", "tail", "--json", *args)
        assert result.exit_code == 0, result.output
        return [row["purpose"] for row in json.loads(result.stdout)]

    assert purposes() == [f"case {m}" for m in range(5)]
    assert purposes("--principal", "bob") == ["case 1", "case 3"]
    assert purposes("--since", "2026-03-01T12:02") == ["case 2", "case 3", "case 4"]  # UTC
    assert purposes("--since", "2026-03-01T13:03+01:00", "--principal", "alice") == ["case 4"]
    assert purposes("--principal", "nobody") == []
    row = json.loads(skynet("audit", "tail", "--json", "-n", "1").stdout)[0]
    assert row["at"] == "2026-03-01T12:04:00+00:00" and row["hit_count"] == 4
    assert row["principal"] == "alice" and row["filters"] == {"cameras": ["cam1"]}


def test_audit_tail_refuses_bad_options_and_says_when_nothing_matches(audited: Path) -> None:
    bad_since = skynet("audit", "tail", "--since", "yesterday")
    assert bad_since.exit_code == 2 and "is not an ISO 8601 time" in bad_since.output
    assert skynet("audit", "tail", "-n", "0").exit_code == 2
    nothing = skynet("audit", "tail", "--since", "2027-01-01")
    assert nothing.exit_code == 0 and nothing.stdout == ""
    assert "no audit rows match" in nothing.output
