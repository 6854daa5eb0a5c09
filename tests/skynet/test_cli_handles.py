"""What one command prints and another takes is shown whole on an 80-column terminal (job ids,
index versions, API key names and ids, user and camera names), and the job commands take a
unique prefix of a job id like git (first-user check: `jobs list` printed '7496e31…', which
`jobs show` refused). On a real SQLite catalog, through the CLI as a user runs it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from index.catalog import CameraSpec, create_api_key, upsert_camera
from index.catalog.jobs import create_job
from index.catalog.reindex import REINDEX_JOB_KIND, add_index_version
from skynet import cli, cli_accounts, cli_jobs
from skynet.cli import app
from skynet.cli_catalog import catalog_sessions
from skynet.settings import Settings

NARROW = {"COLUMNS": "80"}
FIRST, SECOND = "7496e31a" + "0" * 24, "7496e31b" + "1" * 24  # share the prefix 7496e31
VERSION = "reid-9f3c2a7d41e6-on-3f2a9c1e-d1280"  # a re-ID metric's index version
LONG_VERSION = "mnv2-imagenet-f17x4stripes@256x128+lab4x4x4-3slot-v1:colour0.50-v3"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=NARROW)
    return result.exit_code, result.output


def fits_80_columns(output: str) -> bool:
    return all(len(line) <= 80 for line in output.splitlines())


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Two re-index jobs whose ids share 7 characters, a long index version, a long key name."""
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    ids = iter([uuid.UUID(FIRST), uuid.UUID(SECOND)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids))
    with catalog_sessions(Settings())() as session:
        for _ in range(2):
            create_job(session, REINDEX_JOB_KIND, {"camera_ids": ["gate-north-entrance-1"]})
        add_index_version(session, VERSION, "yolov8n-int8", "mobilenetv2-embedder-int8", 64)
        create_api_key(session, "night-shift-control-room-dashboard", "viewer", None)
        session.commit()
    monkeypatch.undo()  # uuid4 as it was
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    for module in (cli, cli_jobs, cli_accounts):  # tests/conftest.py fixed them at 200 columns
        monkeypatch.setattr(module, "console", Console(width=80))
    yield


def test_jobs_list_shows_whole_ids_that_jobs_show_takes(catalog: None) -> None:
    code, listed = run("jobs", "list")
    assert code == 0 and FIRST in listed and SECOND in listed, listed
    assert "…" not in listed and fits_80_columns(listed), listed
    code, shown = run("jobs", "show", FIRST)
    assert code == 0 and f"job {FIRST}  reindex  queued" in shown, shown


def test_job_commands_take_a_unique_prefix(catalog: None) -> None:
    code, shown = run("jobs", "show", "7496e31a")
    assert code == 0 and f"job {FIRST}  reindex  queued" in shown, shown
    code, cancelled = run("jobs", "cancel", "7496e31b")
    assert code == 0 and f"job {SECOND} was cancelled" in cancelled, cancelled
    code, paused = run("jobs", "pause", "7496e31a")
    assert code == 0 and f"job {FIRST} is paused" in paused, paused


def test_ambiguous_short_and_unknown_prefixes_are_refused_by_name(catalog: None) -> None:
    code, output = run("jobs", "show", "7496e31")
    assert code == 2 and "'7496e31' is ambiguous" in output, output
    assert FIRST in " ".join(output.split()) or FIRST[:30] in output
    code, output = run("jobs", "pause", "749")
    assert code == 2 and "no job '749' (a prefix needs 4+ characters)" in output, output
    code, output = run("jobs", "resume", "ffff0")
    assert code == 2 and "no job 'ffff0'; see `skynet jobs list`" in output, output
    code, listed = run("jobs", "list")
    assert listed.count("queued") == 2  # nothing was changed by a refused command


def test_index_versions_shows_the_version_that_switch_and_retire_take(catalog: None) -> None:
    code, listed = run("index", "versions")
    assert code == 0 and VERSION in listed and "…" not in listed, listed
    assert fits_80_columns(listed), listed
    code, output = run("index", "retire", VERSION)
    assert "no such" not in output and VERSION in output, output  # the printed name is taken


def test_index_versions_shows_a_full_length_version_and_its_fields(
    catalog: None, tmp_path: Path
) -> None:
    """The default embedder's version is 67 characters: as a table's handle column it left the
    state, detector, embedder and dates no room at 80 columns (first-user check)."""
    with catalog_sessions(Settings())() as session:
        add_index_version(session, LONG_VERSION, "nanodet-int8@448x256", "mobilenetv2-embedder", 64)
        session.commit()
    code, listed = run("index", "versions")
    assert code == 0 and LONG_VERSION in listed.splitlines(), listed
    assert "building · detector nanodet-int8@448x256 · embedder mobilenetv2-embedder" in listed
    assert "…" not in listed and fits_80_columns(listed), listed


def test_api_key_list_shows_whole_names_that_revoke_takes(catalog: None) -> None:
    code, listed = run("api-key", "list")
    name = "night-shift-control-room-dashboard"
    assert code == 0 and name in listed and "…" not in listed, listed
    assert fits_80_columns(listed), listed
    code, revoked = run("api-key", "revoke", name)
    assert code == 0 and f"revoked 1 key(s) named '{name}'" in revoked, revoked


def test_api_key_list_folds_no_role_camera_or_date_at_80_columns(catalog: None) -> None:
    """First-user check: seven columns left each a few characters at 80 columns, so the list
    read "investigato|r", "gate-|north-…" and "2026-|12-06" folded mid-word."""
    with catalog_sessions(Settings())() as session:
        camera = CameraSpec("gate-north-entrance-1", "North gate", "rtsp://10.0.0.9/main")
        upsert_camera(session, camera)
        expires = datetime.now(UTC) + timedelta(days=30)
        create_api_key(session, "yard-desk", "investigator", [camera.id], expires)
        session.commit()
    code, listed = run("api-key", "list")
    assert code == 0 and fits_80_columns(listed) and "…" not in listed, listed
    words = listed.split()
    names = ("night-shift-control-room-dashboard", "yard-desk", "gate-north-entrance-1")
    for whole in (*names, "investigator", "viewer", "expires", f"{expires:%Y-%m-%d}"):
        assert whole in words, listed
    assert words.count("created") == 2 and words.count("cameras") == 2, listed  # 1 + header
