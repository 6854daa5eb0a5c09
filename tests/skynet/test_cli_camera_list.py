"""`skynet camera list` shows a camera's position with every digit it has: 121.4703 is not
121.47 (about 30 m off), which an operator placing cameras for hop search would copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from skynet.cli import app


def test_camera_list_shows_the_stored_position_digit_for_digit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    add = ["camera", "add", "gate", "--main", "rtsp://10.0.0.5/main"]
    added = runner.invoke(app, [*add, "--lat", "31.2302", "--lon", "121.4703"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["camera", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "31.2302,121.4703" in listed.output, listed.output
