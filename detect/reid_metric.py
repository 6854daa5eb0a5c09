"""A re-ID metric learned from the deployment's own tracks, without human labels (issue #16).

Every track gives several views of one object: the base appearance vectors of two views of one
track are a *same* pair; views of two tracks that overlap in time on one camera are a *different*
pair (one camera cannot see one person twice at once). After PCA to `pca_dim` dimensions a
Mahalanobis metric is learned in closed form: M = Σ_same⁻¹ (the views whitened against their
spread within a track: pose, light, occlusion) or, with `contrast`, KISSME's (Köstinger et al.,
CVPR 2012) M = Σ_same⁻¹ − Σ_diff⁻¹, negative eigenvalues clipped so that M = L·Lᵀ; both
covariances are shrunk towards the identity (`shrinkage`), which small footage needs. The
defaults are the setting chosen on the vtest tune split (bench/reid_split.py). The artefact
keeps one projection P = PCA·L (and the centring mean): a base vector x becomes the unit row of
(x − mean)·P, so the cosine of two projected vectors is the learned similarity and the vector
index keeps its inner-product search, only in a new, smaller space.

The file (`reid_metric-<id>.npz` with a `.json` twin holding its metadata) names the base
embedding version and dimension it was learned on; `check_base` refuses any other, so two vector
spaces never mix. A metric may also carry a calibration (`detect.reid_calibration`): the share of
hits at a score that were the same person on a labelled split.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from pathlib import Path

import numpy as np

from detect.reid_calibration import Calibration

METRIC_FORMAT = 1
DEFAULT_PCA_DIM = 128
MIN_TRACKS = 8  # fewer tracks than this give too few pairs to estimate two covariances
MIN_SAME_PAIRS = 50
MIN_DIFF_PAIRS = 50
MAX_PAIRS_PER_TRACK = 200  # view pairs per track, so long tracks do not dominate
DIFFERENT_VIEWS = 4  # views of each of two co-occurring tracks paired as different
# Chosen on the vtest tune split (bench/reid_split.py, held-out persons): see BENCHMARKS.md.
DEFAULT_SHRINKAGE = 1.0  # share of the mean variance added to covariance diagonals
DEFAULT_CONTRAST = False  # subtract the co-occurring pairs' inverse covariance (KISSME)


class MetricError(ValueError):
    """A metric file that cannot be used with this embedder, or learning that cannot proceed."""


class TooFewTracks(MetricError):
    """Not enough tracks (or pairs) to learn a metric; the current metric stays."""


@dataclass(frozen=True)
class TrackViews:
    """One track's base appearance vectors (one unit row per view) and where/when it was."""

    camera_id: str
    start_s: float
    end_s: float
    vectors: np.ndarray

    def overlaps(self, other: TrackViews) -> bool:
        return (
            self.camera_id == other.camera_id
            and self.start_s < other.end_s
            and other.start_s < self.end_s
        )


@dataclass(frozen=True)
class PairCounts:
    tracks: int
    same_pairs: int
    different_pairs: int


@dataclass(frozen=True)
class ReidMetric:
    """A learned projection of base vectors of `base_version` (`base_dim` floats) to `dim`."""

    base_version: str
    base_dim: int
    mean: np.ndarray  # base_dim
    projection: np.ndarray  # base_dim × dim
    learned_from: dict[str, str] = field(default_factory=dict)  # {"from": iso, "to": iso}
    counts: PairCounts = PairCounts(0, 0, 0)
    calibration: Calibration | None = None
    base_share: float = 0.0  # the base cosine's share of the similarity (a shrinkage)

    def __post_init__(self) -> None:
        if not 0.0 <= self.base_share < 1.0:
            raise MetricError(f"base_share must be in [0, 1), got {self.base_share}")

    @property
    def dim(self) -> int:
        learned = int(self.projection.shape[1])
        return learned + (self.base_dim if self.base_share > 0 else 0)

    @property
    def metric_id(self) -> str:
        """12 hex digits of the projection's hash: part of the embedding version."""
        digest = hashlib.sha256(self.base_version.encode())
        digest.update(np.ascontiguousarray(self.mean, "<f4").tobytes())
        digest.update(np.ascontiguousarray(self.projection, "<f4").tobytes())
        digest.update(f"{self.base_share:.6f}".encode())
        return digest.hexdigest()[:12]

    def embedding_version(self) -> str:
        """The version of projected vectors: short enough for the catalog's 64 characters."""
        base = hashlib.sha256(self.base_version.encode()).hexdigest()[:8]
        return f"reid-{self.metric_id}-on-{base}-d{self.dim}"

    def check_base(self, base_version: str, base_dim: int) -> None:
        """Refuse base vectors of another version or dimension than the metric was learned on."""
        if base_version != self.base_version or base_dim != self.base_dim:
            raise MetricError(
                f"re-ID metric {self.metric_id} was learned on {self.base_version!r} "
                f"({self.base_dim} floats) but the embedder makes {base_version!r} "
                f"({base_dim} floats): learn a new one with `skynet reid learn` or unset "
                "SKYNET_REID_METRIC_PATH"
            )

    def project(self, base: np.ndarray) -> np.ndarray:
        """N×`dim` float32 unit rows of N×`base_dim` unit base vectors: the learned part, or
        with `base_share` s > 0 unit(concat(√s·base, √(1−s)·learned)), whose cosine is
        s·cos_base + (1−s)·cos_learned."""
        if base.ndim != 2 or base.shape[1] != self.base_dim:
            raise MetricError(f"expected N×{self.base_dim} base vectors, got {base.shape}")
        learned = _unit((base.astype(np.float32) - self.mean) @ self.projection)
        if self.base_share == 0.0:
            return learned
        share = self.base_share
        return _unit(np.concatenate([np.sqrt(share) * base, np.sqrt(1 - share) * learned], 1))

    def with_calibration(self, calibration: Calibration) -> ReidMetric:
        return replace(self, calibration=calibration)

    def with_base_share(self, base_share: float) -> ReidMetric:
        return replace(self, base_share=base_share, calibration=None)

    def metadata(self) -> dict[str, object]:
        return {
            "format": METRIC_FORMAT,
            "metric_id": self.metric_id,
            "embedding_version": self.embedding_version(),
            "base_version": self.base_version,
            "base_dim": self.base_dim,
            "dim": self.dim,
            "base_share": self.base_share,
            "learned_from": self.learned_from,
            "tracks": self.counts.tracks,
            "same_pairs": self.counts.same_pairs,
            "different_pairs": self.counts.different_pairs,
            "calibration": None if self.calibration is None else self.calibration.to_json(),
        }

    def save(self, directory: Path) -> Path:
        """Write `reid_metric-<id>.npz` (+ `.json`) atomically under `directory`; its path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"reid_metric-{self.metric_id}.npz"
        meta = json.dumps(self.metadata(), indent=1)
        buffer = io.BytesIO()
        np.savez(buffer, mean=self.mean, projection=self.projection, meta=np.array(meta))
        for target, data in ((path, buffer.getvalue()), (path.with_suffix(".json"), meta.encode())):
            partial = target.with_suffix(target.suffix + ".part")
            partial.write_bytes(data)
            partial.replace(target)
        return path


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32)


def load_metric(path: Path) -> ReidMetric:
    """Read a metric file, refusing a damaged one or one of an unknown format."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            mean = data["mean"].astype(np.float32)
            projection = data["projection"].astype(np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise MetricError(f"cannot read re-ID metric {path}: {exc}") from None
    if meta.get("format") != METRIC_FORMAT:
        raise MetricError(f"{path}: unknown metric format {meta.get('format')!r}")
    base_dim = int(meta["base_dim"])
    if mean.shape != (base_dim,) or projection.ndim != 2 or projection.shape[0] != base_dim:
        raise MetricError(
            f"{path}: arrays {mean.shape} / {projection.shape} do not fit base_dim {base_dim}"
        )
    calibration = meta.get("calibration")
    metric = ReidMetric(
        base_version=str(meta["base_version"]),
        base_dim=base_dim,
        mean=mean,
        projection=projection,
        learned_from=dict(meta.get("learned_from") or {}),
        counts=PairCounts(
            int(meta["tracks"]), int(meta["same_pairs"]), int(meta["different_pairs"])
        ),
        calibration=None if calibration is None else Calibration.from_json(calibration),
        base_share=float(meta.get("base_share", 0.0)),
    )
    if metric.metric_id != meta.get("metric_id"):
        raise MetricError(f"{path}: contents do not match its metric id {meta.get('metric_id')}")
    return metric


def _view_pairs(vectors: np.ndarray, limit: int) -> list[tuple[int, int]]:
    pairs = list(combinations(range(len(vectors)), 2))
    if len(pairs) <= limit:
        return pairs
    picks = np.linspace(0, len(pairs) - 1, limit).round().astype(int)
    return [pairs[i] for i in picks]


def _spread(views: int) -> set[int]:
    """Up to `DIFFERENT_VIEWS` view indices spread over a track."""
    return set(np.linspace(0, views - 1, min(views, DIFFERENT_VIEWS)).round().astype(int).tolist())


def pair_differences(
    tracks: Sequence[TrackViews], progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(same, different) rows of view differences: views within one track; views of tracks
    overlapping in time on one camera (up to `DIFFERENT_VIEWS` spread views of each)."""
    same: list[np.ndarray] = []
    different: list[np.ndarray] = []
    for index, track in enumerate(tracks):
        for a, b in _view_pairs(track.vectors, MAX_PAIRS_PER_TRACK):
            same.append(track.vectors[a] - track.vectors[b])
        for other in tracks[index + 1 :]:
            if track.overlaps(other):
                for u in _spread(len(track.vectors)):
                    for v in _spread(len(other.vectors)):
                        different.append(track.vectors[u] - other.vectors[v])
        if progress is not None:
            progress(index + 1)
    width = tracks[0].vectors.shape[1] if tracks else 0
    return (
        np.array(same, np.float64).reshape(-1, width),
        np.array(different, np.float64).reshape(-1, width),
    )


def _covariance(differences: np.ndarray, shrinkage: float) -> np.ndarray:
    cov = differences.T @ differences / len(differences)
    return cov + shrinkage * float(np.trace(cov)) / len(cov) * np.eye(len(cov))


def learn_metric(
    tracks: Sequence[TrackViews],
    base_version: str,
    pca_dim: int = DEFAULT_PCA_DIM,
    learned_from: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    min_tracks: int = MIN_TRACKS,
    shrinkage: float = DEFAULT_SHRINKAGE,
    contrast: bool = DEFAULT_CONTRAST,
) -> ReidMetric:
    """KISSME on PCA of the tracks' views (`contrast`), or without the different-pair term: the
    views whitened against their within-track spread only. `shrinkage` adds that share of the
    mean variance to each covariance's diagonal. Raises TooFewTracks when the footage is thin."""
    usable = [t for t in tracks if len(t.vectors) >= 2]
    if len(usable) < min_tracks:
        raise TooFewTracks(
            f"{len(usable)} tracks with two or more views (of {len(tracks)}); at least "
            f"{min_tracks} are needed to learn a re-ID metric"
        )
    base_dim = int(usable[0].vectors.shape[1])
    if any(t.vectors.shape[1] != base_dim for t in usable):
        raise MetricError("tracks of different vector dimensions cannot be learned from together")
    same, different = pair_differences(usable, progress)
    if len(same) < MIN_SAME_PAIRS or len(different) < MIN_DIFF_PAIRS:
        raise TooFewTracks(
            f"{len(same)} same-track and {len(different)} co-occurring-track pairs; at least "
            f"{MIN_SAME_PAIRS} and {MIN_DIFF_PAIRS} are needed (more tracks that overlap in time"
            " on one camera)"
        )
    views = np.concatenate([t.vectors for t in usable]).astype(np.float64)
    mean = views.mean(axis=0)
    dim = min(pca_dim, len(views) - 1, base_dim)
    _, _, vt = np.linalg.svd(views - mean, full_matrices=False)
    pca = vt[:dim].T  # base_dim × dim
    learned = np.linalg.inv(_covariance(same @ pca, shrinkage))
    if contrast:
        learned -= np.linalg.inv(_covariance(different @ pca, shrinkage))
    eigenvalues, eigenvectors = np.linalg.eigh(learned)
    keep = eigenvalues > 1e-9 * float(eigenvalues.max(initial=0.0))
    if not keep.any():
        raise MetricError("the learned metric has no positive direction: views do not separate")
    root = eigenvectors[:, keep] * np.sqrt(eigenvalues[keep])
    return ReidMetric(
        base_version=base_version,
        base_dim=base_dim,
        mean=mean.astype(np.float32),
        projection=(pca @ root).astype(np.float32),
        learned_from=dict(learned_from or {}),
        counts=PairCounts(len(usable), len(same), len(different)),
    )
