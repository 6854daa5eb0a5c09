"""`skynet serve` refuses a re-ID metric of another vector space at start-up (issue #16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from detect.reid_metric import ReidMetric
from models.registry import default_cache_dir
from skynet.cli import app

pytestmark = pytest.mark.slow  # each builds the runtime (catalog, detector) before refusing


def test_serve_refuses_a_metric_learned_on_other_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = ReidMetric(
        base_version="some-other-embedder-v1",
        base_dim=512,
        mean=np.zeros(512, np.float32),
        projection=np.eye(512, 32, dtype=np.float32),
    ).save(tmp_path / "models")
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SKYNET_MODELS_DIR", str(default_cache_dir()))
    monkeypatch.setenv("SKYNET_REID_METRIC_PATH", str(foreign))
    result = CliRunner().invoke(app, ["serve"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "cannot start" in result.output
    assert "learned on 'some-other-embedder-v1' (512 floats)" in result.output
    assert "1472 floats" in result.output


def test_serve_refuses_a_missing_metric_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYNET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SKYNET_MODELS_DIR", str(default_cache_dir()))
    monkeypatch.setenv("SKYNET_REID_METRIC_PATH", str(tmp_path / "reid_metric-gone.npz"))
    result = CliRunner().invoke(app, ["serve"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "cannot read re-ID metric" in result.output
