"""FAISS vector index of track embeddings, one per embedding version: lifecycle, search, files.

Exact (Flat) while small; past `IndexPolicy.approximate_from_count` vectors a background thread
builds the approximate index (index/ann.py) from a snapshot while the exact one keeps serving,
replays the writes made meanwhile and swaps it in; it is re-trained the same way each time the
index grows by `retrain_growth_factor`. Searches hold a shared lock, writes an exclusive one.

Saves are atomic snapshots (index/vectors/files.py). `unsaved_writes` tells an owner whether a
save would write anything new, and `max_track_id` where a saved snapshot stops, so the catalog's
later tracks can be added to it after a crash instead of rebuilding (index/track_indexer.py).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.vectors.ann import CHUNK_ROWS, AnnConfig, AnnIndex
from index.vectors.exact import ExactIndex
from index.vectors.files import commit_manifest, fresh_name, fsync_file, read_manifest
from index.vectors.filtered_search import FilterPolicy, ann_filtered, ann_unfiltered, exact_filtered
from index.vectors.full_rows import FullRows
from index.vectors.rwlock import ReadWriteLock
from index.vectors.store import VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VectorHit:
    """One nearest neighbour: catalog track id and cosine similarity."""

    track_id: int
    score: float


@dataclass(frozen=True, slots=True)
class IndexPolicy:
    """When the index turns approximate, when it re-trains, and how filters are applied."""

    approximate_from_count: int = 50_000
    retrain_growth_factor: float = 4.0
    train_sample_rows: int = 100_000
    ann: AnnConfig = field(default_factory=AnnConfig)
    filters: FilterPolicy = field(default_factory=FilterPolicy)

    def __post_init__(self) -> None:
        if self.approximate_from_count < 1000:
            raise ValueError(
                f"approximate_from_count must be at least 1000, got {self.approximate_from_count}"
            )
        if self.retrain_growth_factor <= 1.0:
            raise ValueError(
                f"retrain_growth_factor must exceed 1, got {self.retrain_growth_factor}"
            )


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What `skynet index stats` shows."""

    embedding_version: str
    kind: str  # "exact" or "approximate"
    count: int
    dim: int
    lists: int
    rerank_dim: int
    kept_energy: float
    resident_bytes: int
    mapped_bytes: int
    building: bool
    next_build_at_count: int
    last_error: str


@dataclass(frozen=True, slots=True)
class _Write:
    track_ids: np.ndarray
    vectors: np.ndarray | None  # None: a removal


def _as_ids(track_ids: Iterable[int] | np.ndarray) -> np.ndarray:
    values = track_ids if isinstance(track_ids, np.ndarray) else list(track_ids)
    ids = np.asarray(values, dtype=np.int64).reshape(-1)
    if len(ids) and ids.min() < 0:
        raise ValueError(f"track ids must be non-negative, got {int(ids.min())}")
    return ids


class VectorIndex:
    """Inner-product search over L2-normalised vectors keyed by catalog track id.

    The catalog keeps every embedding, so this index can always be rebuilt from it.
    """

    def __init__(
        self,
        dim: int,
        embedding_version: str,
        policy: IndexPolicy | None = None,
        work_dir: Path | None = None,
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dimension must be positive, got {dim}")
        self.dim = dim
        self.embedding_version = embedding_version
        self.policy = policy or IndexPolicy()
        self._impl: ExactIndex | AnnIndex = ExactIndex(dim)
        self._rw = ReadWriteLock()
        self._writes_during_build: list[_Write] | None = None
        self._builder: threading.Thread | None = None
        self._next_build_at = self.policy.approximate_from_count
        self._work_dir = work_dir
        self._saved_files: set[Path] = set()
        self._last_error = ""
        self._writes = 0  # adds, removals and swaps in of a built index
        self._saved_writes = 0  # `_writes` when the last save (or load) took its snapshot

    def __len__(self) -> int:
        with self._rw.read():
            return len(self._impl)

    @property
    def unsaved_writes(self) -> int:
        """Writes since the last save or load (0: saving again would write the same state)."""
        return self._writes - self._saved_writes

    def max_track_id(self) -> int:
        """The highest track id held, 0 when empty. Catalog ids grow with time, so the catalog's
        tracks above it are the ones this index has not seen (a saved snapshot's tail)."""
        with self._rw.read():
            impl = self._impl
            if isinstance(impl, ExactIndex):
                ids = impl.track_ids()
            else:
                ids = impl.store.track_ids_of(np.arange(impl.store.row_count))
        return max(int(ids.max()), 0) if len(ids) else 0

    def track_ids(self) -> np.ndarray:
        """Every track id held, sorted (retention checks them against the catalog)."""
        with self._rw.read():
            impl = self._impl
            if isinstance(impl, ExactIndex):
                ids = impl.track_ids()
            else:
                ids = impl.store.track_ids_of(np.arange(impl.store.row_count))
        return np.unique(ids[ids >= 0])

    def add(self, track_ids: Iterable[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add or replace vectors (the last one wins when an id repeats)."""
        ids = _as_ids(track_ids)
        matrix = self._checked(vectors)
        if len(ids) != len(matrix):
            raise ValueError(f"{len(ids)} ids for {len(matrix)} vectors")
        _, last = np.unique(ids[::-1], return_index=True)
        keep = np.sort(len(ids) - 1 - last)
        ids, matrix = ids[keep], matrix[keep]
        with self._rw.write():
            self._impl.add(ids, matrix)
            self._writes += 1
            if self._writes_during_build is not None:
                self._writes_during_build.append(_Write(ids, matrix))
            self._maybe_start_build()

    def remove(self, track_ids: Iterable[int] | np.ndarray) -> int:
        """Delete vectors (retention); returns how many were present."""
        ids = np.unique(_as_ids(track_ids))
        with self._rw.write():
            self._writes += 1
            if self._writes_during_build is not None:
                self._writes_during_build.append(_Write(ids, None))
            return self._impl.remove(ids)

    def search(
        self, query: np.ndarray, k: int, allowed_ids: Iterable[int] | np.ndarray | None = None
    ) -> list[VectorHit]:
        """Top-`k` neighbours of one query, best first; `allowed_ids` restricts the candidates."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        vector = self._checked(np.asarray(query).reshape(1, -1))[0]
        allowed = None if allowed_ids is None else np.unique(_as_ids(allowed_ids))
        if allowed is not None and len(allowed) == 0:
            return []
        filters = self.policy.filters
        with self._rw.read():
            impl = self._impl
            if isinstance(impl, ExactIndex):
                ids, scores = (
                    impl.search(vector, k)
                    if allowed is None
                    else exact_filtered(impl, vector, k, allowed, filters)
                )
            elif allowed is None:
                ids, scores = ann_unfiltered(impl, vector, k)
            else:
                ids, scores = ann_filtered(impl, vector, k, allowed, filters)
        return [VectorHit(int(i), float(s)) for i, s in zip(ids, scores, strict=True)]

    def train_approximate(self, sample: np.ndarray, expected_count: int) -> None:
        """Switch an empty index to approximate now, trained on `sample` (for bulk loads)."""
        matrix = self._checked(sample)
        with self._rw.write():
            if len(self._impl):
                raise ValueError(
                    f"train_approximate needs an empty index, it has {len(self._impl)}"
                )
            config = self.policy.ann
            self._impl = AnnIndex.trained(config, matrix, self._data_dir(), expected_count)
            self._writes += 1
            self._next_build_at = int(expected_count * self.policy.retrain_growth_factor)

    def tune_search(self, nprobe: int, rerank_candidates: int, full_rerank_candidates: int) -> None:
        """Trade recall for latency on the approximate index (kept across re-trains and saves)."""
        with self._rw.write():
            if isinstance(self._impl, AnnIndex):
                self._impl.config = replace(
                    self._impl.config,
                    nprobe=nprobe,
                    rerank_candidates=rerank_candidates,
                    full_rerank_candidates=full_rerank_candidates,
                )

    def wait_until_idle(self, timeout_s: float | None = None) -> bool:
        """Wait for a background build to finish; False if it is still running after the wait."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout_s)
            return not builder.is_alive()
        return True

    def stats(self) -> IndexStats:
        with self._rw.read():
            impl = self._impl
            memory = impl.memory_bytes()
            approximate = isinstance(impl, AnnIndex)
            return IndexStats(
                embedding_version=self.embedding_version,
                kind="approximate" if approximate else "exact",
                count=len(impl),
                dim=self.dim,
                lists=impl.lists if isinstance(impl, AnnIndex) else 0,
                rerank_dim=impl.config.rerank_dim if isinstance(impl, AnnIndex) else self.dim,
                kept_energy=impl.kept_energy if isinstance(impl, AnnIndex) else 1.0,
                resident_bytes=memory["resident_bytes"],
                mapped_bytes=memory["mapped_bytes"],
                building=self._builder is not None,
                next_build_at_count=self._next_build_at,
                last_error=self._last_error,
            )

    # background builds

    def _data_dir(self) -> Path:
        """Where new memory-mapped stores go: next to the last save, else a temporary folder."""
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="skynet-vectors-"))
        self._work_dir.mkdir(parents=True, exist_ok=True)
        return self._work_dir

    def _maybe_start_build(self) -> None:
        """Called with the write lock held after each add."""
        if self._builder is not None or len(self._impl) < self._next_build_at:
            return
        impl = self._impl
        directory = self._data_dir()
        build: Callable[[], AnnIndex]
        if isinstance(impl, ExactIndex):
            ids, vectors = impl.contents()
            build = lambda: self._approximate_from(ids, vectors, directory)  # noqa: E731
        else:
            sample_rows = self.policy.train_sample_rows
            build = lambda: AnnIndex.retrained_from(impl, directory, sample_rows)  # noqa: E731
        self._writes_during_build = []
        self._builder = threading.Thread(
            target=self._build, args=(build,), name="vector-index-build", daemon=True
        )
        self._builder.start()

    def _approximate_from(self, ids: np.ndarray, vectors: np.ndarray, directory: Path) -> AnnIndex:
        rng = np.random.default_rng(len(ids))
        size = min(len(ids), self.policy.train_sample_rows)
        picked = rng.choice(len(ids), size=size, replace=False)
        ann = AnnIndex.trained(self.policy.ann, vectors[np.sort(picked)], directory, len(ids))
        for start in range(0, len(ids), CHUNK_ROWS):
            ann.add(ids[start : start + CHUNK_ROWS], vectors[start : start + CHUNK_ROWS])
        return ann

    def _build(self, build: Callable[[], AnnIndex]) -> None:
        try:
            fresh = build()
        except Exception as error:  # a failed build must not stop writes; the old index serves
            log.exception("building the approximate vector index failed")
            with self._rw.write():
                self._last_error = f"{type(error).__name__}: {error}"
                self._writes_during_build = None
                self._next_build_at = 2 * max(len(self._impl), self._next_build_at)
                self._builder = None
            return
        with self._rw.write():
            for write in self._writes_during_build or []:
                if write.vectors is None:
                    fresh.remove(write.track_ids)
                else:
                    fresh.add(write.track_ids, write.vectors)
            old, self._impl = self._impl, fresh
            self._writes += 1  # a restart should load the trained index, not train it again
            self._writes_during_build = None
            self._next_build_at = int(len(fresh) * self.policy.retrain_growth_factor)
            self._last_error = ""
            self._builder = None
            if isinstance(old, AnnIndex):
                for file in (old.store.path, old.full.path):
                    if file not in self._saved_files:
                        file.unlink(missing_ok=True)

    # files

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves either the old or the new index, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        with self._rw.write():
            impl = self._impl
            try:
                manifest = self._write_files(impl, path, written)
                commit_manifest(path, manifest)
            except BaseException:
                for file in written:
                    file.unlink(missing_ok=True)
                raise
            self._saved_files = {path.parent / name for name in manifest["files"].values()}
            self._work_dir = path.parent
            self._saved_writes = self._writes

    def _write_files(
        self, impl: ExactIndex | AnnIndex, path: Path, written: list[Path]
    ) -> dict[str, Any]:
        base = {
            "dim": self.dim,
            "embedding_version": self.embedding_version,
            "count": len(impl),
            "next_build_at_count": self._next_build_at,
        }
        if isinstance(impl, ExactIndex):
            flat = fresh_name(path, "flat", ".faiss")
            written.append(flat)
            impl.write(flat)
            fsync_file(flat)
            return {**base, "kind": "exact", "files": {"flat": flat.name}}
        if impl.store.path.parent.resolve() != path.parent.resolve():
            impl.store.move_to(fresh_name(path, "store", ".i8"))
            impl.full.move_to(fresh_name(path, "full", ".i8"))
        rows = impl.store.snapshot()
        impl.full.flush()
        files = {
            "projection": fresh_name(path, "projection", ".npy"),
            "ivf": fresh_name(path, "ivf", ".faiss"),
            "rows": fresh_name(path, "rows", ".npy"),
        }
        written.extend(files.values())
        np.save(files["projection"], impl.projection)
        np.save(files["rows"], rows)
        faiss.write_index(impl.ivf, str(files["ivf"]))
        for file in [*files.values(), impl.store.path, impl.full.path]:
            fsync_file(file)
        names = {key: file.name for key, file in files.items()} | {
            "store": impl.store.path.name,
            "full": impl.full.path.name,
        }
        return {
            **base,
            "kind": "approximate",
            "config": asdict(impl.config),
            "kept_energy": impl.kept_energy,
            "files": names,
        }

    @classmethod
    def load(
        cls, path: Path, embedding_version: str, policy: IndexPolicy | None = None
    ) -> VectorIndex:
        manifest = read_manifest(path)
        if manifest is None:  # a bare FAISS file written by the first version of this module
            exact = ExactIndex.read(path)
            loaded = cls(exact.dim, embedding_version, policy, path.parent)
            loaded._impl = exact
            return loaded
        if manifest["embedding_version"] != embedding_version:
            raise ValueError(
                f"{path} holds embedding version {manifest['embedding_version']!r}, "
                f"not {embedding_version!r}"
            )
        files = {key: path.parent / name for key, name in manifest["files"].items()}
        loaded = cls(int(manifest["dim"]), embedding_version, policy, path.parent)
        if manifest["kind"] == "exact":
            loaded._impl = ExactIndex.read(files["flat"])
        else:
            config = AnnConfig(**manifest["config"])
            rows = np.load(files["rows"])
            store = VectorStore(files["store"], config.rerank_dim, rows)
            full = FullRows(files["full"], loaded.dim, len(rows))
            ivf = faiss.read_index(str(files["ivf"]))
            loaded._impl = AnnIndex(
                config, np.load(files["projection"]), float(manifest["kept_energy"]), ivf, store,
                full,
            )  # fmt: skip
        loaded._next_build_at = int(manifest["next_build_at_count"])
        loaded._saved_files = set(files.values())
        return loaded

    def _checked(self, vectors: np.ndarray) -> np.ndarray:
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.dim:
            raise ValueError(f"vectors must be N×{self.dim}, got shape {vectors.shape}")
        if not np.all(np.isfinite(matrix)):
            raise ValueError("vectors contain NaN or infinity")
        return matrix
