"""`skynet case open|list|close` on a real SQLite catalog: a CLI user gets the case id that
`skynet plates search --case` needs, closing it ends plate searches under it, and both are
audited like the API's."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from index.catalog import audit_entries, get_case
from index.catalog.engine import init_catalog, session_factory
from skynet import cli_cases
from skynet.cli import app


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), terminal_width=200)
    return result.exit_code, result.output


def test_a_case_opened_on_the_cli_files_plate_searches_until_closed(data_dir: Path) -> None:
    code, output = run("case", "open", "Stolen van, gate 2")
    assert code == 0, output
    case_id = output.strip()
    code, listed = run("case", "list", "--open")
    assert code == 0 and case_id in listed and "Stolen van, gate 2" in listed, listed

    search = ("plates", "search", "吉A12345", "--case", case_id, "--purpose", "van owner")
    code, output = run(*search)
    assert code == 0, output
    code, output = run("case", "close", case_id)
    assert code == 0 and "closed" in output, output
    code, output = run(*search)
    assert code != 0 and "closed" in output, output
    code, listed = run("case", "list", "--open")
    assert case_id not in listed

    sessions = session_factory(init_catalog(f"sqlite:///{data_dir / 'catalog.db'}"))
    with sessions() as session:
        case = get_case(session, case_id)
        actions = [e.action for e in audit_entries(session) if e.case_id == case_id]
    assert case is not None and case.closed_at is not None and case.created_by.startswith("cli:")
    assert actions[0] == "open_case" and actions[-1] == "close_case" and "search" in actions


def test_bad_titles_and_unknown_cases_are_named(data_dir: Path) -> None:
    code, output = run("case", "open", "   ")
    assert code == 2 and "TITLE" in output, output
    code, output = run("case", "close", "no-such-case")
    assert code == 2 and "no case 'no-such-case'" in output, output


def test_case_list_shows_whole_ids_on_an_80_column_terminal(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_cases, "console", Console(width=80))
    code, output = run("case", "open", "Bag theft at the north gate, witness statement pending")
    assert code == 0, output
    case_id = output.strip()
    code, listed = run("case", "list")
    assert code == 0 and case_id in listed, listed
