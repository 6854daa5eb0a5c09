"""Vector index maintenance for the CLI: rebuild from the catalog, show stats (`skynet index …`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from index.catalog import track_embeddings
from index.catalog_models import TrackRow
from index.db import init_catalog, session_factory
from index.vectors import IndexPolicy, IndexStats, VectorIndex

PAGE_ROWS = 10_000


def index_path(directory: Path, embedding_version: str) -> Path:
    """Where a version's index lives (same rule as index/track_indexer.py)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in embedding_version)
    return directory / f"{safe}.faiss"


def catalog_pages(
    sessions: sessionmaker[Session], embedding_version: str, page_rows: int = PAGE_ROWS
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) pages of a version's embeddings in id order, one short session per page."""
    after_id = 0
    while True:
        with sessions() as session:
            ids, vectors = track_embeddings(session, embedding_version, after_id, page_rows)
        if len(ids) == 0:
            return
        yield ids, vectors
        after_id = int(ids[-1])


def catalog_count(sessions: sessionmaker[Session], embedding_version: str) -> int:
    with sessions() as session:
        return int(
            session.scalar(
                select(func.count(TrackRow.id)).where(
                    TrackRow.embedding_version == embedding_version,
                    TrackRow.embedding.is_not(None),
                )
            )
            or 0
        )


def build_from_pages(
    pages: Iterable[tuple[np.ndarray, np.ndarray]],
    dim: int,
    embedding_version: str,
    expected_count: int,
    policy: IndexPolicy | None = None,
    work_dir: Path | None = None,
) -> VectorIndex:
    """A fresh index from (ids, vectors) pages; trains the approximate index up front when
    `expected_count` reaches the policy's threshold, so a bulk load is trained only once."""
    index = VectorIndex(dim, embedding_version, policy, work_dir)
    sample_rows = index.policy.train_sample_rows
    held_ids: list[np.ndarray] = []
    held_vectors: list[np.ndarray] = []
    held = 0
    trained = expected_count < index.policy.approximate_from_count
    for ids, vectors in pages:
        if trained:
            index.add(ids, vectors)
            continue
        held_ids.append(ids)
        held_vectors.append(vectors)
        held += len(ids)
        if held >= min(sample_rows, expected_count):
            sample = np.concatenate(held_vectors)
            index.train_approximate(sample, max(expected_count, held))
            index.add(np.concatenate(held_ids), sample)
            held_ids, held_vectors, trained = [], [], True
    if held_ids:  # fewer vectors arrived than expected: add what came, the policy decides
        index.add(np.concatenate(held_ids), np.concatenate(held_vectors))
    index.wait_until_idle()
    return index


def rebuild(
    catalog_url: str, index_dir: Path, embedding_version: str, dim: int,
    policy: IndexPolicy | None = None,
) -> IndexStats:  # fmt: skip
    """Rebuild a version's index from the catalog and save it atomically over the old one."""
    sessions = session_factory(init_catalog(catalog_url))
    count = catalog_count(sessions, embedding_version)
    path = index_path(index_dir, embedding_version)
    index = build_from_pages(
        catalog_pages(sessions, embedding_version), dim, embedding_version, count, policy,
        index_dir,
    )  # fmt: skip
    index.save(path)
    return index.stats()


def stats(index_dir: Path, embedding_version: str) -> IndexStats:
    """Stats of the saved index of a version."""
    path = index_path(index_dir, embedding_version)
    if not path.exists():
        raise FileNotFoundError(f"no vector index for {embedding_version!r} at {path}")
    return VectorIndex.load(path, embedding_version).stats()


def format_stats(info: IndexStats) -> str:
    lines = [
        f"embedding version  {info.embedding_version}",
        f"kind               {info.kind}",
        f"vectors            {info.count}",
        f"dimension          {info.dim} (re-rank {info.rerank_dim}, energy kept "
        f"{info.kept_energy:.3f})",
        f"IVF lists          {info.lists}",
        f"resident MiB       {info.resident_bytes / 2**20:.1f}",
        f"memory-mapped MiB  {info.mapped_bytes / 2**20:.1f}",
        f"next build at      {info.next_build_at_count} vectors",
    ]
    if info.building:
        lines.append("background build   running")
    if info.last_error:
        lines.append(f"last build error   {info.last_error}")
    return "\n".join(lines)
