"""FAISS vector index of track embeddings, one per embedding version, persisted atomically."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np


@dataclass(frozen=True, slots=True)
class VectorHit:
    """One nearest neighbour: catalog track id and cosine similarity."""

    track_id: int
    score: float


class VectorIndex:
    """Exact inner-product search over L2-normalised vectors keyed by catalog track id.

    The catalog keeps every embedding, so this index can always be rebuilt from it.
    """

    def __init__(self, dim: int, embedding_version: str) -> None:
        if dim <= 0:
            raise ValueError(f"dimension must be positive, got {dim}")
        self.dim = dim
        self.embedding_version = embedding_version
        # faiss's SWIG stubs do not describe its numpy wrappers, hence Any.
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, track_ids: Iterable[int], vectors: np.ndarray) -> None:
        ids = np.asarray(list(track_ids), dtype=np.int64)
        matrix = self._checked(vectors)
        if len(ids) != len(matrix):
            raise ValueError(f"{len(ids)} ids for {len(matrix)} vectors")
        with self._lock:
            self._index.remove_ids(ids)  # re-adding an id replaces it
            self._index.add_with_ids(matrix, ids)

    def remove(self, track_ids: Iterable[int]) -> int:
        with self._lock:
            return int(self._index.remove_ids(np.asarray(list(track_ids), dtype=np.int64)))

    def search(
        self, query: np.ndarray, k: int, allowed_ids: Iterable[int] | None = None
    ) -> list[VectorHit]:
        """Top-`k` neighbours of one query; `allowed_ids` restricts the candidates (pre-filter)."""
        matrix = self._checked(query.reshape(1, -1))
        params: Any = None
        if allowed_ids is not None:
            allowed = np.asarray(sorted(set(allowed_ids)), dtype=np.int64)
            if len(allowed) == 0:
                return []
            selector = faiss.IDSelectorBatch(allowed)  # kept alive until the search returns
            params = faiss.SearchParameters()
            params.sel = selector
        with self._lock:
            if self._index.ntotal == 0:
                return []
            scores, ids = self._index.search(matrix, k, params=params)
        return [
            VectorHit(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0
        ]

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves either the old or the new file, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with self._lock:
            faiss.write_index(self._index, str(tmp))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, embedding_version: str) -> VectorIndex:
        index = faiss.read_index(str(path))
        loaded = cls(index.d, embedding_version)
        loaded._index = index
        return loaded

    def _checked(self, vectors: np.ndarray) -> np.ndarray:
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.dim:
            raise ValueError(f"vectors must be N×{self.dim}, got shape {vectors.shape}")
        if not np.all(np.isfinite(matrix)):
            raise ValueError("vectors contain NaN or infinity")
        return matrix
