"""Benchmark: FAISS index latency, recall@10 against exact search, and memory at 100k-10M vectors.

Vectors come from a seeded generator (bench/search_data.py) at the project's real embedding
dimension, chunk by chunk: each chunk updates the exact top-10 of every query (ground truth)
and is then added to the index, so the full-precision data never has to fit in memory.
Run: `python -m bench.search --sizes 100000,1000000` (results merged into
bench/results/search.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from bench.search_data import ClusteredSpec, ClusteredVectors
from detect.embedder import VECTOR_DIM
from index.vectors import IndexPolicy, VectorIndex
from index.vectors.ann import AnnConfig

RESULTS = Path(__file__).resolve().parent / "results" / "search.json"
K = 10
CHUNK_ROWS = 50_000
TRAIN_ROWS = 100_000
SWEEP = ((32, 200, 40), (64, 200, 40), (128, 600, 100), (64, 1500, 200))
FILTER_MODULUS = 100  # the filtered query allows ids ≡ 7 (mod 100): 1 % of the collection


@dataclass
class TopK:
    """Running exact top-k per query over streamed chunks."""

    ids: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls, queries: int) -> TopK:
        return cls(np.full((queries, K), -1, np.int64), np.full((queries, K), -np.inf, np.float32))

    def update(self, chunk_scores: np.ndarray, chunk_ids: np.ndarray) -> None:
        if chunk_scores.shape[1] == 0:
            return
        take = min(K, chunk_scores.shape[1])
        part = np.argpartition(-chunk_scores, take - 1, axis=1)[:, :take]
        scores = np.concatenate([self.scores, np.take_along_axis(chunk_scores, part, 1)], 1)
        ids = np.concatenate([self.ids, chunk_ids[part]], 1)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :K]
        self.scores = np.take_along_axis(scores, best, 1)
        self.ids = np.take_along_axis(ids, best, 1)


def size_label(count: int) -> str:
    if count % 1_000_000 == 0:
        return f"{count // 1_000_000}m"
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


def memory_mb() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def timed_searches(
    index: VectorIndex, queries: np.ndarray, truth: np.ndarray, allowed: np.ndarray | None
) -> tuple[list[float], float]:
    latencies_ms, found = [], 0
    for query, expected in zip(queries, truth, strict=True):
        start = time.perf_counter()
        hits = index.search(query, K, allowed_ids=allowed)
        latencies_ms.append((time.perf_counter() - start) * 1000)
        found += len({h.track_id for h in hits} & set(expected.tolist()))
    return latencies_ms, found / truth.size


def run_size(
    count: int, queries_count: int, work_dir: Path, dim: int, nprobe: int
) -> dict[str, float]:
    label = size_label(count)
    generator = ClusteredVectors(ClusteredSpec(dim=dim))
    queries = generator.queries(queries_count)
    shutil.rmtree(work_dir, ignore_errors=True)
    policy = IndexPolicy(retrain_growth_factor=1e9, ann=AnnConfig(nprobe=nprobe))
    index = VectorIndex(dim, "bench", policy, work_dir)
    started = time.perf_counter()
    train_rows = min(count, max(TRAIN_ROWS, 40 * AnnConfig().lists_for(count)))
    sample = np.concatenate(
        [generator.chunk(i, CHUNK_ROWS) for i in range(-(-train_rows // CHUNK_ROWS))]
    )[:train_rows]
    index.train_approximate(sample, count)
    train_s = time.perf_counter() - started
    del sample
    truth, filtered_truth = TopK.empty(queries_count), TopK.empty(queries_count)
    for chunk_index, start in enumerate(range(0, count, CHUNK_ROWS)):
        rows = min(CHUNK_ROWS, count - start)
        vectors = generator.chunk(chunk_index, CHUNK_ROWS)[:rows]
        ids = np.arange(start, start + rows, dtype=np.int64)
        scores = queries @ vectors.T
        truth.update(scores, ids)
        allowed = ids % FILTER_MODULUS == 7
        filtered_truth.update(scores[:, allowed], ids[allowed])
        index.add(ids, vectors)
        if chunk_index % 20 == 0:
            elapsed_s = time.perf_counter() - started
            print(f"  {label}: {start + rows} added, {elapsed_s:.0f} s", flush=True)
    build_s = time.perf_counter() - started
    timed_searches(index, queries, truth.ids, None)  # warm-up: page in what queries touch
    latencies, recall = timed_searches(index, queries, truth.ids, None)
    allowed_ids = np.arange(7, count, FILTER_MODULUS, dtype=np.int64)
    filtered_latencies, filtered_recall = timed_searches(
        index, queries, filtered_truth.ids, allowed_ids
    )
    stats = index.stats()
    memory = memory_mb()
    sweep = {}
    for probes, candidates, full in SWEEP:
        index.tune_search(probes, candidates, full)
        timed_searches(index, queries, truth.ids, None)
        tuned_latencies, tuned_recall = timed_searches(index, queries, truth.ids, None)
        key = f"{label}_nprobe{probes}_rerank{candidates}_full{full}"
        sweep[f"faiss_p95_ms_{key}"] = float(np.percentile(tuned_latencies, 95))
        sweep[f"recall_at_10_{key}"] = tuned_recall
    result = {
        f"faiss_p50_ms_{label}": float(np.percentile(latencies, 50)),
        f"faiss_p95_ms_{label}": float(np.percentile(latencies, 95)),
        f"recall_at_10_{label}": recall,
        f"faiss_filtered_1pct_p50_ms_{label}": float(np.percentile(filtered_latencies, 50)),
        f"faiss_filtered_1pct_p95_ms_{label}": float(np.percentile(filtered_latencies, 95)),
        f"recall_at_10_filtered_1pct_{label}": filtered_recall,
        f"bytes_per_vector_{label}": (stats.resident_bytes + stats.mapped_bytes) / count,
        f"resident_bytes_per_vector_{label}": stats.resident_bytes / count,
        f"mapped_bytes_per_vector_{label}": stats.mapped_bytes / count,
        f"rss_anon_mb_{label}": memory.get("RssAnon", 0.0),
        f"rss_mb_{label}": memory.get("VmRSS", 0.0),
        f"ivf_lists_{label}": stats.lists,
        f"ivf_nprobe_{label}": nprobe,
        f"rerank_candidates_{label}": AnnConfig().rerank_candidates,
        f"full_rerank_candidates_{label}": AnnConfig().full_rerank_candidates,
        f"pca_kept_energy_{label}": stats.kept_energy,
        f"train_s_{label}": train_s,
        f"build_s_{label}": build_s,
        **sweep,
    }
    print(json.dumps(result, indent=1), flush=True)
    del index
    shutil.rmtree(work_dir, ignore_errors=True)
    return result


def merge_results(path: Path, update: dict[str, float | str]) -> None:
    """Merge into the shared results file (other benchmarks write other keys)."""
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update(update)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated counts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads")
    parser.add_argument("--nprobe", type=int, default=AnnConfig().nprobe, help="IVF lists probed")
    parser.add_argument("--work-dir", type=Path, default=Path("var/bench-search"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) < TRAIN_ROWS // 10:
        raise SystemExit(f"--sizes must be counts of at least {TRAIN_ROWS // 10}")
    faiss.omp_set_num_threads(args.threads)
    dim = VECTOR_DIM
    for count in sizes:
        measured = run_size(count, args.queries, args.work_dir, dim, args.nprobe)
        result: dict[str, float | str] = dict(measured)
        result.update(
            search_dim=dim,
            search_faiss_threads=args.threads,
            search_date=datetime.now(UTC).isoformat(timespec="seconds"),
            date=datetime.now(UTC).date().isoformat(),
            machine=f"{platform.machine()} {os.cpu_count()} cores, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
            "shared with other jobs",
        )
        merge_results(args.out, result)


if __name__ == "__main__":
    main()
