"""Search restricted to an allowed id set: pre-filter when selective, post-filter otherwise.

Exact index: FAISS IDSelectorBatch pre-filter (selective) or over-fetch post-filter (broad);
both give the exact answer. Approximate index: exact scan of the allowed rows' stored vectors
(tiny sets), IVF search under an IDSelectorBitmap with widened probing (selective sets), or
over-fetch post-filter (broad sets); whenever a path returns fewer hits than it should, the exact
scan of the allowed rows answers instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

from index.vectors.ann import AnnIndex, AnnQuery
from index.vectors.exact import ExactIndex

Result = tuple[np.ndarray, np.ndarray]  # (track ids, scores), best first


@dataclass(frozen=True, slots=True)
class FilterPolicy:
    """When to pre-filter and how far to over-fetch when post-filtering."""

    exact_scan_max_ids: int = 20_000
    full_scan_max_ids: int = 5_000
    prefilter_max_fraction: float = 0.05
    overfetch_factor: float = 2.0
    max_fetch: int = 20_000

    def __post_init__(self) -> None:
        if self.exact_scan_max_ids < 0 or self.max_fetch < 1:
            raise ValueError("exact_scan_max_ids must be ≥ 0 and max_fetch ≥ 1")
        if not 0.0 <= self.prefilter_max_fraction <= 1.0:
            raise ValueError(
                f"prefilter_max_fraction must be in [0, 1], got {self.prefilter_max_fraction}"
            )
        if self.overfetch_factor < 1.0:
            raise ValueError(f"overfetch_factor must be ≥ 1, got {self.overfetch_factor}")

    def is_selective(self, allowed_count: int, total: int) -> bool:
        return (
            allowed_count <= self.exact_scan_max_ids
            or allowed_count <= self.prefilter_max_fraction * total
        )

    def first_fetch(self, wanted: int, allowed_count: int, total: int) -> int:
        fraction = max(allowed_count, 1) / max(total, 1)
        return max(wanted, math.ceil(self.overfetch_factor * wanted / fraction))


def exact_filtered(
    index: ExactIndex, query: np.ndarray, k: int, allowed: np.ndarray, policy: FilterPolicy
) -> Result:
    """Exact top-`k` among `allowed` (sorted unique track ids)."""
    total = len(index)
    if policy.is_selective(len(allowed), total):
        return index.search_among(query, k, allowed)
    fetch = policy.first_fetch(k, len(allowed), total)
    while fetch <= policy.max_fetch:
        ids, scores = index.search(query, fetch)
        keep = np.isin(ids, allowed, assume_unique=True)
        if keep.sum() >= k or len(ids) >= total:
            return ids[keep][:k], scores[keep][:k]
        fetch *= 4
    return index.search_among(query, k, allowed)


def ann_exact_scan(
    ann: AnnIndex, query: AnnQuery, k: int, allowed_rows: np.ndarray, policy: FilterPolicy
) -> Result:
    """Score every allowed row: on the full vectors when there are few (exact), else on the
    projected store first (then the full vectors of the best)."""
    if len(allowed_rows) > policy.full_scan_max_ids:
        return ann.rerank(query, allowed_rows, k)
    scores = ann.full_scores(query, allowed_rows)
    best = np.argsort(-scores, kind="stable")[:k]
    return ann.store.track_ids_of(allowed_rows[best]), scores[best]


def ann_filtered(
    ann: AnnIndex, query_full: np.ndarray, k: int, allowed: np.ndarray, policy: FilterPolicy
) -> Result:
    """Top-`k` among `allowed` track ids on the approximate index."""
    query = ann.query(query_full)
    rows = ann.store.rows_of(allowed)
    rows = rows[rows >= 0]
    total = len(ann)
    if len(rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    wanted = min(k, len(rows))
    config = ann.config
    if len(rows) <= policy.exact_scan_max_ids:
        return ann_exact_scan(ann, query, k, rows, policy)
    fraction = len(rows) / max(total, 1)
    if fraction <= policy.prefilter_max_fraction:
        mask = np.zeros(ann.store.row_count, dtype=bool)
        mask[rows] = True
        bitmap = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        nprobe = math.ceil(config.nprobe / math.sqrt(fraction))
        candidates = ann.candidates(query, config.rerank_candidates, nprobe, selector)
        if len(candidates) >= wanted:
            return ann.rerank(query, candidates, k)
        return ann_exact_scan(ann, query, k, rows, policy)
    fetch = policy.first_fetch(max(config.rerank_candidates, k), len(rows), total)
    allowed_mask = np.zeros(ann.store.row_count, dtype=bool)
    allowed_mask[rows] = True
    while fetch <= policy.max_fetch:
        candidates = ann.candidates(query, fetch, config.nprobe, None)
        passing = candidates[allowed_mask[candidates]]
        if len(passing) >= wanted:
            return ann.rerank(query, passing, k)
        fetch *= 4
    return ann_exact_scan(ann, query, k, rows, policy)


def ann_unfiltered(ann: AnnIndex, query_full: np.ndarray, k: int) -> Result:
    query = ann.query(query_full)
    fetch = max(ann.config.rerank_candidates, k)
    return ann.rerank(query, ann.candidates(query, fetch, ann.config.nprobe, None), k)
