"""Calibrated match confidence: what share of hits at a similarity were the same object.

Fit on a labelled split by isotonic regression (pool adjacent violators) of same/different
outcomes against the similarity, so confidence never falls as the similarity rises; applied by
linear interpolation between the fitted steps' centres. `threshold` is the confidence a hit must
reach to count as a good match; when no hit does, search says "no good match".
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import models

DEFAULT_MATCH_CONFIDENCE = 0.5
# Calibrations of base embedding versions (no learned metric), by embedding version, written by
# bench/search_quality.py from the vtest tune split; a learned metric carries its own. Vehicles
# have their own, keyed `<embedding version>#vehicle` (bench/vehicle_reid.py, vehicle tune split).
BASE_CALIBRATIONS_PATH = Path(models.__file__).with_name("reid_calibration.json")
VEHICLE_KEY_SUFFIX = "#vehicle"


@dataclass(frozen=True)
class Calibration:
    """Increasing steps: `scores` (step centres, ascending) → `confidences` (in [0, 1])."""

    scores: tuple[float, ...]
    confidences: tuple[float, ...]
    threshold: float = DEFAULT_MATCH_CONFIDENCE
    fitted_on: str = ""  # e.g. "vtest tune split, 1234 query-gallery pairs"

    def __post_init__(self) -> None:
        if not self.scores or len(self.scores) != len(self.confidences):
            raise ValueError("a calibration needs as many confidences as scores, at least one")
        if list(self.scores) != sorted(self.scores):
            raise ValueError("calibration scores must ascend")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")

    def confidence(self, scores: np.ndarray) -> np.ndarray:
        """P(same object) of each similarity."""
        return np.interp(np.asarray(scores, np.float64), self.scores, self.confidences)

    def is_good(self, score: float) -> bool:
        return float(self.confidence(np.array([score]))[0]) >= self.threshold

    def to_json(self) -> dict[str, object]:
        return {
            "scores": [round(s, 6) for s in self.scores],
            "confidences": [round(c, 6) for c in self.confidences],
            "threshold": self.threshold,
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> Calibration:
        scores = doc["scores"]
        confidences = doc["confidences"]
        if not isinstance(scores, list) or not isinstance(confidences, list):
            raise ValueError("calibration scores and confidences must be lists")
        return cls(
            tuple(float(s) for s in scores),
            tuple(float(c) for c in confidences),
            float(str(doc.get("threshold", DEFAULT_MATCH_CONFIDENCE))),
            str(doc.get("fitted_on", "")),
        )


def fit_calibration(
    scores: np.ndarray,
    same: np.ndarray,
    fitted_on: str,
    threshold: float = DEFAULT_MATCH_CONFIDENCE,
) -> Calibration:
    """Isotonic fit of `same` (bool per pair) on `scores`; blocks pooled until they ascend."""
    if len(scores) != len(same) or len(scores) < 2:
        raise ValueError("calibration needs at least two scored pairs with outcomes")
    order = np.argsort(scores, kind="stable")
    blocks: list[list[float]] = []  # [sum of outcomes, count, sum of scores]
    for s, y in zip(np.asarray(scores, np.float64)[order], np.asarray(same)[order], strict=True):
        blocks.append([float(y), 1.0, float(s)])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            top = blocks.pop()
            blocks[-1] = [blocks[-1][i] + top[i] for i in range(3)]
    return Calibration(
        tuple(b[2] / b[1] for b in blocks),
        tuple(b[0] / b[1] for b in blocks),
        threshold,
        fitted_on,
    )


def reliability(
    calibration: Calibration, scores: np.ndarray, same: np.ndarray, bins: int = 5
) -> list[dict[str, float]]:
    """Predicted vs observed same-share in `bins` confidence bins (for a held-out split)."""
    predicted = calibration.confidence(scores)
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for low, high in itertools.pairwise(edges):
        inside = (predicted >= low) & ((predicted < high) | (high == 1.0))
        if inside.any():
            rows.append(
                {
                    "confidence_from": round(float(low), 2),
                    "confidence_to": round(float(high), 2),
                    "pairs": int(inside.sum()),
                    "mean_confidence": round(float(predicted[inside].mean()), 4),
                    "same_share": round(float(np.mean(np.asarray(same)[inside])), 4),
                }
            )
    return rows


def base_calibration(
    embedding_version: str, path: Path = BASE_CALIBRATIONS_PATH, vehicles: bool = False
) -> Calibration | None:
    """The shipped calibration of a base embedding version (of persons, or of `vehicles`), if
    it has one."""
    if not path.is_file():
        return None
    key = embedding_version + (VEHICLE_KEY_SUFFIX if vehicles else "")
    doc = json.loads(path.read_text()).get(key)
    return None if doc is None else Calibration.from_json(doc)


def save_base_calibration(
    embedding_version: str,
    calibration: Calibration,
    path: Path = BASE_CALIBRATIONS_PATH,
    vehicles: bool = False,
) -> None:
    """Write one base calibration into the shipped file, keeping the others."""
    doc = json.loads(path.read_text()) if path.is_file() else {}
    doc[embedding_version + (VEHICLE_KEY_SUFFIX if vehicles else "")] = calibration.to_json()
    path.write_text(json.dumps(doc, indent=1) + "\n")
