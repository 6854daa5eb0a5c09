"""`skynet reid learn` (issue #16): views cut from real recordings of catalog tracks, the metric
file it writes, the embedder loading it, and the refusals."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detect.embedder import AppearanceEmbedder
from detect.reid_metric import MetricError, load_metric
from index.catalog import add_tracks
from index.catalog.values import NewTrack
from index.reid_learning import LearningSource, catalog_track_views
from models.registry import default_cache_dir, model_path
from skynet.cli import app
from skynet.settings import Settings
from tests.footage_support import VTEST, clip
from tests.index.reindex_support import FOOTAGE_START, Archive, archive_with, record_segments

LABELS = Path(__file__).resolve().parents[2] / "bench" / "data" / "vtest_reid_split.json"
SECONDS = 20
FPS = 10

pytestmark = pytest.mark.slow


def labelled_tracks(camera_id: str) -> list[NewTrack]:
    """The real tracker's person tracks of vtest's first 20 s (bench labels), as catalog rows
    with their trajectories in the analysed frame's pixels (768×576)."""
    doc = json.loads(LABELS.read_text())
    tracks = []
    for track_id, rows in doc["tracks"].items():
        rows = [r for r in rows if r[0] < SECONDS * FPS]
        if len(rows) < 4:
            continue
        first = rows[0][0]
        start = FOOTAGE_START + timedelta(seconds=first / FPS)
        tracks.append(
            NewTrack(
                camera_id=camera_id,
                local_track_id=int(track_id),
                class_name="person",
                confidence=0.8,
                start_at=start,
                end_at=FOOTAGE_START + timedelta(seconds=rows[-1][0] / FPS + 0.1),
                best_shot_at=start,
                best_bbox_xyxy_px=(rows[0][1], rows[0][2], rows[0][3], rows[0][4]),
                trajectory=[[(r[0] - first) / FPS, *map(float, r[1:])] for r in rows],
                frame_size_px=(768, 576),
            )
        )
    return tracks


def labelled_crops() -> list[np.ndarray]:
    """Every labelled box of the first 20 s cut from vtest as OpenCV decodes it."""
    doc = json.loads(LABELS.read_text())
    capture = cv2.VideoCapture(str(VTEST))
    frames = [capture.read()[1] for _ in range(SECONDS * FPS)]
    return [
        frames[f][max(0, y1) : y2, max(0, x1) : x2]
        for rows in doc["tracks"].values()
        for f, x1, y1, x2, y2 in rows
        if f < SECONDS * FPS and x2 - x1 >= 16 and y2 - y1 >= 32
    ]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    root = tmp_path_factory.mktemp("reid-archive")
    source = clip("mp4", "h264", seconds=SECONDS, width=768)
    recorded = record_segments(source, root / "spool", "cam-a", SECONDS, 10.0)
    built = archive_with(root, {"cam-a": recorded})
    with built.sessions() as session:
        add_tracks(session, labelled_tracks("cam-a"))
        session.commit()
    return built


@pytest.fixture(scope="module")
def embedder() -> AppearanceEmbedder:
    return AppearanceEmbedder(model_path("mobilenetv2-embedder", default_cache_dir()))


def test_views_are_cut_from_the_recordings_at_the_tracks_boxes(
    archive: Archive, embedder: AppearanceEmbedder
) -> None:
    source = LearningSource(FOOTAGE_START, FOOTAGE_START + timedelta(seconds=SECONDS), max_views=6)
    steps: list[tuple[int, int]] = []
    views = catalog_track_views(
        archive.sessions,
        archive.store,
        lambda crops: embedder.embed_base(crops, ["person"] * len(crops)),
        source,
        lambda done, total: steps.append((done, total)),
    )
    assert steps[-1] == (len(archive.segments), len(archive.segments))
    assert len(views) >= 8
    assert all(2 <= len(v.vectors) <= 6 and v.vectors.shape[1] == 1472 for v in views)
    # each view is the labelled box at its time: it embeds like that box cut from the source
    crops = labelled_crops()
    direct = embedder.embed_base(crops, ["person"] * len(crops))
    for track in views:
        assert np.all((track.vectors @ direct.T).max(axis=1) > 0.95)


def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, archive: Archive, *args: str):
    monkeypatch.setenv("SKYNET_DATA_DIR", str(archive.root))
    monkeypatch.setenv("SKYNET_MODELS_DIR", str(default_cache_dir()))
    return CliRunner().invoke(app, ["reid", "learn", *args], env={"COLUMNS": "200"})


def test_cli_learns_a_metric_the_embedder_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, archive: Archive
) -> None:
    start = FOOTAGE_START.isoformat()
    end = (FOOTAGE_START + timedelta(seconds=SECONDS)).isoformat()
    result = cli(tmp_path, monkeypatch, archive, "--from", start, "--to", end,
                 "--out", str(tmp_path), "--pca-dim", "16")  # fmt: skip
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("reid_metric-*.npz")
    metric = load_metric(path)
    assert metric.counts.tracks >= 8 and metric.learned_from["from"] == start
    assert metric.embedding_version() in result.output
    settings = Settings(models_dir=default_cache_dir(), reid_metric_path=path)
    embedder = AppearanceEmbedder.from_settings(settings)
    assert embedder.embedding_version == metric.embedding_version()
    assert embedder.dim == metric.dim
    crop = np.full((128, 64, 3), 90, np.uint8)
    base = AppearanceEmbedder(model_path("mobilenetv2-embedder", default_cache_dir()))
    np.testing.assert_allclose(
        embedder.embed([crop], ["person"]),
        metric.project(base.embed([crop], ["person"])),
        atol=1e-5,
    )
    # a re-index job names the metric's version as "<trunk>+reid:<metric id>"
    (tmp_path / "mobilenetv2-embedder.onnx").symlink_to(
        model_path("mobilenetv2-embedder", default_cache_dir()).resolve()
    )
    named = AppearanceEmbedder.from_name(f"mobilenetv2-embedder{embedder.name_suffix}", tmp_path)
    assert named.embedding_version == metric.embedding_version()
    with pytest.raises(MetricError, match="cannot read"):
        AppearanceEmbedder.from_name("mobilenetv2-embedder+reid:0123456789ab", tmp_path)
    with pytest.raises(ValueError, match="hex digits"):
        AppearanceEmbedder.from_name("mobilenetv2-embedder+reid:../x", tmp_path)
    other = Settings(
        models_dir=default_cache_dir(),
        embedder_model="mobilenetv2-embedder-int8",
        reid_metric_path=path,
    )
    with pytest.raises(MetricError, match="was learned on"):
        AppearanceEmbedder.from_settings(other)  # another trunk's vectors: refused at start-up


def test_cli_refuses_too_few_tracks_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, archive: Archive
) -> None:
    start = (FOOTAGE_START + timedelta(hours=1)).isoformat()
    end = (FOOTAGE_START + timedelta(hours=2)).isoformat()
    result = cli(tmp_path, monkeypatch, archive, "--from", start, "--to", end,
                 "--out", str(tmp_path))  # fmt: skip
    assert result.exit_code == 1
    assert "not learned: 0 tracks" in result.output
    assert "current metric stays" in result.output
    assert not list(tmp_path.glob("reid_metric-*"))
