"""Learned re-ID metric (issue #16): learning from unlabelled tracks, refusals, the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detect.reid_calibration import Calibration, fit_calibration, reliability
from detect.reid_metric import (
    MetricError,
    ReidMetric,
    TooFewTracks,
    TrackViews,
    learn_metric,
    load_metric,
)

DIM = 48
IDENTITY_DIMS = 6


def synthetic_tracks(
    rng: np.random.Generator, count: int, first_s: float = 0.0, views: int = 8
) -> list[TrackViews]:
    """Tracks whose identity lives in a few dimensions while pose and light (changing from
    view to view) dominate the others; tracks come four at a time on one camera."""
    tracks = []
    for n in range(count):
        identity = np.zeros(DIM)
        identity[:IDENTITY_DIMS] = rng.normal(0.0, 1.0, IDENTITY_DIMS)
        nuisance = rng.normal(0.0, 1.0, (views, DIM))
        nuisance[:, :IDENTITY_DIMS] *= 0.15
        rows = identity + nuisance
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        start = first_s + 10.0 * (n // 4)
        tracks.append(TrackViews("cam-1", start, start + 8.0, rows.astype(np.float32)))
    return tracks


def rank1(vectors_of: list[np.ndarray]) -> float:
    """Each track's first view as a query against the other views' means of every track."""
    galleries = np.stack([v[1:].mean(axis=0) for v in vectors_of])
    galleries /= np.linalg.norm(galleries, axis=1, keepdims=True)
    queries = np.stack([v[0] for v in vectors_of])
    return float(np.mean(np.argmax(queries @ galleries.T, axis=1) == np.arange(len(queries))))


@pytest.mark.parametrize(("contrast", "shrinkage"), [(True, 1e-3), (False, 1.0)])
def test_learning_from_unlabelled_tracks_raises_rank1_on_new_people(
    contrast: bool, shrinkage: float
) -> None:
    """KISSME and within-track whitening both learn to ignore what changes within a track."""
    rng = np.random.default_rng(3)
    metric = learn_metric(
        synthetic_tracks(rng, 60), "base-v3", DIM, shrinkage=shrinkage, contrast=contrast
    )
    unseen = synthetic_tracks(rng, 40, first_s=1000.0)
    before = rank1([t.vectors for t in unseen])
    after = rank1([metric.project(t.vectors) for t in unseen])
    assert metric.counts.tracks == 60
    assert metric.counts.same_pairs == 60 * 28
    assert metric.counts.different_pairs == 15 * 6 * 16  # 4 co-occurring tracks, 16 views each
    assert after >= before + 0.2, (before, after)
    projected = metric.project(unseen[0].vectors)
    assert projected.shape == (8, metric.dim)
    np.testing.assert_allclose(np.linalg.norm(projected, axis=1), 1.0, rtol=1e-5)


def test_too_few_tracks_are_refused_with_the_reason() -> None:
    rng = np.random.default_rng(4)
    with pytest.raises(TooFewTracks, match="at least 8"):
        learn_metric(synthetic_tracks(rng, 5), "base-v3")
    apart = [
        TrackViews("cam-1", 20.0 * n, 20.0 * n + 5, t.vectors)
        for n, t in enumerate(synthetic_tracks(rng, 12))
    ]
    with pytest.raises(TooFewTracks, match="0 co-occurring-track pairs"):
        learn_metric(apart, "base-v3")  # no two tracks overlap: no different pairs


def test_metric_file_round_trip_and_mismatch(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    metric = learn_metric(synthetic_tracks(rng, 20), "base-v3", pca_dim=8)
    calibrated = metric.with_base_share(0.5).with_calibration(
        Calibration((0.1, 0.5, 0.9), (0.0, 0.4, 1.0), 0.5, "synthetic")
    )
    path = calibrated.save(tmp_path)
    assert path.name == f"reid_metric-{calibrated.metric_id}.npz"
    assert path.with_suffix(".json").is_file()
    loaded = load_metric(path)
    assert loaded.embedding_version() == calibrated.embedding_version()
    assert loaded.calibration == calibrated.calibration
    assert loaded.dim == DIM + metric.projection.shape[1]
    vectors = synthetic_tracks(rng, 1)[0].vectors
    np.testing.assert_allclose(loaded.project(vectors), calibrated.project(vectors), atol=1e-6)
    with pytest.raises(MetricError, match="learned on 'base-v3'"):
        loaded.check_base("base-v2", DIM)
    with pytest.raises(MetricError, match="48 floats"):
        loaded.check_base("base-v3", 1472)
    with pytest.raises(MetricError, match="expected N×48"):
        loaded.project(np.ones((2, 12), np.float32))


def test_damaged_metric_files_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    path = learn_metric(synthetic_tracks(rng, 12), "base-v3", pca_dim=8).save(tmp_path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["projection"] = arrays["projection"] * 2  # contents no longer match the id
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **arrays)
    with pytest.raises(MetricError, match="do not match its metric id"):
        load_metric(tampered)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a metric")
    with pytest.raises(MetricError, match="cannot read"):
        load_metric(garbage)


def test_calibration_is_monotone_and_reliable_on_its_own_kind_of_data() -> None:
    rng = np.random.default_rng(7)
    scores = rng.uniform(0.0, 1.0, 4000)
    same = rng.uniform(0.0, 1.0, 4000) < scores**2  # P(same) = score²
    calibration = fit_calibration(scores[:2000], same[:2000], "synthetic")
    confidence = calibration.confidence(np.linspace(0, 1, 50))
    assert np.all(np.diff(confidence) >= 0)
    assert abs(float(calibration.confidence(np.array([0.7]))[0]) - 0.49) < 0.1
    for row in reliability(calibration, scores[2000:], same[2000:]):
        assert abs(row["mean_confidence"] - row["same_share"]) < 0.1, row
    assert calibration.is_good(0.9) and not calibration.is_good(0.3)
    assert Calibration.from_json(calibration.to_json()).threshold == calibration.threshold


def test_metric_refuses_a_bad_base_share() -> None:
    with pytest.raises(MetricError, match="base_share"):
        ReidMetric("v", 4, np.zeros(4, np.float32), np.eye(4, dtype=np.float32), base_share=1.0)
