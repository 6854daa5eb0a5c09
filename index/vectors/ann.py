"""Approximate index: uncentred PCA, IVF-PQ over the leading components, int8 exact re-rank.

A full vector x (unit length, `dim` floats) is rotated into the top `rerank_dim` principal axes
of the uncentred second-moment matrix (no mean subtraction, so inner products are preserved up
to the energy outside those axes). The IVF-PQ codes cover the first `ivf_dim` of those
components; the re-rank store keeps all `rerank_dim` of them as int8 y' (per-row scale) in a
memory-mapped file, and FullRows keeps the rest, the residual r = x - P·y' (int8, memory-mapped,
read only for the final few). ⟨q, x⟩ = ⟨Pᵀq, y'⟩ + ⟨q, r⟩ exactly, and r carries a few % of the
energy, so its int8 rounding moves a cosine by ~1e-5.
Search: IVF-PQ top `rerank_candidates` → ⟨Pᵀq, y'⟩ re-rank → full-vector score of the best
`full_rerank_candidates` → top k. IVF ids are store row numbers; the store maps rows to track ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.vectors.files import fresh_name
from index.vectors.full_rows import FullRows, dequantize_records, quantize_rows
from index.vectors.store import DEAD, VectorStore

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
    nprobe: int = 64
    rerank_candidates: int = 600
    full_rerank_candidates: int = 100
    lists_per_sqrt_count: float = 1.5

    def __post_init__(self) -> None:
        if not 0 < self.ivf_dim <= self.rerank_dim:
            raise ValueError(f"ivf_dim must be in 1..rerank_dim, got {self.ivf_dim}")
        if self.pq_bytes <= 0 or self.ivf_dim % self.pq_bytes:
            raise ValueError(f"pq_bytes ({self.pq_bytes}) must divide ivf_dim ({self.ivf_dim})")
        if self.nprobe < 1 or self.rerank_candidates < 1 or self.full_rerank_candidates < 0:
            raise ValueError("nprobe, rerank_candidates ≥ 1 and full_rerank_candidates ≥ 0")

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


@dataclass(frozen=True, slots=True)
class AnnQuery:
    """One query vector: projected (Pᵀq) and full (q, dotted with the stored residuals)."""

    projected: np.ndarray
    full: np.ndarray


def data_files(directory: Path) -> tuple[Path, Path]:
    """Fresh (projected store, residual rows) file names in `directory`."""
    return (
        fresh_name(directory / "vectors", "store", ".i8"),
        fresh_name(directory / "vectors", "full", ".i8"),
    )


class AnnIndex:
    """Projection + IVF-PQ + re-rank stores; callers (VectorIndex) provide the locking."""

    def __init__(
        self, config: AnnConfig, projection: np.ndarray, kept_energy: float, ivf: Any,
        store: VectorStore, full: FullRows,
    ) -> None:  # fmt: skip
        self.config = config
        self.projection = projection
        self.kept_energy = kept_energy
        self.ivf = ivf
        self.store = store
        self.full = full

    @classmethod
    def trained(
        cls, config: AnnConfig, sample_full: np.ndarray, directory: Path, live_count: int
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
            full_rerank_candidates=config.full_rerank_candidates,
            lists_per_sqrt_count=config.lists_per_sqrt_count,
        )
        lists = min(shaped.lists_for(live_count), max(8, len(sample_full) // 39))
        ivf = train_ivf(sample_full @ projection, shaped, lists)
        store_path, full_path = data_files(directory)
        return cls(
            shaped, projection, kept, ivf, VectorStore(store_path, out_dim),
            FullRows(full_path, sample_full.shape[1]),
        )  # fmt: skip

    @classmethod
    def retrained_from(cls, old: AnnIndex, directory: Path, sample_rows: int) -> AnnIndex:
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
        store_path, full_path = data_files(directory)
        fresh = cls(
            old.config, old.projection, old.kept_energy, ivf,
            VectorStore(store_path, old.config.rerank_dim), FullRows(full_path, old.full.dim),
        )  # fmt: skip
        for rows, block in old.store.live_chunks(CHUNK_ROWS, end_row):
            fresh.add_rows(old.store.track_ids_of(rows), block, old.full.records(rows))
        return fresh

    def __len__(self) -> int:
        return len(self.store)

    @property
    def lists(self) -> int:
        return int(self.ivf.nlist)

    def project(self, full: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(full @ self.projection, dtype=np.float32)

    def query(self, full: np.ndarray) -> AnnQuery:
        return AnnQuery(self.project(full[None])[0], full)

    def add(self, track_ids: np.ndarray, full: np.ndarray) -> None:
        projected = quantize_rows(self.project(full))
        rounded = dequantize_records(projected, self.config.rerank_dim)
        residual = full - rounded @ self.projection.T
        self.add_rows(track_ids, projected, quantize_rows(residual))

    def add_rows(
        self, track_ids: np.ndarray, projected_records: np.ndarray, residual_records: np.ndarray
    ) -> None:
        self.remove(track_ids)
        if self.full.count != self.store.row_count:
            raise RuntimeError(f"stores out of step: {self.full.count} ≠ {self.store.row_count}")
        self.full.append_records(residual_records)
        rows = self.store.append(track_ids, projected_records)
        projected = dequantize_records(projected_records, self.config.rerank_dim)
        codes_in = np.ascontiguousarray(projected[:, : self.config.ivf_dim], dtype=np.float32)
        self.ivf.add_with_ids(codes_in, rows)

    def remove(self, track_ids: np.ndarray) -> int:
        rows = self.store.kill(track_ids)
        if len(rows):
            self.ivf.remove_ids(faiss.IDSelectorBatch(rows))
        return len(rows)

    def candidates(self, query: AnnQuery, fetch: int, nprobe: int, selector: Any) -> np.ndarray:
        """Live store rows of the IVF-PQ top `fetch` for one projected query."""
        params = faiss.SearchParametersIVF()
        params.nprobe = min(nprobe, self.lists)
        if selector is not None:
            params.sel = selector
        head = query.projected[None, : self.config.ivf_dim]
        _, rows = self.ivf.search(head, fetch, params=params)
        found = rows[0][rows[0] >= 0]
        return found[self.store.track_ids_of(found) != DEAD]

    def rerank(self, query: AnnQuery, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(track ids, full-vector scores) of the best `k` rows: projected, then full re-rank."""
        if len(rows) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = self.store.dot(rows, query.projected)
        keep = max(k, self.config.full_rerank_candidates)
        if self.config.full_rerank_candidates:
            kept = np.argsort(-scores, kind="stable")[:keep]
            rows = rows[kept]
            scores = scores[kept] + self.full.scores(rows, query.full)
        best = np.argsort(-scores, kind="stable")[:k]
        return self.store.track_ids_of(rows[best]), scores[best]

    def full_scores(self, query: AnnQuery, rows: np.ndarray) -> np.ndarray:
        """Full-vector inner products (projected part + residual part) of the rows."""
        return self.store.dot(rows, query.projected) + self.full.scores(rows, query.full)

    def memory_bytes(self) -> dict[str, int]:
        """Resident (IVF codes, ids, maps) and memory-mapped (re-rank store) bytes."""
        rows = self.store.row_count
        codes = int(self.ivf.ntotal) * (self.ivf.code_size + 8)
        return {
            "resident_bytes": codes + rows * 8 * 3 + self.projection.nbytes,
            "mapped_bytes": rows * (self.store.width + self.full.width),
        }
