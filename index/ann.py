"""Approximate index: uncentred PCA, IVF-PQ over the leading components, exact float16 re-rank.

A full vector x (unit length, `dim` floats) is rotated into the top `rerank_dim` principal axes
of the uncentred second-moment matrix (no mean subtraction, so inner products are preserved up
to the energy outside those axes). The IVF-PQ codes cover the first `ivf_dim` of those
components; the re-rank store keeps all `rerank_dim` of them as float16 in a memory-mapped file.
IVF ids are store row numbers; the store maps rows to catalog track ids.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.vector_store import DEAD, VectorStore

PCA_SAMPLE_ROWS = 20_000
KMEANS_ITERATIONS = 10
POINTS_PER_LIST = 32
PQ_POINTS_PER_CENTROID = 64
CHUNK_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class AnnConfig:
    """Shape and effort of the approximate index (bytes/vector ≈ pq_bytes + 8 + 2·rerank_dim)."""

    rerank_dim: int = 256
    ivf_dim: int = 128
    pq_bytes: int = 32
    nprobe: int = 32
    rerank_candidates: int = 200
    lists_per_sqrt_count: float = 1.5

    def __post_init__(self) -> None:
        if not 0 < self.ivf_dim <= self.rerank_dim:
            raise ValueError(f"ivf_dim must be in 1..rerank_dim, got {self.ivf_dim}")
        if self.pq_bytes <= 0 or self.ivf_dim % self.pq_bytes:
            raise ValueError(f"pq_bytes ({self.pq_bytes}) must divide ivf_dim ({self.ivf_dim})")
        if self.nprobe < 1 or self.rerank_candidates < 1:
            raise ValueError("nprobe and rerank_candidates must be at least 1")

    def lists_for(self, count: int) -> int:
        """IVF list count for `count` vectors: a power of two near c·√count, 8 to 65536."""
        target = max(8.0, self.lists_per_sqrt_count * math.sqrt(max(count, 1)))
        lists = 2 ** round(math.log2(target))
        return int(min(65536, max(8, lists)))


def fit_projection(sample: np.ndarray, out_dim: int) -> tuple[np.ndarray, float]:
    """D×out_dim orthonormal axes of the uncentred second moment, and the energy they keep."""
    rows = sample[: min(len(sample), PCA_SAMPLE_ROWS)].astype(np.float64)
    moment = rows.T @ rows / max(len(rows), 1)
    values, vectors = np.linalg.eigh(moment)
    order = np.argsort(values)[::-1][:out_dim]
    kept = float(values[order].sum() / max(values.sum(), 1e-12))
    return np.ascontiguousarray(vectors[:, order], dtype=np.float32), kept


def train_ivf(sample: np.ndarray, config: AnnConfig, lists: int) -> Any:
    """A trained, empty IVF-PQ (inner product) over the first `ivf_dim` projected components."""
    if len(sample) < max(lists, 256):
        raise ValueError(f"training needs at least {max(lists, 256)} vectors, got {len(sample)}")
    index: Any = faiss.index_factory(
        config.ivf_dim, f"IVF{lists},PQ{config.pq_bytes}", faiss.METRIC_INNER_PRODUCT
    )
    index.cp.niter = KMEANS_ITERATIONS
    index.cp.max_points_per_centroid = POINTS_PER_LIST
    index.pq.cp.niter = KMEANS_ITERATIONS
    index.do_polysemous_training = False  # minutes of training for a filter this index skips
    index.pq.cp.max_points_per_centroid = PQ_POINTS_PER_CENTROID
    index.train(np.ascontiguousarray(sample[:, : config.ivf_dim], dtype=np.float32))
    index.nprobe = config.nprobe
    return index


class AnnIndex:
    """Projection + IVF-PQ + re-rank store; callers (VectorIndex) provide the locking."""

    def __init__(
        self, config: AnnConfig, projection: np.ndarray, kept_energy: float, ivf: Any,
        store: VectorStore,
    ) -> None:  # fmt: skip
        self.config = config
        self.projection = projection
        self.kept_energy = kept_energy
        self.ivf = ivf
        self.store = store

    @classmethod
    def trained(
        cls, config: AnnConfig, sample_full: np.ndarray, store_path: Path, live_count: int
    ) -> AnnIndex:
        """Fit the projection and IVF on a sample of full vectors; the index starts empty."""
        out_dim = min(config.rerank_dim, sample_full.shape[1])
        projection, kept = fit_projection(sample_full, out_dim)
        shaped = AnnConfig(
            rerank_dim=out_dim,
            ivf_dim=min(config.ivf_dim, out_dim),
            pq_bytes=math.gcd(config.pq_bytes, min(config.ivf_dim, out_dim)),
            nprobe=config.nprobe,
            rerank_candidates=config.rerank_candidates,
            lists_per_sqrt_count=config.lists_per_sqrt_count,
        )
        lists = min(shaped.lists_for(live_count), max(8, len(sample_full) // 39))
        ivf = train_ivf(sample_full @ projection, shaped, lists)
        return cls(shaped, projection, kept, ivf, VectorStore(store_path, out_dim))

    @classmethod
    def retrained_from(cls, old: AnnIndex, store_path: Path, sample_rows: int) -> AnnIndex:
        """Same projection, IVF re-trained for the current size, store compacted (no dead rows).

        Reads the old store chunk by chunk under its own lock, so it can run while the old index
        keeps serving; the caller replays writes made meanwhile.
        """
        end_row = old.store.row_count
        live = len(old.store)
        lists = old.config.lists_for(live)
        rng = np.random.default_rng(live)
        sample_count = min(live, max(sample_rows, 39 * lists))
        picked = np.sort(rng.choice(end_row, size=min(end_row, sample_count), replace=False))
        picked = picked[old.store.track_ids_of(picked) != DEAD]
        ivf = train_ivf(old.store.vectors(picked), old.config, min(lists, len(picked) // 39 or 8))
        fresh = cls(
            old.config, old.projection, old.kept_energy, ivf,
            VectorStore(store_path, old.config.rerank_dim),
        )  # fmt: skip
        for rows, block in old.store.live_chunks(CHUNK_ROWS, end_row):
            fresh.add_projected(old.store.track_ids_of(rows), block)
        return fresh

    def __len__(self) -> int:
        return len(self.store)

    @property
    def lists(self) -> int:
        return int(self.ivf.nlist)

    def project(self, full: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(full @ self.projection, dtype=np.float32)

    def add(self, track_ids: np.ndarray, full: np.ndarray) -> None:
        self.add_projected(track_ids, self.project(full))

    def add_projected(self, track_ids: np.ndarray, projected: np.ndarray) -> None:
        self.remove(track_ids)
        rows = self.store.append(track_ids, projected)
        codes_in = np.ascontiguousarray(projected[:, : self.config.ivf_dim], dtype=np.float32)
        self.ivf.add_with_ids(codes_in, rows)

    def remove(self, track_ids: np.ndarray) -> int:
        rows = self.store.kill(track_ids)
        if len(rows):
            self.ivf.remove_ids(faiss.IDSelectorBatch(rows))
        return len(rows)

    def candidates(self, query: np.ndarray, fetch: int, nprobe: int, selector: Any) -> np.ndarray:
        """Live store rows of the IVF-PQ top `fetch` for one projected query."""
        params = faiss.SearchParametersIVF()
        params.nprobe = min(nprobe, self.lists)
        if selector is not None:
            params.sel = selector
        _, rows = self.ivf.search(query[None, : self.config.ivf_dim], fetch, params=params)
        found = rows[0][rows[0] >= 0]
        return found[self.store.track_ids_of(found) != DEAD]

    def rerank(self, query: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact scores on the stored float16 vectors; (track ids, scores) of the best `k`."""
        if len(rows) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = self.store.vectors(rows) @ query
        best = np.argsort(-scores, kind="stable")[:k]
        return self.store.track_ids_of(rows[best]), scores[best]

    def live_track_ids(self) -> Iterator[np.ndarray]:
        for rows, _ in self.store.live_chunks(CHUNK_ROWS, self.store.row_count):
            yield self.store.track_ids_of(rows)

    def memory_bytes(self) -> dict[str, int]:
        """Resident (IVF codes, ids, maps) and memory-mapped (re-rank store) bytes."""
        rows = self.store.row_count
        codes = int(self.ivf.ntotal) * (self.ivf.code_size + 8)
        return {
            "resident_bytes": codes + rows * 8 * 3 + self.projection.nbytes,
            "mapped_bytes": rows * self.config.rerank_dim * 2,
        }
