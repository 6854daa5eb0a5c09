"""Vector index maintenance for the CLI: rebuild from the catalog, show stats (`skynet index …`)."""

from __future__ import annotations

from pathlib import Path

from index.catalog import count_embeddings
from index.catalog.engine import init_catalog, session_factory
from index.track_indexer import build_from_pages, catalog_pages, index_file
from index.vectors import IndexPolicy, IndexStats, VectorIndex


def rebuild(
    catalog_url: str, index_dir: Path, embedding_version: str, dim: int,
    policy: IndexPolicy | None = None,
) -> IndexStats:  # fmt: skip
    """Rebuild a version's index from the catalog and save it atomically over the old one."""
    sessions = session_factory(init_catalog(catalog_url))
    with sessions() as session:
        count = count_embeddings(session, embedding_version)
    path = index_file(index_dir, embedding_version)
    index = build_from_pages(
        catalog_pages(sessions, embedding_version), dim, embedding_version, count, policy,
        index_dir,
    )  # fmt: skip
    index.save(path)
    return index.stats()


def saved_stats(index_dir: Path, embedding_version: str) -> IndexStats | None:
    """Stats of the saved index of a version; None before its first save."""
    path = index_file(index_dir, embedding_version)
    if not path.exists():
        return None
    return VectorIndex.load(path, embedding_version).stats()


def format_unsaved(catalog_url: str, index_dir: Path, embedding_version: str) -> str:
    """What `skynet index stats` says before the first save: the index is empty, and whether
    the catalog already holds embeddings it can be built from."""
    sessions = session_factory(init_catalog(catalog_url))
    with sessions() as session:
        in_catalog = count_embeddings(session, embedding_version)
    if in_catalog:
        source = (
            f"the catalog holds {in_catalog} embeddings of this version: `skynet serve` builds "
            "the index from them at start, `skynet index rebuild` builds and saves it now"
        )
    else:
        source = "the catalog holds no embeddings of this version yet"
    return "\n".join(
        [
            f"embedding version  {embedding_version}",
            f"vectors            0 (no index saved yet under {index_dir})",
            source,
        ]
    )


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
