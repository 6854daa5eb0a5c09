"""`skynet serve` on a taken API port (first-user check: a second serve on one machine): a
clear refusal before the catalog is opened or any camera ingested, instead of ingesting every
camera a second time and then failing with a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from skynet.cli import app, port_in_use
from tests.ports import taken_port


def test_serve_refuses_a_taken_port_before_opening_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SKYNET_DATA_DIR", str(data_dir))
    with taken_port() as port:
        monkeypatch.setenv("SKYNET_API_PORT", str(port))
        assert port_in_use("127.0.0.1", port)
        result = CliRunner().invoke(app, ["serve"], terminal_width=200)
    assert result.exit_code == 2, result.output
    assert f"127.0.0.1:{port} is in use" in result.output and "SKYNET_API_PORT" in result.output
    assert not data_dir.exists()  # no catalog made, no camera opened
    assert not port_in_use("127.0.0.1", port)  # closed: free again
