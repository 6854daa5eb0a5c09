"""`skynet demo --port N` (`make demo ARGS="--port 8000"`) on a taken port refuses at once as
`skynet serve` does (first-user check: it built the footage, started the RTSP server and
cameras, then died with a traceback when the API could not listen); a port taken after that
check ends the demo with a clear error and a tidy catalog."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from index.catalog import api_key_named, init_catalog, list_cameras, session_factory
from skynet.cli import app
from skynet.demo import DEMO_KEY_NAME, DemoError, DemoOptions, run_demo
from skynet.settings import Settings
from tests.ports import taken_port
from tests.processes import children, running


def test_demo_refuses_a_taken_port_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SKYNET_DATA_DIR", str(data_dir))
    with taken_port() as port:
        result = CliRunner().invoke(app, ["demo", "--port", str(port)], terminal_width=200)
    assert result.exit_code == 2, result.output
    assert f"cannot start: 127.0.0.1:{port} is in use" in result.output, result.output
    assert "--port 0" in result.output and result.exception is not None  # Exit, no traceback
    assert isinstance(result.exception, SystemExit)
    assert not data_dir.exists()  # no catalog, footage or recordings made


def test_a_port_taken_after_the_check_ends_the_demo_cleanly(tmp_path: Path) -> None:
    # free when the demo began (or when --port 0 chose it), taken by the time the API listens:
    # a DemoError naming the address (the CLI prints it, exit 2), not a traceback, and the
    # demo's way out still runs — its key revoked, its cameras paused, its RTSP server stopped
    settings = Settings(data_dir=tmp_path / "data")
    before = children(os.getpid())  # the suite's own servers
    with taken_port() as port:
        settings = settings.model_copy(update={"api_port": port})
        with pytest.raises(DemoError, match=f"could not listen on 127.0.0.1:{settings.api_port}"):
            run_demo(settings, DemoOptions(cameras=1, ingest_s=10.0), Console(file=io.StringIO()))
    with session_factory(init_catalog(settings.catalog_url))() as session:
        assert api_key_named(session, DEMO_KEY_NAME) is None
        assert [(c.id, c.enabled) for c in list_cameras(session)] == [("cam1", False)]
    left = [pid for pid in children(os.getpid()) if pid not in before and running(pid)]
    assert not left  # the demo's RTSP server and its ffmpeg feeders are gone
