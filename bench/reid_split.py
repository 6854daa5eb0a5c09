"""Re-ID evaluation that cannot flatter (issue #16): tune/test split, learned metric, re-ranking.

Labels (`bench/data/vtest_reid_split.json`, how they were made is in the file): every tracker
track of vtest, grouped into persons by eye, each person in one split. The split is by time and
by identity: *tune* is frames 0-399 with the tune persons, *test* frames 400-794 with the test
persons; no person is in both. In each split every track seen there gives a gallery (its first
1.5 s, crops averaged like a finished track's embedding) and later queries (single crops ≥ 5 s
after it), and an end gallery (its last 1.5 s) with earlier queries; a query is ranked against the
split's galleries of the same kind, and every gallery of its person is relevant.

Every setting (the metric's PCA size and base share, query expansion, the calibration) is chosen
on tune, by leaving one tune person out at a time: the metric is learned from the other tune
persons' tracks and scored on the left-out person's queries, so tune never scores a metric on
tracks it learned from. The test figures come from one metric learned from all tune persons'
tracks (no test person's pixels), with 95 % bootstrap intervals over persons (1000 resamples).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
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
LEARN_MIN_TRACKS = 4  # the bench's tune persons have 8 tracks; leaving one person out keeps ≥ 6
BOOTSTRAP_RESAMPLES = 1000
PCA_DIMS = (16, 32, 64)
BASE_SHARES = (0.0, 0.5, 0.75)
QE_TOP = (0, 1, 2)  # query expansion: average the query with its top-k galleries

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


def split_benchmark(labels: Labels, frames: list[np.ndarray], name: str) -> Benchmark:
    """The later and earlier query sets of one split, as a `Benchmark` (crops cut once)."""
    starts: list[list[Box]] = []
    ends: list[list[Box]] = []
    later: list[tuple[int, Box]] = []
    earlier: list[tuple[int, Box]] = []
    persons: list[str] = []
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
        later += [(owner, q) for q in _spread([(f, b) for f, b in usable if f >= first + gap])]
        earlier += [(owner, q) for q in _spread([(f, b) for f, b in usable if f <= last - gap])]
    sets = [QuerySet("later", starts, later), QuerySet("earlier", ends, earlier)]
    keys: list[Key] = sorted(
        {(f, tuple(b)) for s in sets for g in s.galleries for f, b in g}
        | {(f, tuple(b)) for s in sets for _, (f, b) in s.queries}
    )
    names = sorted(set(persons))
    return Benchmark(
        sets=sets,
        person=np.array([names.index(p) for p in persons]),
        crops=[crop(frames[f], [max(0, v) for v in b]) for f, b in keys],
        row_of={k: n for n, k in enumerate(keys)},
    )


def score(bench: Benchmark, vectors: np.ndarray, qe_top: int = 0) -> list[Scored]:
    """Each query set's similarities (galleries: mean of their crops' unit rows, unit)."""

    def rows(items: list[Box]) -> np.ndarray:
        return vectors[[bench.row_of[(f, tuple(b))] for f, b in items]]

    out = []
    for query_set in bench.sets:
        means = np.stack([rows(g).mean(axis=0) for g in query_set.galleries])
        galleries = means / np.linalg.norm(means, axis=1, keepdims=True)
        owner_person = bench.person[[o for o, _ in query_set.queries]]
        scored = Scored(
            rows([q for _, q in query_set.queries]) @ galleries.T,
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
    """Settings chosen on tune: PCA size (0: no metric), base share, query expansion."""

    pca_dim: int
    base_share: float
    qe_top: int

    @property
    def name(self) -> str:
        if self.pca_dim == 0:
            return f"base_qe{self.qe_top}"
        return f"kissme{self.pca_dim}_base{self.base_share:.2f}_qe{self.qe_top}"


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
    )
    return metric.with_base_share(candidate.base_share)


def choose_on_tune(
    tune: Benchmark,
    tune_base: np.ndarray,
    labels: Labels,
    views: dict[int, TrackViews],
    base_version: str,
) -> tuple[Candidate, dict[str, list[Scored]]]:
    """Leave-one-tune-person-out scores of every candidate; the best by mAP, then rank-1."""
    candidates = [Candidate(0, 0.0, q) for q in QE_TOP] + [
        Candidate(d, s, q) for d in PCA_DIMS for s in BASE_SHARES for q in QE_TOP
    ]
    names = sorted({labels.person_of_track[t] for t in labels.tracks if t in views})
    held_out: dict[str, list[Scored]] = {c.name: [] for c in candidates}
    for person, name in enumerate(names):
        leave_out = {t for t in views if labels.person_of_track[t] == name}
        for candidate in candidates:
            if candidate.pca_dim == 0:
                vectors = tune_base
            else:
                vectors = learn(views, candidate, base_version, leave_out).project(tune_base)
            held_out[candidate.name] += of_person(score(tune, vectors, candidate.qe_top), person)

    def merit(c: Candidate) -> tuple[float, float]:
        result = summarise(held_out[c.name])
        return float(str(result["map"])), float(str(result["rank1"]))

    return max(candidates, key=merit), held_out


def run(
    frames: list[np.ndarray],
    embed_base: Callable[[list[np.ndarray]], np.ndarray],
    base_version: str,
) -> tuple[dict[str, object], ReidMetric | None, Calibration]:
    """The split benchmark's figures, the metric learned with the chosen settings (None: the
    base vector won on tune) carrying its calibration, and the base vector's calibration."""
    labels = Labels.load(frames[0].shape[1])
    tune, test = split_benchmark(labels, frames, "tune"), split_benchmark(labels, frames, "test")
    tune_base, test_base = embed_base(tune.crops), embed_base(test.crops)
    views = learning_views(labels, frames, embed_base)
    chosen, held_out = choose_on_tune(tune, tune_base, labels, views, base_version)
    tune_parts = held_out[chosen.name]
    calibration = fit_calibration(
        *pairs_of(tune_parts), f"vtest tune split (held-out persons), {chosen.name}"
    )
    base_tune = held_out["base_qe0"]
    base_calibration = fit_calibration(*pairs_of(base_tune), "vtest tune split, base vector")
    metric = None
    test_vectors = test_base
    if chosen.pca_dim:
        metric = learn(views, chosen, base_version, set()).with_calibration(calibration)
        test_vectors = metric.project(test_base)
    test_parts = score(test, test_vectors, chosen.qe_top)
    base_test = score(test, test_base)
    results: dict[str, object] = {"split": "see bench/data/vtest_reid_split.json"}
    for prefix, parts in (
        ("test", test_parts),
        ("tune", tune_parts),
        ("test_base", base_test),
        ("tune_base", base_tune),
    ):
        figures = summarise(parts)
        for key, value in figures.items():
            if prefix.endswith("_base") and key in ("queries", "persons", "galleries"):
                continue
            part, _, rest = prefix.partition("_")
            results[f"{part}_{key}{'_' + rest if rest else ''}"] = value
    results.update(
        chosen_on_tune=chosen.name,
        chosen_metric=None if metric is None else metric.embedding_version(),
        learned_from_tracks=len(views),
        learned_from_views=int(sum(len(v.vectors) for v in views.values())),
        test_calibration_reliability=reliability(calibration, *pairs_of(test_parts)),
        test_base_calibration_reliability=reliability(base_calibration, *pairs_of(base_test)),
        **{f"test_{k}": v for k, v in no_match_rates(calibration, test_parts).items()},
        **{f"test_base_{k}": v for k, v in no_match_rates(base_calibration, base_test).items()},
        tune_candidates={
            name: [summarise(parts)["rank1"], summarise(parts)["map"]]
            for name, parts in held_out.items()
        },
    )
    if metric is not None:
        results.update(
            learned_same_pairs=metric.counts.same_pairs,
            learned_different_pairs=metric.counts.different_pairs,
        )
    return results, metric, base_calibration
