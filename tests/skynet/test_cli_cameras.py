"""`skynet camera` commands on a real SQLite catalog: analysis settings (tiles, heading)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.catalog import get_camera
from index.catalog.engine import init_catalog, session_factory
from skynet.cli import app


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    return tmp_path


def stored_tiles_and_heading(data_dir: Path, camera_id: str) -> tuple[str, float | None]:
    with session_factory(init_catalog(f"sqlite:///{data_dir / 'catalog.db'}"))() as session:
        spec = get_camera(session, camera_id)
    assert spec is not None
    return spec.tiles, spec.heading_deg


def test_camera_add_set_and_list_carry_tiles_and_heading(data_dir: Path) -> None:
    runner = CliRunner()
    add = ["camera", "add", "gate", "--main", "rtsp://u:pw@10.0.0.5/main"]
    added = runner.invoke(app, [*add, "--tiles", "2x2", "--heading", "90"])
    assert added.exit_code == 0, added.output
    assert stored_tiles_and_heading(data_dir, "gate") == ("2x2", 90.0)

    changed = runner.invoke(app, ["camera", "set", "gate", "--tiles", "3x1"])
    assert changed.exit_code == 0, changed.output
    assert stored_tiles_and_heading(data_dir, "gate") == ("3x1", 90.0)
    listed = runner.invoke(app, ["camera", "list"])
    assert listed.exit_code == 0 and "3x1" in listed.output and "pw" not in listed.output

    for bad in (["set", "gate", "--tiles", "9x9"], ["set", "gate", "--heading", "360"],
                ["set", "gate"], [*add[1:], "--tiles", "2by2"]):  # fmt: skip
        refused = runner.invoke(app, ["camera", *bad])
        assert refused.exit_code == 2, (bad, refused.output)
    assert stored_tiles_and_heading(data_dir, "gate") == ("3x1", 90.0)
