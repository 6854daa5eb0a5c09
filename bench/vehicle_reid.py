"""Vehicle appearance search on a held-out split (issue #16 part 5) → `vehicle_*` keys of
bench/results/search_quality.json (the person keys are left as they are).

The set is `bench.vehicle_reid_set` (real vehicles labelled by eye, synthetic ones by
construction; tune and test share no identity and no source cut-out). Search as the product does:
every crop through `AppearanceEmbedder` (class name passed, as indexing does); a gallery entry is
a track of another camera (its views' unit vectors averaged, as a finished track's embedding);
a query is one crop (a picture search) or the query track's averaged vector (a track search);
every track of the query's vehicle in other cameras is relevant. Chosen on tune only: whether
the learned person metric (bench/results/reid_metric-*.npz) is applied to vehicles, per query
kind (the simplest setting within `MIN_GAIN` mAP of the best), and whether vehicles get their own
score → confidence mapping (person mapping vs a vehicle one fitted leaving each tune vehicle out,
by Brier score). 95 % bootstrap intervals over vehicles (1000 resamples); the real-only subset
(its queries ranked against the whole split gallery) is reported apart.

    flock /tmp/skynet-bench.lock .venv/bin/python -m bench.vehicle_reid
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.reid_split import Scored, pairs_of, summarise
from bench.search_quality import RESULTS_PATH
from bench.vehicle_reid_set import VehicleSet, build
from detect.embedder import AppearanceEmbedder
from detect.reid_calibration import (
    Calibration,
    fit_calibration,
    reliability,
    save_base_calibration,
)
from detect.reid_metric import load_metric
from models.registry import default_cache_dir, model_path

METRIC_PATH = Path(__file__).resolve().parent / "results" / "reid_metric-003008dfb27d.npz"
MIN_GAIN = 0.01
Embed = Callable[[list[np.ndarray], list[str]], np.ndarray]


def camera_key(track_camera: str, identity: str) -> str:
    """A real vehicle's own photo is a camera of its own."""
    return f"own:{identity}" if track_camera == "own" else track_camera


def score(vset: VehicleSet, vectors: list[np.ndarray], track_query: bool) -> list[Scored]:
    """One part per query track: its crops (or their mean) against other cameras' tracks."""
    names = sorted(vset.identities)
    means = np.stack([v.mean(axis=0) for v in vectors])
    galleries = means / np.linalg.norm(means, axis=1, keepdims=True)
    identity = np.array([names.index(t.identity) for t in vset.tracks])
    cameras = [camera_key(t.camera, t.identity) for t in vset.tracks]
    parts = []
    for q in range(len(vset.tracks)):
        others = np.array([c != cameras[q] for c in cameras])
        queries = galleries[q : q + 1] if track_query else vectors[q]
        person = np.full(len(queries), identity[q])
        parts.append(
            Scored(
                queries @ galleries[others].T,
                person[:, None] == identity[others][None, :],
                person,
                np.zeros((int(others.sum()), 0)),
            )
        )
    return parts


def real_only(vset: VehicleSet, parts: list[Scored]) -> list[Scored]:
    return [p for p, t in zip(parts, vset.tracks, strict=True) if t.identity in vset.real]


def figures(parts: list[Scored]) -> dict[str, object]:
    out = summarise(parts)
    out.pop("persons")
    out.pop("galleries")
    out["vehicles"] = len(np.unique(np.concatenate([p.query_person for p in parts])))
    return out


def map_of(parts: list[Scored]) -> float:
    return float(summarise(parts)["map"])  # type: ignore[arg-type]


def brier(calibration: Calibration, scores: np.ndarray, same: np.ndarray) -> float:
    return float(np.mean((calibration.confidence(scores) - same) ** 2))


def held_out_brier(parts: list[Scored], person_calibration: Calibration | None) -> dict[str, float]:
    """Brier score on tune pairs: the person mapping, and a vehicle mapping fitted with each
    query vehicle left out and scored on that vehicle's pairs."""
    people = np.concatenate([np.full(p.scores.size, p.query_person[0]) for p in parts])
    scores, same = pairs_of(parts)
    predicted = np.zeros(len(scores))
    for who in np.unique(people):
        inside = people == who
        fitted = fit_calibration(scores[~inside], same[~inside], "leave one vehicle out")
        predicted[inside] = fitted.confidence(scores[inside])
    out = {"vehicle_mapping": round(float(np.mean((predicted - same) ** 2)), 4)}
    if person_calibration is not None:
        out["person_mapping"] = round(brier(person_calibration, scores, same), 4)
    return out


def evaluate(
    tune: VehicleSet,
    test: VehicleSet,
    settings: dict[str, Embed],
    person_calibrations: dict[str, Calibration | None],
) -> tuple[dict[str, object], Calibration | None]:
    """Every figure of the vehicle benchmark, and the vehicle mapping of the setting chosen for
    picture queries if tune chose one over the person mapping; `settings` are named embedders,
    the first the simplest (the candidates' order is their cost)."""

    def vectors(vset: VehicleSet, embed: Embed) -> list[np.ndarray]:
        return [embed(list(t.crops), [t.class_name] * len(t.crops)) for t in vset.tracks]

    embedded = {
        name: (vectors(tune, embed), vectors(test, embed)) for name, embed in settings.items()
    }
    results: dict[str, object] = {}
    tune_candidates = {}
    shipped: Calibration | None = None
    for kind, track_query in (("", False), ("_track_query", True)):
        tune_maps = {
            name: map_of(score(tune, tune_vectors, track_query))
            for name, (tune_vectors, _) in embedded.items()
        }
        tune_candidates.update({f"{n}{kind}": round(m, 4) for n, m in tune_maps.items()})
        best = max(tune_maps.values())
        chosen = next(n for n in settings if tune_maps[n] >= best - MIN_GAIN)
        tune_parts = score(tune, embedded[chosen][0], track_query)
        test_parts = score(test, embedded[chosen][1], track_query)
        for split, vset, parts in (("test", test, test_parts), ("tune", tune, tune_parts)):
            for key, value in figures(parts).items():
                results[f"vehicle_{split}_{key}{kind}"] = value
            for key, value in figures(real_only(vset, parts)).items():
                results[f"vehicle_{split}_{key}{kind}_real_only"] = value
        results[f"vehicle_chosen_on_tune{kind}"] = chosen
        if track_query:
            continue
        person = person_calibrations[chosen]
        briers = held_out_brier(tune_parts, person)
        vehicle = fit_calibration(*pairs_of(tune_parts), f"vehicle tune split, {chosen}")
        own = person is None or briers["vehicle_mapping"] < briers["person_mapping"]
        shipped = vehicle if own else None
        results.update(
            vehicle_tune_calibration_brier=briers,
            vehicle_own_calibration_chosen_on_tune=own,
            vehicle_test_reliability_vehicle_mapping=reliability(vehicle, *pairs_of(test_parts)),
            vehicle_test_brier_vehicle_mapping=round(brier(vehicle, *pairs_of(test_parts)), 4),
        )
        if person is not None:
            results.update(
                vehicle_test_reliability_person_mapping=reliability(person, *pairs_of(test_parts)),
                vehicle_test_brier_person_mapping=round(brier(person, *pairs_of(test_parts)), 4),
            )
    results["vehicle_tune_candidates"] = tune_candidates
    for split, vset in (("tune", tune), ("test", test)):
        results[f"vehicle_{split}_tracks"] = len(vset.tracks)
        results[f"vehicle_{split}_real"] = sorted(vset.real)
    return results, shipped


def main() -> None:
    tune, test = build("tune"), build("test")
    overlap = tune.identities & test.identities
    if overlap:
        raise RuntimeError(f"identities in both splits: {sorted(overlap)}")
    models_dir = default_cache_dir().resolve()
    embedder = AppearanceEmbedder(model_path("mobilenetv2-embedder", models_dir))
    metric = load_metric(METRIC_PATH)
    metric.check_base(embedder.base_embedding_version, embedder.base_dim)
    settings: dict[str, Embed] = {
        "base": embedder.embed_base,
        "person_metric": lambda crops, names: metric.project(embedder.embed_base(crops, names)),
    }
    results, calibration = evaluate(
        tune, test, settings, {"base": embedder.calibration, "person_metric": metric.calibration}
    )
    if calibration is not None and results["vehicle_chosen_on_tune"] == "base":
        save_base_calibration(embedder.base_embedding_version, calibration, vehicles=True)
        results["vehicle_calibration_file"] = "models/reid_calibration.json"
    results.update(
        vehicle_embedding_version=embedder.base_embedding_version,
        vehicle_person_metric=metric.embedding_version(),
        vehicle_date=datetime.now(UTC).date().isoformat(),
    )
    doc = json.loads(RESULTS_PATH.read_text()) if RESULTS_PATH.is_file() else {}
    doc.update(results)
    RESULTS_PATH.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
