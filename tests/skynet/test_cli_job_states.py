"""`skynet jobs show --follow|pause` on a finished re-index job with no segments, on a real
SQLite catalog (first-user check: the bar said "0/1 segments", the refusal "is succeeded")."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.catalog.jobs import create_held_job, finish_held_job, job_state_phrase, start_held_job
from index.catalog.reindex import REINDEX_JOB_KIND
from skynet.cli import app
from skynet.cli_catalog import catalog_sessions
from skynet.settings import Settings


@pytest.fixture
def finished_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A re-index job that succeeded with no segment in its range."""
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    with catalog_sessions(Settings())() as session:
        job_id = create_held_job(session, REINDEX_JOB_KIND, "cli:ana", {"camera_ids": []}, "r1")
        assert start_held_job(session, job_id, "r1")
        assert finish_held_job(session, job_id, "r1", "succeeded", {"segments": 0})
        session.commit()
    return job_id


def test_follow_shows_no_segments_as_0_of_0(finished_job: str) -> None:
    result = CliRunner().invoke(app, ["jobs", "show", "--follow", finished_job])
    assert result.exit_code == 0, result.output
    assert "0/0 segments" in result.output and "0/1" not in result.output, result.output
    assert "100%" in result.output  # nothing left to do: a full bar


def test_refusals_name_the_state_as_a_sentence(finished_job: str) -> None:
    result = CliRunner().invoke(app, ["jobs", "pause", finished_job], terminal_width=200)
    assert result.exit_code == 1
    assert f"job {finished_job} has succeeded: nothing to pause" in result.output, result.output
    assert [job_state_phrase(s) for s in ("running", "paused", "failed", "cancelled")] == [
        "is running", "is paused", "has failed", "was cancelled",
    ]  # fmt: skip
