"""Append-only, memory-mapped int8 rows keyed by track id: the re-rank store of the ANN index.

Rows are never rewritten, only appended or marked dead, so a saved snapshot can share the data
file with the live store: it records how many rows it covers and which of them were alive.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from index.vectors.full_rows import SCALE_BYTES, dequantize_records, dot_in_row_order

DEAD = -1
FIRST_CAPACITY_ROWS = 1024


class RowMap:
    """track id → row lookups over sorted parallel arrays (16 bytes per row, no Python dict)."""

    def __init__(self) -> None:
        self._ids = np.zeros(0, np.int64)
        self._rows = np.zeros(0, np.int64)
        self._pending_ids: list[np.ndarray] = []
        self._pending_rows: list[np.ndarray] = []

    def put(self, track_ids: np.ndarray, rows: np.ndarray) -> None:
        self._pending_ids.append(track_ids.astype(np.int64))
        self._pending_rows.append(rows.astype(np.int64))

    def lookup(self, track_ids: np.ndarray, row_track_ids: np.ndarray) -> np.ndarray:
        """Row of each id, or -1 where the id has no live row."""
        self._merge(row_track_ids)
        if len(self._ids) == 0:
            return np.full(len(track_ids), -1, np.int64)
        pos = np.clip(np.searchsorted(self._ids, track_ids), 0, len(self._ids) - 1)
        rows = self._rows[pos]
        live = (self._ids[pos] == track_ids) & (row_track_ids[rows] == track_ids)
        return np.where(live, rows, -1)

    def _merge(self, row_track_ids: np.ndarray) -> None:
        if not self._pending_ids:
            return
        ids = np.concatenate([self._ids, *self._pending_ids])
        rows = np.concatenate([self._rows, *self._pending_rows])
        self._pending_ids.clear()
        self._pending_rows.clear()
        keep = row_track_ids[rows] == ids  # drop entries whose row died or was replaced
        ids, rows = ids[keep], rows[keep]
        order = np.argsort(ids, kind="stable")
        self._ids, self._rows = ids[order], rows[order]


class VectorStore:
    """int8 records (codes + float32 scale, see full_rows.py) of `dim` in a growing memory-mapped
    file, plus row → track id (-1 = dead)."""

    def __init__(self, path: Path, dim: int, row_track_ids: np.ndarray | None = None) -> None:
        if dim <= 0:
            raise ValueError(f"store dimension must be positive, got {dim}")
        self.path = path
        self.dim = dim
        self.width = dim + SCALE_BYTES
        self._lock = threading.RLock()
        known = np.zeros(0, np.int64) if row_track_ids is None else row_track_ids.astype(np.int64)
        self._count = len(known)
        self._live = int(np.count_nonzero(known != DEAD))
        self._row_track_ids = np.full(max(FIRST_CAPACITY_ROWS, self._count), DEAD, np.int64)
        self._row_track_ids[: self._count] = known
        self._map = RowMap()
        self._map.put(known, np.arange(self._count))
        path.parent.mkdir(parents=True, exist_ok=True)
        if row_track_ids is None:
            path.write_bytes(b"")
        file_rows = path.stat().st_size // self.width
        if file_rows < self._count:
            raise ValueError(f"{path} holds {file_rows} rows, the snapshot needs {self._count}")
        self._rows = self._mapped(max(len(self._row_track_ids), file_rows))

    def __len__(self) -> int:
        """Live rows."""
        return self._live

    @property
    def row_count(self) -> int:
        """Rows written, live or dead (the next row number)."""
        return self._count

    def _mapped(self, capacity_rows: int) -> np.memmap:
        size_bytes = capacity_rows * self.width
        if self.path.stat().st_size < size_bytes:
            with self.path.open("r+b") as handle:
                handle.truncate(size_bytes)
        return np.memmap(self.path, np.uint8, "r+", shape=(capacity_rows, self.width))

    def append(self, track_ids: np.ndarray, records: np.ndarray) -> np.ndarray:
        """Store records for ids (their old rows die); returns the new row numbers."""
        if records.shape != (len(track_ids), self.width):
            raise ValueError(f"expected {len(track_ids)}×{self.width} records, got {records.shape}")
        with self._lock:
            self.kill(track_ids)
            start, end = self._count, self._count + len(track_ids)
            if end > len(self._row_track_ids):
                capacity = max(end, 2 * len(self._row_track_ids))
                grown = np.full(capacity, DEAD, np.int64)
                grown[: self._count] = self._row_track_ids[: self._count]
                self._row_track_ids = grown
                self._rows.flush()
                self._rows = self._mapped(capacity)
            self._rows[start:end] = records
            self._row_track_ids[start:end] = track_ids
            self._count = end
            self._live += len(track_ids)
            rows = np.arange(start, end, dtype=np.int64)
            self._map.put(track_ids, rows)
            return rows

    def kill(self, track_ids: np.ndarray) -> np.ndarray:
        """Mark the ids' rows dead; returns those rows."""
        with self._lock:
            rows = self.rows_of(track_ids)
            rows = rows[rows >= 0]
            self._row_track_ids[rows] = DEAD
            self._live -= len(rows)
            return rows

    def rows_of(self, track_ids: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._map.lookup(track_ids.astype(np.int64), self._row_track_ids)

    def track_ids_of(self, rows: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._row_track_ids[rows]

    def dot(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Inner products of the rows with `query`, read in row order (sequential page access)."""
        with self._lock:
            return dot_in_row_order(self._rows, rows, self.dim, query)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Dequantized float32 rows."""
        return dequantize_records(self.records(rows), self.dim)

    def records(self, rows: np.ndarray) -> np.ndarray:
        with self._lock:
            return np.asarray(self._rows[rows])

    def live_chunks(self, chunk_rows: int, end_row: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, records) of the live rows below `end_row`, `chunk_rows` at a time."""
        for start in range(0, end_row, chunk_rows):
            with self._lock:
                stop = min(start + chunk_rows, end_row)
                rows = np.arange(start, stop, dtype=np.int64)
                rows = rows[self._row_track_ids[start:stop] != DEAD]
                block = np.asarray(self._rows[rows])
            if len(rows):
                yield rows, block

    def move_to(self, new_path: Path) -> None:
        """Move the data file (e.g. next to a saved manifest); the store stays usable."""
        with self._lock:
            self._rows.flush()
            shutil.move(self.path, new_path)
            self.path = new_path
            self._rows = self._mapped(len(self._rows))

    def snapshot(self) -> np.ndarray:
        """Flush the data file and return row → track id for every written row."""
        with self._lock:
            self._rows.flush()
            return self._row_track_ids[: self._count].copy()
