"""`skynet plates search`: finds vehicles by plate on a real SQLite catalog, needs an open case
and a purpose, audits the search, and names a bad pattern."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from index import catalog
from index.catalog.engine import init_catalog, session_factory
from index.catalog.plates import store_plates
from skynet.cli import app
from tests.catalog.test_plates import plate
from tests.catalog.test_track_search import T0, camera, track


@pytest.fixture
def sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> sessionmaker[Session]:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    made = session_factory(init_catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    with made.begin() as session:
        catalog.upsert_camera(session, camera("cam1"))
        ids = catalog.add_tracks(session, [track(1, T0), track(2, T0.replace(minute=5))])
        store_plates(
            session, [(ids[0], plate("吉A12345"), None), (ids[1], plate("吉A1Z345"), None)]
        )
        catalog.create_case(session, "Hit and run", "ana")
    return made


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["plates", "search", *args], terminal_width=200)
    return result.exit_code, result.output


def case_id(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        return catalog.list_cases(session)[0].id


def test_a_fuzzy_plate_search_lists_the_vehicles_and_is_audited(
    sessions: sessionmaker[Session],
) -> None:
    case = case_id(sessions)
    code, out = run("吉A12345", "--mode", "fuzzy", "--case", case, "--purpose", "witness")
    assert code == 0, out
    assert "吉A12345" in out and "吉A1Z345" in out and "2 match(es)" in out
    with sessions() as session:
        entry = catalog.audit_entries(session)[-1]
    assert (entry.query_type, entry.case_id, entry.purpose, entry.hit_count) == (
        "plate", case, "witness", 2,
    )  # fmt: skip
    code, out = run("A1Z", "--mode", "contains", "--case", case, "--purpose", "witness")
    assert code == 0 and "1 match(es)" in out


def test_plate_search_needs_a_case_and_a_good_pattern(sessions: sessionmaker[Session]) -> None:
    code, out = run("吉A12345", "--case", "nope", "--purpose", "p")
    assert code != 0 and "does not exist" in out
    code, out = run("' OR 1=1", "--mode", "contains", "--case", case_id(sessions), "--purpose", "p")
    assert code != 0 and "looks like SQL" in out
    code, out = run("吉A12345", "--purpose", "p")
    assert code != 0 and "--case" in out
