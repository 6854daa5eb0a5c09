"""Vehicle re-ID benchmark (issue #16 part 5): the set's split, an evaluator that can fail, and
the vehicle calibration reaching search's confidence."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import numpy as np
import pytest

from bench.vehicle_reid import evaluate, figures, score
from bench.vehicle_reid_set import REAL_VEHICLES, VehicleSet, VehicleTrack, build
from detect.embedder import AppearanceEmbedder
from detect.reid_calibration import (
    Calibration,
    base_calibration,
    save_base_calibration,
)
from models.build import ensure_models
from models.registry import default_cache_dir
from search_api.context import ApiContext
from search_api.search_service import match_confidence


def test_split_shares_no_vehicle_and_no_cut_out() -> None:
    tune, test = build("tune", variants_per_shape=2), build("test", variants_per_shape=2)
    assert tune.identities and test.identities
    assert not tune.identities & test.identities
    assert tune.real == {"dog-pickup", "saloon"}
    assert test.real == {"vtest-van", "vtest-car", "bus"}
    shape = {v.name: v.shape for v in REAL_VEHICLES}
    shapes = [{shape.get(i, i.split("#")[0]) for i in s.identities} for s in (tune, test)]
    assert not shapes[0] & shapes[1]
    for vset in (tune, test):
        for identity in vset.identities:
            cameras = {t.camera for t in vset.tracks if t.identity == identity}
            assert len(cameras) >= 2, identity
        for track in vset.tracks:
            assert all(c.ndim == 3 and min(c.shape[:2]) >= 8 for c in track.crops)
    with pytest.raises(ValueError, match="split"):
        build("train")


def toy(split: str, identities: int = 4) -> VehicleSet:
    """Identity k's crops are filled with grey level 40·(k+1) in every camera."""
    tracks = tuple(
        VehicleTrack(
            f"{split}{k}", camera, "car", (np.full((16, 24, 3), 40 * (k + 1), np.uint8),) * 2
        )
        for k in range(identities)
        for camera in ("a", "b")
    )
    return VehicleSet(split, tracks, frozenset({f"{split}0"}))


def by_grey(crops: list[np.ndarray], names: list[str]) -> np.ndarray:
    rows = np.zeros((len(crops), 8), np.float32)
    rows[np.arange(len(crops)), [int(c[0, 0, 0]) // 40 - 1 for c in crops]] = 1.0
    return rows


def blind(crops: list[np.ndarray], names: list[str]) -> np.ndarray:
    return np.ones((len(crops), 8), np.float32) / np.sqrt(8)


def test_evaluator_scores_a_separable_set_perfectly_and_a_blind_one_badly() -> None:
    tune, test = toy("tune"), toy("test")
    results, calibration = evaluate(tune, test, {"toy": by_grey}, {"toy": None})
    assert results["vehicle_test_rank1"] == 1.0 and results["vehicle_test_map"] == 1.0
    assert results["vehicle_tune_rank1_track_query"] == 1.0
    assert results["vehicle_test_queries"] == 16 and results["vehicle_test_vehicles"] == 4
    assert results["vehicle_test_rank1_real_only"] == 1.0
    assert results["vehicle_test_vehicles_real_only"] == 1
    assert isinstance(calibration, Calibration)
    vectors = [blind(list(t.crops), ["car"] * 2) for t in test.tracks]
    blinded = figures(score(test, vectors, track_query=False))
    assert blinded["rank1"] == 0.0 and float(blinded["map"]) < 1.0  # type: ignore[arg-type]
    results, _ = evaluate(
        tune, test, {"blind": blind, "toy": by_grey}, {"blind": None, "toy": None}
    )
    assert results["vehicle_chosen_on_tune"] == "toy"


def test_vehicle_calibration_is_saved_beside_the_persons_and_used_for_vehicle_hits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reid_calibration.json"
    person = Calibration((0.3, 0.8), (0.0, 1.0))
    vehicle = Calibration((0.5, 0.9), (0.1, 0.9))
    save_base_calibration("v3", person, path)
    save_base_calibration("v3", vehicle, path, vehicles=True)
    assert base_calibration("v3", path) == person
    assert base_calibration("v3", path, vehicles=True) == vehicle

    name = "mobilenetv2-embedder"
    embedder = AppearanceEmbedder(ensure_models(default_cache_dir().resolve(), [name])[name])
    shipped = base_calibration(embedder.base_embedding_version, vehicles=True)
    assert shipped is not None and embedder.calibration_for("car") == shipped
    assert embedder.calibration_for("person") == embedder.calibration
    assert embedder.calibration_for("dog") is None
    context = cast(ApiContext, SimpleNamespace(embedder=embedder))
    high, low = match_confidence(context, "truck", 0.95), match_confidence(context, "car", 0.2)
    assert high is not None and low is not None and high > low
    assert match_confidence(context, "dog", 0.95) is None
