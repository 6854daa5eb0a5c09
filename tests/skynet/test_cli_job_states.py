"""`skynet jobs show --follow|pause` on a finished re-index job with no segments, on a real
SQLite catalog (first-user check: the bar said "0/1 segments", the refusal "is succeeded")."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.request import EXPORT_JOB_KIND
from index.catalog.jobs import (
    create_held_job,
    finish_held_job,
    job_state_phrase,
    record_progress,
    start_held_job,
)
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


def test_show_says_whether_the_version_went_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that succeeded but whose switch was refused said nothing about it (first-user
    check: 'succeeded', 'switch: True', and the version stayed 'building' with no reason)."""
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    refused = "index version 'v2' (embedder 'int8') is not what live ingest embeds: restart"
    results = {"r1": {"version": "v2", "switched": False, "switch_refused": refused},
               "r2": {"version": "v3", "switched": True, "switch_refused": None}}  # fmt: skip
    with catalog_sessions(Settings())() as session:
        ids = {}
        for runner, result in results.items():
            ids[runner] = create_held_job(session, REINDEX_JOB_KIND, "cli:ana", {}, runner)
            assert start_held_job(session, ids[runner], runner)
            assert finish_held_job(session, ids[runner], runner, "succeeded", result)
        session.commit()
    shown = CliRunner().invoke(app, ["jobs", "show", ids["r1"]], terminal_width=200)
    assert shown.exit_code == 0 and f"not switched live: {refused}" in shown.output, shown.output
    shown = CliRunner().invoke(app, ["jobs", "show", ids["r2"]], terminal_width=200)
    assert shown.exit_code == 0 and "switched live: v3" in shown.output, shown.output
    assert "not switched" not in shown.output


def test_show_gives_an_export_job_its_progress_and_result_not_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jobs show` of an export job printed re-index figures (first-user check: 'segments 0
    done … of 0; … 0 tracks, 0 replaced, 0 plates read', 'speed –, ETA –') and no progress."""
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    with catalog_sessions(Settings())() as session:
        job_id = create_held_job(session, EXPORT_JOB_KIND, "me", {"track_ids": [267]}, "r1")
        assert start_held_job(session, job_id, "r1")
        assert finish_held_job(session, job_id, "r1", "succeeded", {"sha256": "ab" * 32})
        session.commit()
    shown = CliRunner().invoke(app, ["jobs", "show", job_id], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "progress 100%" in shown.output and f"sha256: {'ab' * 32}" in shown.output
    assert "segments" not in shown.output and "ETA" not in shown.output, shown.output


def test_list_gives_a_running_export_job_its_percentage_not_an_eta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    with catalog_sessions(Settings())() as session:
        job_id = create_held_job(session, EXPORT_JOB_KIND, "me", {"track_ids": [267]}, "r1")
        assert start_held_job(session, job_id, "r1")
        session.commit()
    listed = CliRunner().invoke(app, ["jobs", "list"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if job_id in line)
    assert "0%" in row and "ETA" not in listed.output, listed.output


def test_follow_shows_an_export_job_its_own_fraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jobs show --follow` of an export that failed at 40 % drew a full bar and '0/0
    segments' (re-index figures of a job without segments)."""
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    with catalog_sessions(Settings())() as session:
        job_id = create_held_job(session, EXPORT_JOB_KIND, "me", {"track_ids": [267]}, "r1")
        assert start_held_job(session, job_id, "r1")
        assert record_progress(session, job_id, "r1", 0.4)
        assert finish_held_job(session, job_id, "r1", "failed", None, "storage down")
        session.commit()
    shown = CliRunner().invoke(app, ["jobs", "show", "--follow", job_id], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "40%" in shown.output and "100%" not in shown.output, shown.output
    assert "segments" not in shown.output and "storage down" in shown.output, shown.output
