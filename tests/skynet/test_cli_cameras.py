"""`skynet camera` commands on a real SQLite catalog: analysis settings (tiles, heading) and
position (lat/lon, which hop search needs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.catalog import get_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.values import CameraSpec
from skynet.cli import app


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    return tmp_path


def stored_camera(data_dir: Path, camera_id: str) -> CameraSpec:
    with session_factory(init_catalog(f"sqlite:///{data_dir / 'catalog.db'}"))() as session:
        spec = get_camera(session, camera_id)
    assert spec is not None
    return spec


def stored_tiles_and_heading(data_dir: Path, camera_id: str) -> tuple[str, float | None]:
    spec = stored_camera(data_dir, camera_id)
    return spec.tiles, spec.heading_deg


def stored_position(data_dir: Path, camera_id: str) -> tuple[float | None, ...]:
    """(lat, lon, heading_deg) as stored."""
    spec = stored_camera(data_dir, camera_id)
    return spec.lat, spec.lon, spec.heading_deg


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


def test_camera_add_and_set_take_a_validated_position(data_dir: Path) -> None:
    runner = CliRunner()
    add = ["camera", "add", "crossing", "--main", "rtsp://10.0.0.6/main"]
    added = runner.invoke(app, [*add, "--lat", "51.5072", "--lon", "-0.1276", "--heading", "45"])
    assert added.exit_code == 0, added.output
    assert stored_position(data_dir, "crossing") == (51.5072, -0.1276, 45.0)
    listed = runner.invoke(app, ["camera", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "51.5072,-0.1276" in listed.output

    moved = runner.invoke(app, ["camera", "set", "crossing", "--lat", "51.5", "--lon", "-0.12"])
    assert moved.exit_code == 0, moved.output
    nudged = runner.invoke(app, ["camera", "set", "crossing", "--lat", "51.6"])  # lon is stored
    assert nudged.exit_code == 0, nudged.output
    assert stored_position(data_dir, "crossing") == (51.6, -0.12, 45.0)

    refusals = {
        "needs --lat and --lon together": [*add[1:], "--lat", "51.5"],
        "latitude 91.0 not in [-90, 90]": ["set", "crossing", "--lat", "91"],
        "longitude -180.5 not in [-180, 180]": [*add[1:], "--lat", "0", "--lon", "-180.5"],
        "longitude nan": ["set", "crossing", "--lon", "nan"],
        "heading_deg 360.0 not in [0, 360)": [*add[1:], "--heading", "360"],
        "nothing to change: give --lat/--lon": ["set", "crossing"],
    }
    for message, args in refusals.items():
        refused = runner.invoke(app, ["camera", *args], env={"COLUMNS": "200"})
        assert refused.exit_code == 2 and message in refused.output, (args, refused.output)
    assert stored_position(data_dir, "crossing") == (51.6, -0.12, 45.0)
    bare = runner.invoke(app, ["camera", "add", "plain", "--main", "rtsp://10.0.0.7/main"])
    assert bare.exit_code == 0 and stored_position(data_dir, "plain") == (None, None, None)
