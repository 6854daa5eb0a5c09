"""`skynet demo --port N` (`make demo ARGS="--port 8000"`) on a taken port refuses at once as
`skynet serve` does (first-user check: it built the footage, started the RTSP server and
cameras, then died with a traceback when the API could not listen)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skynet.cli import app


def test_demo_refuses_a_taken_port_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SKYNET_DATA_DIR", str(data_dir))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["demo", "--port", str(port)], terminal_width=200)
    assert result.exit_code == 2, result.output
    assert f"cannot start: 127.0.0.1:{port} is in use" in result.output, result.output
    assert "--port 0" in result.output and result.exception is not None  # Exit, no traceback
    assert isinstance(result.exception, SystemExit)
    assert not data_dir.exists()  # no catalog, footage or recordings made
