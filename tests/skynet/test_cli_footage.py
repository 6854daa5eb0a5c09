"""`skynet footage add|list` (#15): into this host's catalog, and to a real API server over
HTTP; an interrupted upload resumes with its missing parts; a bad file is reported, the next
one goes on."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from rich.console import Console
from typer.testing import CliRunner

from index.catalog import create_api_key, segments_between
from index.footage_ingest import FootagePolicy
from search_api.app import create_app
from search_api.limits import ApiLimits
from skynet import cli_footage
from skynet.cli import app as cli
from skynet.cli_catalog import catalog_sessions
from skynet.settings import Settings
from storage.objectstore import sha256_of_file
from tests.api_support import empty_context
from tests.footage_support import clip

PART_BYTES = 64 * 1024
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SKYNET_FOOTAGE_PART_BYTES", str(PART_BYTES))
    return Settings()


def test_footage_add_stores_good_files_reports_bad_ones_and_lists_them(
    local: Settings, tmp_path: Path
) -> None:
    good = clip("mov", "h264", seconds=6.0, creation_time="2026-11-27T09:30:00Z")
    bad = tmp_path / "notes.mp4"
    bad.write_bytes(b"not a video\n" * 100)
    result = CliRunner().invoke(cli, ["footage", "add", str(good), str(bad), "--label", "Shop 7"])
    assert result.exit_code == 1, result.output  # one of the two failed
    assert "stored as camera shop-7" in result.output and "2026-11-27T09:30:00" in result.output
    assert "shop-7: 1 segment, 6" in result.output, result.output  # not "1 segments"
    assert "analysis job" in result.output
    assert "notes.mp4: refused: not a video file" in result.output
    # stdout is no terminal here: the result lines only, no progress bar drawn after them
    lines = result.output.splitlines()
    assert lines[0].startswith(good.name) and lines[-1].startswith("notes.mp4: refused"), lines
    assert not any(line.startswith(("hash ", "upload ", "cut ")) for line in lines), lines
    with catalog_sessions(local)() as session:
        assert len(segments_between(session, "shop-7", *ALL_TIME)) == 1  # 6 s, 10 s segments
    listed = CliRunner().invoke(cli, ["footage", "list"])
    assert listed.exit_code == 0 and "stored" in listed.output and "failed" in listed.output
    assert "1 segment " in listed.output and "1 segments" not in listed.output, listed.output

    file_camera = CliRunner().invoke(cli, ["camera", "add", "c1", "--main", f"file://{good}"])
    assert file_camera.exit_code == 2 and "skynet footage add" in file_camera.output
    missing = CliRunner().invoke(
        cli, ["footage", "add", str(tmp_path / "nope.mp4"), "--label", "x"]
    )
    assert missing.exit_code == 2


def test_one_start_for_several_files_is_refused_before_any_upload(local: Settings) -> None:
    """README's example gave two files one --start: the second overlapped the first, by
    definition, and was refused after its upload (first-user check)."""
    door, yard = clip("mp4", "h264", seconds=6.0), clip("mkv", "h264", seconds=6.0)
    args = ["footage", "add", str(door), str(yard), "--label", "Shop 7"]
    result = CliRunner().invoke(cli, [*args, "--start", "2026-11-27T09:30+08:00"])
    assert result.exit_code == 2 and "each file with its own --start" in result.output
    with catalog_sessions(local)() as session:
        assert segments_between(session, "shop-7", *ALL_TIME) == []
    listed = CliRunner().invoke(cli, ["footage", "list"])
    assert listed.exit_code == 0 and door.name not in listed.output, listed.output


def test_footage_list_shows_camera_start_and_error_whole_at_80_columns(
    local: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First-user check: the eight-column table cut the camera id that `reindex --camera` takes
    ("shop-7-…"), the file and the start time, and dropped ffmpeg's "[mov,mp4,… @ 0x…]" from
    an error as rich markup."""
    good = clip("mov", "h264", seconds=6.0, creation_time="2026-11-27T09:30:00Z")
    cut_short = local.data_dir / "phone-export.mp4"
    cut_short.write_bytes(clip("mp4", "h264", seconds=6.0).read_bytes()[:20_000])  # no moov
    for path, label in ((good, "Shop 7 yard entrance"), (cut_short, "Phone")):
        CliRunner().invoke(cli, ["footage", "add", str(path), "--label", label])
    monkeypatch.setattr(cli_footage, "console", Console(width=80))
    listed = CliRunner().invoke(cli, ["footage", "list"])
    assert listed.exit_code == 0, listed.output
    assert all(len(line) <= 80 for line in listed.output.splitlines()), listed.output
    assert "shop-7-yard-entrance" in listed.output and "2026-11-27" in listed.output
    assert "…" not in listed.output and "[mov,mp4" in listed.output, listed.output


def test_an_interrupted_local_upload_resumes(local: Settings) -> None:
    from skynet.cli_footage import local_target

    path = clip("ts", "h264", seconds=6.0)
    target = local_target(local)
    body = {"filename": path.name, "size": path.stat().st_size, "sha256": sha256_of_file(path)[0],
            "camera_label": "Bus 9", "start_time": "2026-11-26T07:00:00+00:00"}  # fmt: skip
    started = target.start(body)
    target.put_part(started["id"], 0, path.read_bytes()[:PART_BYTES])  # then the laptop slept
    result = CliRunner().invoke(
        cli, ["footage", "add", str(path), "--label", "Bus 9", "--start", "2026-11-26T07:00:00"]
    )
    assert result.exit_code == 0, result.output
    assert f"resuming upload {started['id']} (1/{started['part_count']} parts" in result.output
    assert "stored as camera bus-9" in result.output
    assert len(result.output.splitlines()) == 2, result.output  # no progress bar when piped


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real API server (uvicorn on a free port) and an operator key."""
    context = empty_context(tmp_path)
    context.footage_policy = FootagePolicy(work_dir=tmp_path / "work", part_bytes=PART_BYTES)
    context.limits = ApiLimits(max_upload_part_bytes=PART_BYTES)
    with context.sessions() as session:
        key = create_api_key(session, "ops", "operator")
        session.commit()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(context), host="127.0.0.1", port=port, log_level="error")
    api = uvicorn.Server(config)
    thread = threading.Thread(target=api.run, daemon=True)
    thread.start()
    while not api.started:
        assert thread.is_alive()
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{port}", key
    api.should_exit = True
    thread.join(10)


def test_footage_add_to_a_server_resumes_an_interrupted_upload(
    server: tuple[str, str], tmp_path: Path
) -> None:
    url, key = server
    path = clip("mkv", "h264", seconds=6.0)
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
        body = {"filename": path.name, "size": path.stat().st_size,
                "sha256": sha256_of_file(path)[0], "camera_label": "Kiosk 3",
                "start_time": "2026-11-25T18:00:00Z"}  # fmt: skip
        started = client.post("/api/v1/footage/uploads", json=body).json()
        part = path.read_bytes()[PART_BYTES : 2 * PART_BYTES]
        assert client.put(f"/api/v1/footage/uploads/{started['id']}/parts/1", content=part)
    args = ["footage", "add", str(path), "--label", "Kiosk 3", "--start", "2026-11-25T18:00:00Z",
            "--server", url, "--api-key", key]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"resuming upload {started['id']}" in result.output
    assert "stored as camera kiosk-3" in result.output
    listed = CliRunner().invoke(cli, ["footage", "list", "--server", url, "--api-key", key])
    assert listed.exit_code == 0 and "kiosk-3" in listed.output
    wrong = CliRunner().invoke(cli, [*args[:-1], "not-a-key"])
    assert wrong.exit_code == 1 and "the server refused --api-key" in wrong.output
    listing = CliRunner().invoke(cli, ["footage", "list", "--server", url, "--api-key", "nope"])
    assert listing.exit_code == 1 and "the server refused --api-key" in listing.output


@pytest.mark.parametrize("where", ["server", "local"])
def test_footage_add_refusals_name_the_options_typed(
    where: str, request: pytest.FixtureRequest
) -> None:
    """First-user check: refusals quoted the API's fields ("start_time", "body.lat") and, with
    --server, began "HTTP 422:"; they name the option the user typed."""
    if where == "server":
        url, key = request.getfixturevalue("server")
        target = ["--server", url, "--api-key", key]
    else:
        request.getfixturevalue("local")
        target = []
    path = clip("mp4", "h264", seconds=6.0)
    add = ["footage", "add", str(path), "--label", "Kiosk 4", *target]
    future = CliRunner().invoke(cli, [*add, "--start", "2099-01-01T00:00Z"])
    assert future.exit_code == 1, future.output
    assert "refused: --start 2099-01-01T00:00:00+00:00 puts the footage" in future.output
    assert "start_time" not in future.output and "HTTP" not in future.output, future.output
    if where == "server":  # the API's own validation of a field
        far = CliRunner().invoke(cli, [*add, "--lat", "95", "--lon", "10"])
        assert far.exit_code == 1 and "refused: --lat: Input should be" in far.output, far.output
        assert "body.lat" not in far.output and "HTTP" not in far.output, far.output
