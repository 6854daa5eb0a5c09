"""`skynet index stats|rebuild` on a real SQLite catalog and the real embedder's version."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from skynet.cli import app


def test_index_stats_reports_an_empty_index_before_the_first_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    before = runner.invoke(app, ["index", "stats"], env={"COLUMNS": "300"})
    assert before.exit_code == 0, before.output
    lines = before.stdout.splitlines()
    assert lines[0].startswith("embedding version  ")
    assert lines[1] == f"vectors            0 (no index saved yet under {tmp_path / 'vectors'})"
    assert lines[2] == "the catalog holds no embeddings of this version yet"

    rebuilt = runner.invoke(app, ["index", "rebuild"], env={"COLUMNS": "300"})
    assert rebuilt.exit_code == 0, rebuilt.output
    after = runner.invoke(app, ["index", "stats"], env={"COLUMNS": "300"})
    assert after.exit_code == 0, after.output
    saved = after.stdout.splitlines()
    assert saved[:3] == [lines[0], "kind               exact", "vectors            0"]
