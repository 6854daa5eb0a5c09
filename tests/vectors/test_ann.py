"""Approximate vector index: lifecycle, recall, filters both ways, deletes, files, rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import index.vectors.files
from bench.search_data import ClusteredSpec, ClusteredVectors
from index.track_indexer import build_from_pages
from index.vectors import IndexPolicy, VectorIndex
from index.vectors.ann import AnnConfig
from index.vectors.filtered_search import FilterPolicy

DIM = 64
SPEC = ClusteredSpec(dim=DIM, latent_dim=24, clusters=40, residual_energy=0.03, seed=3)
ANN = AnnConfig(
    rerank_dim=32, ivf_dim=16, pq_bytes=8, nprobe=8, rerank_candidates=100,
    full_rerank_candidates=30,
)  # fmt: skip


def policy(filters: FilterPolicy | None = None, threshold: int = 2000) -> IndexPolicy:
    return IndexPolicy(
        approximate_from_count=threshold,
        retrain_growth_factor=2.0,
        train_sample_rows=5000,
        ann=ANN,
        filters=filters or FilterPolicy(),
    )


def data(count: int) -> tuple[np.ndarray, np.ndarray]:
    generator = ClusteredVectors(SPEC)
    return np.arange(10_000, 10_000 + count), generator.chunk(0, count)


def queries(count: int = 40) -> np.ndarray:
    return ClusteredVectors(SPEC).queries(count)


def brute_force(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return ids[np.argsort(-(vectors @ query), kind="stable")[:k]].tolist()


def recall(index: VectorIndex, vectors: np.ndarray, ids: np.ndarray, allowed: np.ndarray | None,
           k: int = 10) -> float:  # fmt: skip
    mask = np.ones(len(ids), bool) if allowed is None else np.isin(ids, allowed)
    permitted = set(ids[mask].tolist())
    found = 0
    for query in queries():
        hits = index.search(query, k, allowed_ids=allowed)
        assert {h.track_id for h in hits} <= permitted
        found += len(
            {h.track_id for h in hits} & set(brute_force(vectors[mask], ids[mask], query, k))
        )
    return found / (k * len(queries()))


def approximate_index(
    count: int = 3000, filters: FilterPolicy | None = None
) -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    ids, vectors = data(count)
    index = VectorIndex(DIM, "v1", policy(filters))
    index.add(ids, vectors)
    assert index.wait_until_idle(60)
    assert index.stats().kind == "approximate"
    return index, ids, vectors


def test_switches_to_approximate_in_background_and_keeps_serving_and_writing() -> None:
    ids, vectors = data(4000)
    index = VectorIndex(DIM, "v1", policy())
    index.add(ids[:1500], vectors[:1500])
    assert index.stats().kind == "exact"
    index.add(ids[1500:2500], vectors[1500:2500])  # crosses 2000: the build starts
    assert len(index.search(queries(1)[0], 5)) == 5  # still answering during the build
    index.add(ids[2500:3000], vectors[2500:3000])  # written while building: replayed later
    index.remove(ids[:10])
    assert index.wait_until_idle(60)
    stats = index.stats()
    assert (stats.kind, stats.count, stats.last_error) == ("approximate", 2990, "")
    live = slice(10, 3000)
    assert recall(index, vectors[live], ids[live], None) >= 0.95
    hit = index.search(vectors[2999], 1)[0]
    assert hit.track_id == ids[2999] and hit.score == pytest.approx(1.0, abs=0.01)


def test_retrains_with_more_lists_as_it_grows() -> None:
    index, _, _ = approximate_index(2200)
    lists_before = index.stats().lists
    more_ids, more = np.arange(20_000, 24_000), ClusteredVectors(SPEC).chunk(1, 4000)
    index.add(more_ids, more)
    assert index.wait_until_idle(60)
    stats = index.stats()
    assert stats.count == 6200 and stats.lists > lists_before
    assert index.search(more[17], 1)[0].track_id == 20_017


@pytest.mark.parametrize(
    ("fraction", "filters"),
    [
        (0.01, FilterPolicy(exact_scan_max_ids=100)),  # tiny: exact scan of stored vectors
        (0.1, FilterPolicy(exact_scan_max_ids=50, prefilter_max_fraction=0.2)),  # IDSelector
        (0.5, FilterPolicy(exact_scan_max_ids=50, prefilter_max_fraction=0.2)),  # post-filter
    ],
)
def test_filtered_approximate_search_matches_brute_force(
    fraction: float, filters: FilterPolicy
) -> None:
    index, ids, vectors = approximate_index(filters=filters)
    allowed = np.random.default_rng(1).choice(ids, size=int(fraction * len(ids)), replace=False)
    assert recall(index, vectors, ids, allowed) >= 0.95


def test_post_filter_falls_back_to_an_exact_scan_when_over_fetch_is_not_enough() -> None:
    filters = FilterPolicy(exact_scan_max_ids=10, prefilter_max_fraction=0.0, max_fetch=200)
    index, ids, vectors = approximate_index(filters=filters)
    query = queries(1)[0]
    far = ids[np.argsort(vectors @ query)[:1500]]  # the half least like the query: all fail
    got = [h.track_id for h in index.search(query, 10, allowed_ids=far)]
    want = brute_force(vectors[np.isin(ids, far)], ids[np.isin(ids, far)], query, 10)
    assert got[0] in want[:3] and len(set(got) & set(want)) >= 8  # exact up to int8 rounding


@pytest.mark.parametrize("fraction", [0.01, 0.6])
def test_filtered_exact_search_equals_brute_force(fraction: float) -> None:
    ids, vectors = data(1500)
    index = VectorIndex(DIM, "v1", policy(FilterPolicy(exact_scan_max_ids=20)))
    index.add(ids, vectors)
    allowed = np.random.default_rng(2).choice(ids, size=int(fraction * len(ids)), replace=False)
    mask = np.isin(ids, allowed)
    for query in queries(10):
        got = [h.track_id for h in index.search(query, 10, allowed_ids=allowed)]
        assert got == brute_force(vectors[mask], ids[mask], query, 10)


def test_deletes_and_replacements_on_the_approximate_index() -> None:
    index, ids, vectors = approximate_index()
    assert index.remove(ids[:100]) == 100 and index.remove(ids[:100]) == 0
    assert len(index) == 2900
    for row in range(0, 100, 10):
        assert ids[row] not in {h.track_id for h in index.search(vectors[row], 20)}
    index.add(ids[200:201], vectors[300:301])  # id 200 now carries row 300's vector
    assert len(index) == 2900
    assert {h.track_id for h in index.search(vectors[300], 2)} == {ids[200], ids[300]}


def test_approximate_save_load_round_trip_and_crash_during_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, ids, vectors = approximate_index()
    path = tmp_path / "v1.faiss"
    index.save(path)
    before = [h.track_id for h in index.search(vectors[5], 10)]
    loaded = VectorIndex.load(path, "v1", policy())
    assert len(loaded) == 3000 and [h.track_id for h in loaded.search(vectors[5], 10)] == before

    index.add(np.arange(50_000, 50_500), vectors[:500])  # appends to the saved store file
    index.remove(ids[:50])

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash before the manifest switch")

    monkeypatch.setattr(index_files_os(), "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        index.save(path)
    monkeypatch.undo()
    old = VectorIndex.load(path, "v1", policy())
    assert len(old) == 3000 and [h.track_id for h in old.search(vectors[5], 10)] == before
    index.save(path)
    new = VectorIndex.load(path, "v1", policy())
    assert len(new) == 3450
    named = set(json.loads(path.read_text())["files"].values())
    assert {p.name for p in tmp_path.iterdir()} == named | {path.name}


def test_a_saved_approximate_index_knows_where_it_stops_and_whether_it_changed(
    tmp_path: Path,
) -> None:
    """What open_vector_index completes a snapshot from, and TrackIndexer's timer saves on."""
    index, ids, vectors = approximate_index()
    assert index.max_track_id() == int(ids.max()) and index.unsaved_writes > 0
    path = tmp_path / "v1.faiss"
    index.save(path)
    assert index.unsaved_writes == 0
    index.remove(ids[-1:])  # the snapshot was taken before: it still ends at the last id
    loaded = VectorIndex.load(path, "v1", policy())
    assert loaded.max_track_id() == int(ids.max()) and loaded.unsaved_writes == 0
    loaded.add([90_000], vectors[:1])
    assert loaded.max_track_id() == 90_000 and loaded.unsaved_writes == 1
    assert VectorIndex(DIM, "v1").max_track_id() == 0


def index_files_os() -> object:
    return index.vectors.files.os


def test_exact_index_crash_during_save_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, vectors = data(300)
    exact = VectorIndex(DIM, "v1", policy())
    exact.add(ids[:200], vectors[:200])
    path = tmp_path / "v1.faiss"
    exact.save(path)
    exact.add(ids[200:], vectors[200:])
    monkeypatch.setattr(
        index_files_os(), "replace", lambda *_: (_ for _ in ()).throw(OSError("boom"))
    )
    with pytest.raises(OSError, match="boom"):
        exact.save(path)
    monkeypatch.undo()
    assert len(VectorIndex.load(path, "v1")) == 200
    with pytest.raises(ValueError, match="embedding version"):
        VectorIndex.load(path, "v2")


def test_rebuild_from_catalog_pages_trains_once_and_finds_everything() -> None:
    ids, vectors = data(3000)
    pages = ((ids[i : i + 700], vectors[i : i + 700]) for i in range(0, 3000, 700))
    index = build_from_pages(pages, DIM, "v1", expected_count=3000, policy=policy())
    stats = index.stats()
    assert (stats.kind, stats.count) == ("approximate", 3000)
    assert recall(index, vectors, ids, None) >= 0.95
    small = build_from_pages(iter([(ids[:50], vectors[:50])]), DIM, "v1", 50, policy())
    assert small.stats().kind == "exact" and len(small) == 50


def test_search_effort_can_be_tuned_and_is_saved(tmp_path: Path) -> None:
    index, ids, vectors = approximate_index()
    index.tune_search(nprobe=64, rerank_candidates=400, full_rerank_candidates=100)
    assert recall(index, vectors, ids, None) >= 0.98
    index.save(tmp_path / "v1.faiss")
    manifest = json.loads((tmp_path / "v1.faiss").read_text())
    assert manifest["config"]["rerank_candidates"] == 400
