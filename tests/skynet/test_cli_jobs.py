"""`skynet reindex --run`, `skynet jobs …` and `skynet index versions|switch|retire` (#15) on a
real SQLite catalog, local object store and recorded 1080p segments."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.registry import default_cache_dir
from sample_streams.footage import CameraFiles
from skynet.cli import app
from skynet.cli_catalog import catalog_sessions
from skynet.runtime import open_object_store
from skynet.settings import Settings
from tests.index.reindex_support import FOOTAGE_START, archive_in, record_segments

pytestmark = pytest.mark.slow  # real 1080p decode + detection
ENV = {"COLUMNS": "300"}


@pytest.fixture
def data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_cameras: list[CameraFiles]
) -> Path:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SKYNET_MODELS_DIR", str(default_cache_dir().resolve()))
    settings = Settings()
    recorded = record_segments(sample_cameras[0].main_path, tmp_path / "rec", "cam1", 8.0, 4.0)
    archive_in(
        catalog_sessions(settings), open_object_store(settings), tmp_path, {"cam1": recorded}
    )
    return tmp_path


def test_reindex_run_then_jobs_and_versions_commands(data_dir: Path):
    runner = CliRunner()
    window = [
        "--camera", "cam1", "--from", FOOTAGE_START.strftime("%Y-%m-%dT%H:%M:%S"),
        "--to", (FOOTAGE_START + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"),
    ]  # fmt: skip
    bad = runner.invoke(app, ["reindex", *window, "--embedder", "bogus"], env=ENV)
    assert bad.exit_code == 2 and "unknown embedder 'bogus'" in bad.output

    ran = runner.invoke(
        app, ["reindex", *window, "--embedder", "mobilenetv2-embedder-int8", "--run"], env=ENV
    )
    assert ran.exit_code == 0, ran.output
    job_id = ran.output.split("queued re-index job ")[1].split()[0]
    assert f"job {job_id}  reindex  succeeded" in ran.output
    assert "segments 2 done, 0 skipped, 0 pending of 2" in ran.output
    counted = re.search(r"; (\d+) tracks, (\d+) replaced", ran.output)
    assert counted is not None, ran.output
    tracks, replaced = counted.groups()
    assert int(tracks) > 0 and replaced == "0"  # a new version: nothing of it before
    assert f"; {tracks} tracks, 0 replaced, 0 plates read" in ran.output  # people only here
    again = runner.invoke(
        app, ["reindex", *window, "--embedder", "mobilenetv2-embedder-int8", "--run"], env=ENV
    )
    assert again.exit_code == 0, again.output
    assert f"; {tracks} tracks, {tracks} replaced" in again.output  # the first job's, in turn

    listed = runner.invoke(app, ["jobs", "list", "--kind", "reindex"], env=ENV)
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if job_id in line)
    assert "succeeded" in row and "2/2" in row

    shown = runner.invoke(app, ["jobs", "show", job_id], env=ENV)
    assert shown.exit_code == 0 and "embedder: mobilenetv2-embedder-int8" in shown.output
    paused = runner.invoke(app, ["jobs", "pause", job_id], env=ENV)
    assert paused.exit_code == 1 and "has succeeded: nothing to pause" in paused.output

    versions = runner.invoke(app, ["index", "versions"], env=ENV)
    assert versions.exit_code == 0, versions.output
    lines = versions.output.splitlines()  # each version, then its state and models below it
    version = lines[next(n for n, line in enumerate(lines) if line.startswith("  live ")) - 1]
    refused = runner.invoke(app, ["index", "retire", version], env=ENV)
    assert refused.exit_code == 2 and "switch to another one first" in refused.output
    unknown = runner.invoke(app, ["index", "switch", "no-such-version"], env=ENV)
    assert unknown.exit_code == 2 and "not in the catalog" in unknown.output
    assert list((data_dir / "vectors").glob("*.faiss"))  # the built index, now live
