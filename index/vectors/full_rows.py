"""Full-dimension residual vectors as int8 with a float32 scale per row, memory-mapped and growing.

Used for the final exact re-rank of the approximate index's best candidates: only those rows
are read, so the file can be far larger than RAM. Rows share numbering with the VectorStore;
liveness is the VectorStore's business. Rounding error is ≤ max|x|/254 per component.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np

SCALE_BYTES = 4
FIRST_CAPACITY_ROWS = 1024


def quantize_rows(vectors: np.ndarray) -> np.ndarray:
    """N×(dim+4) uint8 records: int8 codes then the row's float32 scale."""
    peak = np.maximum(np.abs(vectors).max(axis=1), 1e-12).astype(np.float32)
    codes = np.rint(vectors / peak[:, None] * 127.0).astype(np.int8)
    scales = (peak / 127.0).astype("<f4")
    return np.concatenate([codes.view(np.uint8), scales[:, None].view(np.uint8)], axis=1)


def dequantize_records(records: np.ndarray, dim: int) -> np.ndarray:
    """float32 rows back from N×(dim+4) records."""
    return records_codes(records, dim) * records_scales(records, dim)[:, None]


def records_codes(records: np.ndarray, dim: int) -> np.ndarray:
    return records[:, :dim].view(np.int8).astype(np.float32)


def records_scales(records: np.ndarray, dim: int) -> np.ndarray:
    return np.ascontiguousarray(records[:, dim:]).view("<f4")[:, 0]


def records_dot(records: np.ndarray, dim: int, query: np.ndarray) -> np.ndarray:
    """Inner products of the records' vectors with `query`."""
    return (records_codes(records, dim) @ query) * records_scales(records, dim)


def dot_in_row_order(
    records: np.ndarray, rows: np.ndarray, dim: int, query: np.ndarray
) -> np.ndarray:
    """Inner products of `query` with `records[rows]`, in `rows` order; the rows are read in
    ascending order so a memory-mapped file is paged in sequentially."""
    order = np.argsort(rows)
    picked = np.asarray(records[rows[order]])
    out = np.empty(len(rows), np.float32)
    out[order] = records_dot(picked, dim, query)
    return out


class FullRows:
    """Append-only int8 rows of `dim`; `count` of them are valid (the rest is spare capacity)."""

    def __init__(self, path: Path, dim: int, count: int = 0) -> None:
        self.path = path
        self.dim = dim
        self.width = dim + SCALE_BYTES
        self.count = count
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        if count == 0 and not path.exists():
            path.write_bytes(b"")
        file_rows = path.stat().st_size // self.width
        if file_rows < count:
            raise ValueError(f"{path} holds {file_rows} full rows, the snapshot needs {count}")
        self._records = self._mapped(max(FIRST_CAPACITY_ROWS, file_rows))

    def _mapped(self, capacity_rows: int) -> np.memmap:
        size_bytes = capacity_rows * self.width
        if self.path.stat().st_size < size_bytes:
            with self.path.open("r+b") as handle:
                handle.truncate(size_bytes)
        return np.memmap(self.path, np.uint8, "r+", shape=(capacity_rows, self.width))

    def append_records(self, records: np.ndarray) -> None:
        with self._lock:
            end = self.count + len(records)
            if end > len(self._records):
                self._records.flush()
                self._records = self._mapped(max(end, 2 * len(self._records)))
            self._records[self.count : end] = records
            self.count = end

    def records(self, rows: np.ndarray) -> np.ndarray:
        with self._lock:
            return np.asarray(self._records[rows])

    def scores(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Inner products of the full query with the stored rows."""
        with self._lock:
            return dot_in_row_order(self._records, rows, self.dim, query)

    def move_to(self, new_path: Path) -> None:
        with self._lock:
            self._records.flush()
            shutil.move(self.path, new_path)
            self.path = new_path
            self._records = self._mapped(len(self._records))

    def flush(self) -> None:
        with self._lock:
            self._records.flush()
