"""Exact inner-product index (FAISS Flat keyed by track id): the index while a version is small."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np


class ExactIndex:
    """Full float32 vectors, brute-force search; callers (VectorIndex) provide the locking."""

    def __init__(self, dim: int, flat: Any | None = None) -> None:
        # faiss's SWIG stubs do not describe its numpy wrappers, hence Any.
        self.dim = dim
        self.flat: Any = flat if flat is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self.flat.ntotal)

    def add(self, track_ids: np.ndarray, vectors: np.ndarray) -> None:
        self.flat.remove_ids(track_ids)  # re-adding an id replaces it
        self.flat.add_with_ids(vectors, track_ids)

    def remove(self, track_ids: np.ndarray) -> int:
        return int(self.flat.remove_ids(track_ids))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(track ids, scores) of the top `k`."""
        if len(self) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores, ids = self.flat.search(query[None], min(k, len(self)))
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def search_among(
        self, query: np.ndarray, k: int, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pre-filter: FAISS scans only the allowed ids (IDSelectorBatch); the answer is exact."""
        if len(self) == 0 or len(allowed) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        selector = faiss.IDSelectorBatch(allowed)  # kept alive until the search returns
        params = faiss.SearchParameters()
        params.sel = selector
        scores, ids = self.flat.search(query[None], min(k, len(self)), params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def track_ids(self) -> np.ndarray:
        """A copy of the ids held, in insertion order."""
        return faiss.vector_to_array(self.flat.id_map).astype(np.int64)

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (track ids, N×dim vectors) in insertion order."""
        ids = self.track_ids()
        storage: Any = faiss.downcast_index(self.flat.index)
        codes = faiss.vector_to_array(storage.codes)
        return ids, codes.view(np.float32).reshape(len(ids), self.dim).copy()

    def write(self, path: Path) -> None:
        faiss.write_index(self.flat, str(path))

    @classmethod
    def read(cls, path: Path) -> ExactIndex:
        flat = faiss.read_index(str(path))
        if not isinstance(flat, faiss.IndexIDMap2):
            raise ValueError(f"{path} holds a {type(flat).__name__}, not an id-mapped flat index")
        return cls(int(flat.d), flat)

    def memory_bytes(self) -> dict[str, int]:
        return {"resident_bytes": len(self) * (self.dim * 4 + 8 * 3), "mapped_bytes": 0}
