"""Re-ID evaluation that cannot flatter (issue #16): tune/test split, learned metric, re-ranking.

Labels (`bench/data/vtest_reid_split.json`, how they were made is in the file): every tracker
track of vtest, grouped into persons by eye, each person in one split. The split is by time and
by identity: *tune* is frames 0-399 with the tune persons, *test* frames 400-794 with the test
persons; no person is in both. In each split every track seen there gives a gallery (its first
1.5 s, crops averaged like a finished track's embedding) and later queries (single crops ≥ 5 s
after it), and an end gallery (its last 1.5 s) with earlier queries; a query is ranked against the
split's galleries of the same kind, and every gallery of its person is relevant.

Queries are single crops (a picture search) or, as a track search, the mean of the query
track's views within ±0.6 s. Every setting (the metric's PCA size and base share, query
expansion, the calibration) is chosen on tune, for each query kind, by leaving one tune person out
at a time: the metric is learned from the other tune persons' tracks and scored on the left-out
person's queries, so tune never scores a metric on tracks it learned from; the simplest setting
within `MIN_GAIN` mAP of the best is kept. A metric for the test figures is learned from all
tune persons' tracks (no test person's pixels); 95 % bootstrap intervals over persons (1000
resamples).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.search_quality import (
    EDGE_PX,
    FPS,
    GALLERY_FRAMES,
    MIN_GAP_FRAMES,
    MIN_QUERY_HEIGHT_PX,
    STEP_FRAMES,
    Benchmark,
    Box,
    Key,
    QuerySet,
    _spread,
    average_precision,
    crop,
)
from detect.bytetrack import ByteTracker
from detect.detector import NanoDetDetector
from detect.reid_calibration import Calibration, fit_calibration, reliability
from detect.reid_metric import ReidMetric, TrackViews, learn_metric

LABELS_PATH = Path(__file__).resolve().parent / "data" / "vtest_reid_split.json"
MAX_OVERLAP = 0.2  # a query box covered more than this by another tracked box is not used
LEARN_VIEWS_PER_TRACK = 40
TRACK_QUERY_FRAMES = 6  # a track query: the track's usable views within ±0.6 s of the moment
LEARN_MIN_TRACKS = 4  # the bench's tune persons have 8 tracks; leaving one person out keeps ≥ 6
BOOTSTRAP_RESAMPLES = 1000
PCA_DIMS = (32, 64, 128)
SHRINKAGES = (0.001, 1.0, 10.0)
BASE_SHARES = (0.0, 0.5)
QE_TOP = (0, 1, 2)  # query expansion: average the query with its top-k galleries
MIN_GAIN = 0.01  # tune mAP a more costly setting must add over a simpler one

Outcome = tuple[float, bool]  # (AP, rank-1 hit)
Tracks = dict[int, list[Box]]


@dataclass(frozen=True)
class Scored:
    """One query set's query × gallery similarities, relevance, and each query's person."""

    scores: np.ndarray  # Q × G
    relevant: np.ndarray  # Q × G bool
    query_person: np.ndarray  # Q
    gallery_scores: np.ndarray  # G × G


def track_people(frames: list[np.ndarray], detector: NanoDetDetector) -> Tracks:
    """Person tracks of the real detector + tracker on every 2nd frame (the label proposals)."""
    tracker = ByteTracker()
    boxes: Tracks = {}
    for index in range(0, len(frames), STEP_FRAMES):
        detections = detector.detect([frames[index]])[0]
        people = detections[np.array(detections.class_name, dtype=object) == "person"]
        tracked, _ = tracker.update(people, index / FPS, frames[index])
        assert tracked.tracker_id is not None
        for tid, xyxy in zip(tracked.tracker_id, tracked.xyxy, strict=True):
            boxes.setdefault(int(tid), []).append((index, [round(float(v)) for v in xyxy]))
    return boxes


@dataclass(frozen=True)
class Labels:
    tracks: Tracks
    person_of_track: dict[int, str]
    split_of_person: dict[str, str]
    split_frame: int
    width_px: int

    @classmethod
    def load(cls, width_px: int, path: Path = LABELS_PATH) -> Labels:
        doc = json.loads(path.read_text())
        tracks = {int(k): [(r[0], r[1:]) for r in v] for k, v in doc["tracks"].items()}
        person_of_track = {
            t: name for name, person in doc["persons"].items() for t in person["tracks"]
        }
        split = {name: person["split"] for name, person in doc["persons"].items()}
        return cls(tracks, person_of_track, split, int(doc["split_frame"]), width_px)

    def in_split(self, track_id: int, name: str) -> list[Box]:
        """The track's boxes in the split's frames, if its person belongs to the split."""
        person = self.person_of_track.get(track_id)
        if person is None or self.split_of_person[person] != name:
            return []
        tune = name == "tune"
        return [(f, b) for f, b in self.tracks[track_id] if (f < self.split_frame) == tune]

    def usable_query(self, track_id: int, frame: int, box: list[int]) -> bool:
        """Whole (tall enough, off the frame edge) and not covered by another tracked box."""
        if box[3] - box[1] < MIN_QUERY_HEIGHT_PX or box[0] <= EDGE_PX:
            return False
        if box[2] >= self.width_px - EDGE_PX:
            return False
        area = (box[2] - box[0]) * (box[3] - box[1])
        for other, seen in self.tracks.items():
            for f, b in seen:
                if f == frame and other != track_id:
                    w = min(box[2], b[2]) - max(box[0], b[0])
                    h = min(box[3], b[3]) - max(box[1], b[1])
                    if w > 0 and h > 0 and w * h > MAX_OVERLAP * area:
                        return False
        return True


@dataclass(frozen=True)
class SplitBenchmark(Benchmark):
    """A split's query sets; each query also has its track's views around it (a track query)."""

    track_views: dict[Key, list[Box]] = field(default_factory=dict)


def split_benchmark(labels: Labels, frames: list[np.ndarray], name: str) -> SplitBenchmark:
    """The later and earlier query sets of one split (crops cut once)."""
    starts: list[list[Box]] = []
    ends: list[list[Box]] = []
    later: list[tuple[int, Box]] = []
    earlier: list[tuple[int, Box]] = []
    persons: list[str] = []
    track_views: dict[Key, list[Box]] = {}
    gap = GALLERY_FRAMES + MIN_GAP_FRAMES
    for track_id in sorted(labels.tracks):
        seen = labels.in_split(track_id, name)
        if not seen:
            continue
        first, last = seen[0][0], seen[-1][0]
        owner = len(starts)
        persons.append(labels.person_of_track[track_id])
        starts.append([(f, b) for f, b in seen if f < first + GALLERY_FRAMES])
        ends.append([(f, b) for f, b in seen if f > last - GALLERY_FRAMES])
        usable = [(f, b) for f, b in seen if labels.usable_query(track_id, f, b)]
        picked_later = _spread([(f, b) for f, b in usable if f >= first + gap])
        picked_earlier = _spread([(f, b) for f, b in usable if f <= last - gap])
        later += [(owner, q) for q in picked_later]
        earlier += [(owner, q) for q in picked_earlier]
        for f, b in picked_later + picked_earlier:
            near = [(g, c) for g, c in usable if abs(g - f) <= TRACK_QUERY_FRAMES]
            track_views[(f, tuple(b))] = near
    sets = [QuerySet("later", starts, later), QuerySet("earlier", ends, earlier)]
    keys: list[Key] = sorted(
        {(f, tuple(b)) for s in sets for g in s.galleries for f, b in g}
        | {(f, tuple(b)) for near in track_views.values() for f, b in near}
    )
    names = sorted(set(persons))
    return SplitBenchmark(
        sets=sets,
        person=np.array([names.index(p) for p in persons]),
        crops=[crop(frames[f], [max(0, v) for v in b]) for f, b in keys],
        row_of={k: n for n, k in enumerate(keys)},
        track_views=track_views,
    )


def score(
    bench: SplitBenchmark, vectors: np.ndarray, qe_top: int = 0, track_query: bool = False
) -> list[Scored]:
    """Each query set's similarities (galleries: mean of their crops' unit rows, unit); with
    `track_query` a query is the mean of its track's views around it, as a track search."""

    def rows(items: list[Box]) -> np.ndarray:
        return vectors[[bench.row_of[(f, tuple(b))] for f, b in items]]

    def query(box: Box) -> np.ndarray:
        if not track_query:
            return rows([box])[0]
        mean = rows(bench.track_views[(box[0], tuple(box[1]))]).mean(axis=0)
        return mean / np.linalg.norm(mean)

    out = []
    for query_set in bench.sets:
        means = np.stack([rows(g).mean(axis=0) for g in query_set.galleries])
        galleries = means / np.linalg.norm(means, axis=1, keepdims=True)
        owner_person = bench.person[[o for o, _ in query_set.queries]]
        scored = Scored(
            np.stack([query(q) for _, q in query_set.queries]) @ galleries.T,
            owner_person[:, None] == bench.person[None, :],
            owner_person,
            galleries @ galleries.T,
        )
        out.append(query_expansion(scored, qe_top) if qe_top else scored)
    return out


def query_expansion(scored: Scored, top: int) -> Scored:
    """Average-query expansion: the query plus its `top` best galleries, as one query.

    (q + Σ g_i)·g = q·g + Σ g_i·g, divided by 1 + top to keep the scale of a cosine."""
    best = np.argsort(-scored.scores, axis=1)[:, :top]
    expanded = scored.scores + scored.gallery_scores[best].sum(axis=1)
    return Scored(expanded / (1 + top), scored.relevant, scored.query_person, scored.gallery_scores)


def of_person(parts: list[Scored], person: int) -> list[Scored]:
    """Only the queries of one person."""
    return [
        Scored(p.scores[keep], p.relevant[keep], p.query_person[keep], p.gallery_scores)
        for p in parts
        for keep in [p.query_person == person]
    ]


def outcomes(parts: list[Scored]) -> list[Outcome]:
    return [
        average_precision(p.scores[k], p.relevant[k]) for p in parts for k in range(len(p.scores))
    ]


def summarise(parts: list[Scored]) -> dict[str, object]:
    """rank-1 and mAP over all queries of the parts, with bootstrap intervals over persons."""
    results = outcomes(parts)
    people = np.concatenate([p.query_person for p in parts])
    ap = np.array([a for a, _ in results])
    hit = np.array([h for _, h in results], np.float64)
    unique = np.unique(people)
    rng = np.random.default_rng(16)
    members = [np.flatnonzero(people == p) for p in unique]
    rank1s, maps = [], []
    for _ in range(BOOTSTRAP_RESAMPLES):
        picks = np.concatenate([members[i] for i in rng.integers(0, len(unique), len(unique))])
        rank1s.append(hit[picks].mean())
        maps.append(ap[picks].mean())
    return {
        "rank1": round(float(hit.mean()), 4),
        "map": round(float(ap.mean()), 4),
        "rank1_ci95": [round(float(v), 4) for v in np.percentile(rank1s, [2.5, 97.5])],
        "map_ci95": [round(float(v), 4) for v in np.percentile(maps, [2.5, 97.5])],
        "queries": len(results),
        "persons": len(unique),
        "galleries": len(parts[0].gallery_scores),
    }


def learning_views(
    labels: Labels, frames: list[np.ndarray], embed_base: Callable[[list[np.ndarray]], np.ndarray]
) -> dict[int, TrackViews]:
    """Base vectors of up to 12 spread views of every tune person's track (whole video)."""
    views = {}
    for track_id, seen in sorted(labels.tracks.items()):
        person = labels.person_of_track.get(track_id)
        if person is None or labels.split_of_person[person] != "tune" or len(seen) < 2:
            continue
        picks = np.linspace(0, len(seen) - 1, min(LEARN_VIEWS_PER_TRACK, len(seen)))
        chosen = [seen[i] for i in picks.round().astype(int)]
        crops = [crop(frames[f], [max(0, v) for v in b]) for f, b in chosen]
        views[track_id] = TrackViews(
            "vtest", seen[0][0] / FPS, seen[-1][0] / FPS + STEP_FRAMES / FPS, embed_base(crops)
        )
    return views


def pairs_of(parts: list[Scored]) -> tuple[np.ndarray, np.ndarray]:
    """Every query-gallery similarity of the parts and whether it is the same person."""
    return (
        np.concatenate([p.scores.ravel() for p in parts]),
        np.concatenate([p.relevant.ravel() for p in parts]),
    )


def no_match_rates(calibration: Calibration, parts: list[Scored]) -> dict[str, float]:
    """How often the top hit is flagged correctly: with the query's person among the galleries
    (flagged good when right), and with that person left out (flagged "no good match")."""
    good_when_right, flagged_when_absent = [], []
    for part in parts:
        for k in range(len(part.scores)):
            scores, relevant = part.scores[k], part.relevant[k]
            top = int(np.argmax(scores))
            if relevant[top]:
                good_when_right.append(calibration.is_good(float(scores[top])))
            strangers = scores[~relevant]
            if len(strangers):
                flagged_when_absent.append(not calibration.is_good(float(strangers.max())))
    return {
        "good_match_when_top_is_right": round(float(np.mean(good_when_right)), 4),
        "no_good_match_when_person_absent": round(float(np.mean(flagged_when_absent)), 4),
    }


@dataclass(frozen=True)
class Candidate:
    """Settings chosen on tune: PCA size (0: no metric), base share, query expansion, and
    whether the query is its track's views around the query moment (a track search)."""

    pca_dim: int
    base_share: float
    qe_top: int
    track_query: bool
    contrast: bool = False  # KISSME (else within-track whitening only)
    shrinkage: float = 0.0

    @property
    def name(self) -> str:
        query = "_trackquery" if self.track_query else ""
        if self.pca_dim == 0:
            return f"base_qe{self.qe_top}{query}"
        method = "kissme" if self.contrast else "whiten"
        return (
            f"{method}{self.pca_dim}_shrink{self.shrinkage:g}_base{self.base_share:.2f}"
            f"_qe{self.qe_top}{query}"
        )

    @property
    def learning(self) -> tuple[int, bool, float]:
        return self.pca_dim, self.contrast, self.shrinkage


def learn(
    views: dict[int, TrackViews], candidate: Candidate, base_version: str, leave_out: set[int]
) -> ReidMetric:
    tracks = [v for t, v in views.items() if t not in leave_out]
    metric = learn_metric(
        tracks,
        base_version,
        candidate.pca_dim,
        {"footage": "vtest, tracks of the tune persons"},
        min_tracks=LEARN_MIN_TRACKS,
        shrinkage=candidate.shrinkage,
        contrast=candidate.contrast,
    )
    return metric.with_base_share(candidate.base_share)


def choose_on_tune(
    tune: SplitBenchmark,
    tune_base: np.ndarray,
    labels: Labels,
    views: dict[int, TrackViews],
    base_version: str,
) -> tuple[list[Candidate], dict[str, list[Scored]]]:
    """Every candidate and its leave-one-tune-person-out scores."""
    learnings = [(d, c, k) for d in PCA_DIMS for c in (True, False) for k in SHRINKAGES]
    candidates = [Candidate(0, 0.0, q, a) for q in QE_TOP for a in (False, True)] + [
        Candidate(d, s, q, a, c, k)
        for d, c, k in learnings
        for s in BASE_SHARES
        for q in QE_TOP
        for a in (False, True)
    ]
    names = sorted({labels.person_of_track[t] for t in labels.tracks if t in views})
    held_out: dict[str, list[Scored]] = {c.name: [] for c in candidates}
    for person, name in enumerate(names):
        leave_out = {t for t in views if labels.person_of_track[t] == name}
        learned = {
            (d, c, k): learn(views, Candidate(d, 0.0, 0, False, c, k), base_version, leave_out)
            for d, c, k in learnings
        }
        for candidate in candidates:
            vectors = tune_base
            if candidate.pca_dim:
                metric = learned[candidate.learning].with_base_share(candidate.base_share)
                vectors = metric.project(tune_base)
            parts = score(tune, vectors, candidate.qe_top, candidate.track_query)
            held_out[candidate.name] += of_person(parts, person)

    return candidates, held_out


def tune_map(parts: list[Scored]) -> float:
    return float(np.mean([ap for ap, _ in outcomes(parts)]))


def simplest_best(candidates: list[Candidate], held_out: dict[str, list[Scored]]) -> Candidate:
    """The simplest candidate (no metric before a metric, less query expansion first) whose
    held-out tune mAP is within MIN_GAIN of the best: a setting must earn its cost."""
    best = max(tune_map(held_out[c.name]) for c in candidates)
    ordered = sorted(
        candidates, key=lambda c: (c.pca_dim > 0, c.qe_top, c.contrast, c.pca_dim, -c.base_share)
    )
    return next(c for c in ordered if tune_map(held_out[c.name]) >= best - MIN_GAIN)


def run(
    frames: list[np.ndarray],
    embed_base: Callable[[list[np.ndarray]], np.ndarray],
    base_version: str,
) -> tuple[dict[str, object], ReidMetric | None, Calibration]:
    """The split benchmark's figures for picture (single-crop) and track queries, the metric
    chosen for picture queries (None: the base vector) carrying its calibration, and the base
    vector's calibration (each fitted on held-out tune pairs)."""
    labels = Labels.load(frames[0].shape[1])
    tune, test = split_benchmark(labels, frames, "tune"), split_benchmark(labels, frames, "test")
    tune_base, test_base = embed_base(tune.crops), embed_base(test.crops)
    views = learning_views(labels, frames, embed_base)
    candidates, held_out = choose_on_tune(tune, tune_base, labels, views, base_version)
    picture = simplest_best([c for c in candidates if not c.track_query], held_out)
    track = simplest_best([c for c in candidates if c.track_query], held_out)
    best_metric = max(
        (c for c in candidates if c.pca_dim and not c.track_query),
        key=lambda c: tune_map(held_out[c.name]),
    )
    calibration = fit_calibration(
        *pairs_of(held_out[picture.name]), f"vtest tune split (held-out persons), {picture.name}"
    )
    metric = None
    results: dict[str, object] = {"split": "see bench/data/vtest_reid_split.json"}
    for chosen, suffix in ((picture, ""), (track, "_track_query")):
        test_vectors = test_base
        if chosen.pca_dim:
            learned = learn(views, chosen, base_version, set()).with_calibration(calibration)
            test_vectors = learned.project(test_base)
            metric = learned if chosen is picture else metric
        test_parts = score(test, test_vectors, chosen.qe_top, chosen.track_query)
        for split, parts in (("test", test_parts), ("tune", held_out[chosen.name])):
            for key, value in summarise(parts).items():
                if suffix and key in ("queries", "persons", "galleries"):
                    continue
                results[f"{split}_{key}{suffix}"] = value
        results[f"chosen_on_tune{suffix}"] = chosen.name
        if chosen is picture:
            results.update(
                test_calibration_reliability=reliability(calibration, *pairs_of(test_parts)),
                **{f"test_{k}": v for k, v in no_match_rates(calibration, test_parts).items()},
            )
    base_test = score(test, test_base)
    for key in ("rank1", "map", "rank1_ci95", "map_ci95"):
        results[f"test_{key}_base"] = summarise(base_test)[key]
        results[f"tune_{key}_base"] = summarise(held_out["base_qe0"])[key]
    results.update(
        chosen_metric=None if metric is None else metric.embedding_version(),
        learned_from_tracks=len(views),
        learned_from_views=int(sum(len(v.vectors) for v in views.values())),
        tune_candidates={
            name: [
                round(float(np.mean([hit for _, hit in outcomes(parts)])), 4),
                round(tune_map(parts), 4),
            ]
            for name, parts in held_out.items()
        },
    )
    # Diagnostic, not a headline: the best metric setting on tune learned from every labelled
    # person's tracks, the test persons' included (no labels used), as a deployment learns from
    # the day it searches. The test footage is seen, so this figure can flatter.
    everyone = Labels(
        labels.tracks,
        labels.person_of_track,
        dict.fromkeys(labels.split_of_person, "tune"),
        labels.split_frame,
        labels.width_px,
    )
    seen = learn(learning_views(everyone, frames, embed_base), best_metric, base_version, set())
    transductive = summarise(
        score(test, seen.project(test_base), best_metric.qe_top, best_metric.track_query)
    )
    results.update(
        transductive_setting=best_metric.name,
        test_rank1_transductive=transductive["rank1"],
        test_map_transductive=transductive["map"],
        test_rank1_ci95_transductive=transductive["rank1_ci95"],
        test_map_ci95_transductive=transductive["map_ci95"],
    )
    if metric is not None:
        results.update(
            learned_same_pairs=metric.counts.same_pairs,
            learned_different_pairs=metric.counts.different_pairs,
        )
    base_calibration = fit_calibration(
        *pairs_of(held_out["base_qe0"]), "vtest tune split (held-out persons), base vector"
    )
    results.update(
        test_base_calibration_reliability=reliability(base_calibration, *pairs_of(base_test)),
        **{f"test_base_{k}": v for k, v in no_match_rates(base_calibration, base_test).items()},
    )
    return results, metric, base_calibration
