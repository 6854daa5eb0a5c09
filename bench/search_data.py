"""Seeded synthetic embeddings clustered like appearance vectors, generated chunk by chunk.

Model: a shared mean direction plus identity clusters in a low-dimensional latent space with a
power-law spectrum (real CNN features concentrate their energy in a few hundred directions),
mapped into the full dimension by a fixed orthonormal basis, plus isotropic noise carrying
`residual_energy` of each vector's energy, then L2-normalised. Chunk `i` depends only on
(seed, i), so any chunk can be re-created for ground truth without keeping the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class ClusteredSpec:
    """Shape of the synthetic collection."""

    dim: int
    latent_dim: int = 160
    clusters: int = 3000
    intra_cluster_spread: float = 0.6
    mean_weight: float = 0.5
    spectrum_decay: float = 0.5
    residual_energy: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.latent_dim <= self.dim:
            raise ValueError(f"latent_dim must be in 1..dim, got {self.latent_dim}")
        if self.clusters < 1 or not 0.0 <= self.residual_energy < 1.0:
            raise ValueError("clusters must be ≥ 1 and residual_energy in [0, 1)")


class ClusteredVectors:
    """Deterministic generator: `chunk(i, rows)` and `queries(count)` return unit float32 rows."""

    def __init__(self, spec: ClusteredSpec) -> None:
        self.spec = spec
        rng = np.random.default_rng([spec.seed, 0])
        basis, _ = np.linalg.qr(rng.normal(size=(spec.dim, spec.latent_dim + 1)))
        self._mean_direction = basis[:, 0].astype(np.float32)
        self._basis = np.ascontiguousarray(basis[:, 1:].T, dtype=np.float32)  # latent × dim
        scales = (1.0 + np.arange(spec.latent_dim)) ** -spec.spectrum_decay
        self._scales = (scales / np.linalg.norm(scales)).astype(np.float32)
        centres = rng.normal(size=(spec.clusters, spec.latent_dim)) * self._scales
        self._centres = (centres / np.linalg.norm(centres, axis=1, keepdims=True)).astype(
            np.float32
        )
        self._noise_std = float(
            np.sqrt(spec.residual_energy / ((1.0 - spec.residual_energy) * spec.dim))
        )

    def chunk(self, index: int, rows: int) -> np.ndarray:
        return self._draw(np.random.default_rng([self.spec.seed, 1, index]), rows)

    def queries(self, count: int) -> np.ndarray:
        return self._draw(np.random.default_rng([self.spec.seed, 2]), count)

    def _draw(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        spec = self.spec
        labels = rng.integers(0, spec.clusters, size=rows)
        latent = self._centres[labels] + spec.intra_cluster_spread * (
            rng.standard_normal((rows, spec.latent_dim), dtype=np.float32) * self._scales
        )
        latent /= np.linalg.norm(latent, axis=1, keepdims=True)
        full = latent @ self._basis
        full += spec.mean_weight * self._mean_direction
        full /= np.linalg.norm(full, axis=1, keepdims=True)
        full += self._noise_std * rng.standard_normal((rows, spec.dim), dtype=np.float32)
        full /= np.linalg.norm(full, axis=1, keepdims=True)
        return full
