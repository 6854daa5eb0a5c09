"""Benchmark: re-identification quality of track search on vtest.avi (rank-1 and mAP).

Each labelled identity (a tracker track checked by eye) has an earlier *gallery* track (its first
1.5 s, several crops, embedded and averaged like a finished track's embedding) and:

- headline: one *query* crop of the same person at least 5 s later (13 queries);
- secondary: up to 6 *later queries* (≥ 5 s after the gallery, ≥ 1 s apart) against those
  galleries, and the reverse direction: up to 6 *earlier queries* against *end galleries* (the
  track's last 1.5 s, queries ≥ 5 s before it), 128 queries in all after the eye check.

Every query is ranked against all galleries of its set. Some tracks are the same person leaving
the frame and coming back (labels `same_person`); any gallery of the query's person is relevant.
rank-1 is the share of queries whose top gallery is of their person; mAP the mean average
precision (1 / rank when the person has one gallery). Reported for the run-time embedding
(`detect.embedder`, deep stripes + Lab colour, with the `embedder_model` setting's trunk: float by
default), its deep part alone, its colour part alone, the v2 embedding (HSV colour of
`detect.colour` at colour_share 0.3), a colour_share sweep, and the other trunk (suffix `_float`
or `_int8`) combined and deep-only.

Labels (`bench/data/vtest_identities.json`) were proposed by NanoDet + ByteTrack on the real
footage (`python -m bench.search_quality label`, which also writes a PNG contact sheet) and
checked by eye: identities or queries that show another person, or are hidden, were dropped.

Run: `.venv/bin/python -m bench.search_quality` (writes bench/results/search_quality.json).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from detect.bytetrack import ByteTracker
from detect.colour import colour_descriptors
from detect.detector import NanoDetDetector
from detect.embedder import AppearanceEmbedder
from detect.lab_colour import lab_colour_descriptors
from detect.reid_calibration import save_base_calibration
from models.registry import default_cache_dir, model_path
from skynet.settings import Settings

VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
ROOT = Path(__file__).resolve().parent
LABELS_PATH = ROOT / "data" / "vtest_identities.json"
RESULTS_PATH = ROOT / "results" / "search_quality.json"
SHEET_PATH = ROOT / "results" / "vtest_identities.png"
FPS = 10
STEP_FRAMES = 2  # the tracker is tuned for 5 fps
GALLERY_FRAMES = 15
MIN_GAP_FRAMES = 50
SECONDARY_STEP_FRAMES = 10
SECONDARY_PER_IDENTITY = 6
MIN_QUERY_HEIGHT_PX = 60
EDGE_PX = 3
V2_COLOUR_SHARE = 0.3
COLOUR_SHARES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)  # sweep, for choosing the embedder default
EMBEDDER_MODELS = {"mobilenetv2-embedder": "float", "mobilenetv2-embedder-int8": "int8"}

Box = tuple[int, list[int]]  # (frame, xyxy)
Key = tuple[int, tuple[int, ...]]  # a Box made hashable


@dataclass(frozen=True)
class QuerySet:
    """Galleries (crop boxes per identity) and queries (owner identity index, box)."""

    name: str
    galleries: list[list[Box]]
    queries: list[tuple[int, Box]]


def read_frames() -> list[np.ndarray]:
    if not VIDEO.is_file():
        raise FileNotFoundError(f"{VIDEO} is missing: install the Debian package opencv-doc")
    capture = cv2.VideoCapture(str(VIDEO))
    frames: list[np.ndarray] = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def crop(frame: np.ndarray, box: list[int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return frame[y1:y2, x1:x2].copy()


def _spread(candidates: list[Box]) -> list[Box]:
    """Candidates ≥ 1 s apart (greedy from the first), then at most 6 evenly spread among them."""
    spaced: list[Box] = []
    for frame, box in candidates:
        if not spaced or frame - spaced[-1][0] >= SECONDARY_STEP_FRAMES:
            spaced.append((frame, box))
    if len(spaced) <= SECONDARY_PER_IDENTITY:
        return spaced
    picks = np.linspace(0, len(spaced) - 1, SECONDARY_PER_IDENTITY).round().astype(int)
    return [spaced[i] for i in picks]


def _boxes(seen: list[Box]) -> list[dict[str, object]]:
    return [{"frame": f, "box": b} for f, b in seen]


def propose(frames: list[np.ndarray]) -> list[dict[str, object]]:
    """Identities from detector + tracker: galleries at both ends of a track, queries between."""
    models = default_cache_dir().resolve()
    detector = NanoDetDetector(model_path("nanodet", models))
    tracker = ByteTracker()
    boxes: dict[int, list[Box]] = {}
    for index in range(0, len(frames), STEP_FRAMES):
        detections = detector.detect([frames[index]])[0]
        people = detections[np.array(detections.class_name, dtype=object) == "person"]
        tracked, _ = tracker.update(people, index / FPS, frames[index])
        assert tracked.tracker_id is not None
        for tid, xyxy in zip(tracked.tracker_id, tracked.xyxy, strict=True):
            box = [round(float(v)) for v in xyxy]
            boxes.setdefault(int(tid), []).append((index, box))
    identities = []
    width = frames[0].shape[1]

    def whole(b: list[int]) -> bool:
        return b[3] - b[1] >= MIN_QUERY_HEIGHT_PX and b[0] > EDGE_PX and b[2] < width - EDGE_PX

    for tid, seen in sorted(boxes.items()):
        start, end = seen[0][0], seen[-1][0]
        gap = GALLERY_FRAMES + MIN_GAP_FRAMES
        later = [(f, b) for f, b in seen if f >= start + gap and whole(b)]
        if not later:
            continue
        earlier = [(f, b) for f, b in seen if f <= end - gap and whole(b)]
        query = later[len(later) // 2]
        identities.append(
            {
                "tracker_id": tid,
                "gallery": _boxes([(f, b) for f, b in seen if f < start + GALLERY_FRAMES]),
                "query": {"frame": query[0], "box": query[1]},
                "later_queries": _boxes(_spread(later)),
                "end_gallery": _boxes([(f, b) for f, b in seen if f > end - GALLERY_FRAMES]),
                "earlier_queries": _boxes(_spread(earlier)),
            }
        )
    return identities


def _tile(image: np.ndarray, height_px: int = 128) -> np.ndarray:
    return cv2.resize(image, (max(8, image.shape[1] * height_px // image.shape[0]), height_px))


def contact_sheet(frames: list[np.ndarray], identities: list[dict]) -> np.ndarray:
    """One row per identity (tracker id at left): 3 gallery crops | headline query | later
    queries ‖ (red bar) last end-gallery crop | earlier queries. 128 px high crops."""
    rows = []
    white = np.full((128, 12, 3), 255, np.uint8)
    red = np.full((128, 16, 3), (0, 0, 255), np.uint8)
    for identity in identities:

        def cut(item: dict) -> np.ndarray:
            return _tile(crop(frames[item["frame"]], item["box"]))

        tiles = [cut(g) for g in identity["gallery"][:3]]
        tiles += [white, cut(identity["query"]), white]
        tiles += [cut(q) for q in identity["later_queries"]]
        tiles += [red, cut(identity["end_gallery"][-1]), white]
        tiles += [cut(q) for q in identity["earlier_queries"]]
        row = cv2.copyMakeBorder(np.concatenate(tiles, axis=1), 2, 2, 48, 0, cv2.BORDER_CONSTANT)
        row = cv2.copyMakeBorder(row, 0, 0, 0, max(0, 1400 - row.shape[1]), cv2.BORDER_CONSTANT)
        text = str(identity["tracker_id"])
        cv2.putText(row, text, (4, 70), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 255), 2)
        rows.append(row[:, :1400])
    return np.concatenate(rows, axis=0)


def query_sets(identities: list[dict]) -> list[QuerySet]:
    """The headline set, and the two directions of the secondary set."""

    def boxes(items: list[dict]) -> list[Box]:
        return [(i["frame"], i["box"]) for i in items]

    galleries = [boxes(i["gallery"]) for i in identities]
    headline = [(n, (i["query"]["frame"], i["query"]["box"])) for n, i in enumerate(identities)]
    later = [(n, q) for n, i in enumerate(identities) for q in boxes(i["later_queries"])]
    ends = [boxes(i["end_gallery"]) for i in identities]
    earlier = [(n, q) for n, i in enumerate(identities) for q in boxes(i["earlier_queries"])]
    return [
        QuerySet("headline", galleries, headline),
        QuerySet("later", galleries, later),
        QuerySet("earlier", ends, earlier),
    ]


def person_ids(identities: list[dict], same_person: list[dict]) -> np.ndarray:
    """Per identity, a person id: the smallest tracker id of its `same_person` group."""
    person = {i["tracker_id"]: i["tracker_id"] for i in identities}
    for group in same_person:
        for tid in group["tracker_ids"]:
            person[tid] = min(group["tracker_ids"])
    return np.array([person[i["tracker_id"]] for i in identities])


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> tuple[float, bool]:
    """AP of one query's gallery scores (ties broken against the query) and whether rank 1 hits."""
    order = np.lexsort((relevant, -scores))  # equal scores: irrelevant galleries first
    hits = relevant[order]
    positions = np.flatnonzero(hits) + 1
    return float(np.mean(np.arange(1, len(positions) + 1) / positions)), bool(hits[0])


def evaluate(
    vectors: np.ndarray, row_of: dict[Key, int], query_set: QuerySet, person: np.ndarray
) -> list[tuple[float, bool]]:
    """(AP, rank-1 hit) per query; `vectors` holds one unit row per crop, found by `row_of`."""

    def rows(items: list[Box]) -> np.ndarray:
        return vectors[[row_of[(f, tuple(b))] for f, b in items]]

    means = np.stack([rows(g).mean(axis=0) for g in query_set.galleries])
    galleries = means / np.linalg.norm(means, axis=1, keepdims=True)
    scores = rows([q for _, q in query_set.queries]) @ galleries.T
    return [
        average_precision(scores[k], person == person[owner])
        for k, (owner, _) in enumerate(query_set.queries)
    ]


def summary(outcomes: list[tuple[float, bool]]) -> tuple[float, float]:
    """(rank-1, mAP) rounded to 4 places."""
    return (
        round(float(np.mean([hit for _, hit in outcomes])), 4),
        round(float(np.mean([ap for ap, _ in outcomes])), 4),
    )


def combine(deep: np.ndarray, colour: np.ndarray, colour_share: float) -> np.ndarray:
    """Unit rows of concat(√(1−s)·deep, √s·colour), the embedder's formula."""
    rows = np.concatenate([np.sqrt(1.0 - colour_share) * deep, np.sqrt(colour_share) * colour], 1)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def label() -> None:
    frames = read_frames()
    identities = propose(frames)
    LABELS_PATH.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "video": str(VIDEO),
        "box_format": "xyxy source pixels, frames 0-based as decoded by OpenCV",
        "method": "NanoDet + ByteTrack proposals (bench/search_quality.py label), checked by eye",
        "same_person": [],
        "dropped_after_check": [],
        "dropped_queries_after_check": [],
        "identities": identities,
    }
    LABELS_PATH.write_text(json.dumps(doc, indent=1))
    cv2.imwrite(
        str(SHEET_PATH), contact_sheet(frames, identities), [cv2.IMWRITE_PNG_COMPRESSION, 9]
    )
    print(f"{len(identities)} identities → {LABELS_PATH}, sheet {SHEET_PATH}")


@dataclass(frozen=True)
class Benchmark:
    """The labelled query sets, each identity's person id, and every crop they use, once."""

    sets: list[QuerySet]
    person: np.ndarray
    crops: list[np.ndarray]
    row_of: dict[Key, int]

    def measure(self, vectors: np.ndarray) -> dict[str, tuple[float, float]]:
        """(rank-1, mAP) of `vectors` (one unit row per crop of `crops`) on each set."""
        outcome = {s.name: evaluate(vectors, self.row_of, s, self.person) for s in self.sets}
        outcome["secondary"] = outcome["later"] + outcome["earlier"]
        return {name: summary(part) for name, part in outcome.items()}


def load_benchmark() -> Benchmark:
    doc = json.loads(LABELS_PATH.read_text())
    identities = doc["identities"]
    sets = query_sets(identities)
    keys: list[Key] = sorted(
        {(f, tuple(b)) for s in sets for g in s.galleries for f, b in g}
        | {(f, tuple(b)) for s in sets for _, (f, b) in s.queries}
    )
    frames = read_frames()
    return Benchmark(
        sets=sets,
        person=person_ids(identities, doc["same_person"]),
        crops=[crop(frames[f], list(b)) for f, b in keys],
        row_of={k: n for n, k in enumerate(keys)},
    )


def main() -> None:
    from bench import reid_split  # it builds on this module's query sets

    bench = load_benchmark()
    names = ["person"] * len(bench.crops)
    models_dir = default_cache_dir().resolve()
    shipped = Settings().embedder_model
    embedder = AppearanceEmbedder(model_path(shipped, models_dir))
    deep = embedder.embed_deep(bench.crops)
    lab = lab_colour_descriptors(bench.crops, names)
    methods = {
        "": embedder.embed(bench.crops, names),
        "_deep_only": deep,
        "_colour_only": lab,
        "_v2": combine(deep, colour_descriptors(bench.crops, names), V2_COLOUR_SHARE),
        **{f"_colour{s:.2f}": combine(deep, lab, s) for s in COLOUR_SHARES},
    }
    for name, label in EMBEDDER_MODELS.items():
        if name != shipped:
            other = AppearanceEmbedder(model_path(name, models_dir))
            methods[f"_{label}"] = other.embed(bench.crops, names)
            methods[f"_{label}_deep_only"] = other.embed_deep(bench.crops)
    results: dict[str, object] = {
        "reid_queries": len(bench.sets[0].queries),
        "reid_secondary_queries": len(bench.sets[1].queries) + len(bench.sets[2].queries),
        "reid_persons": len(set(bench.person.tolist())),
    }
    for suffix, vectors in methods.items():
        measured = bench.measure(vectors)
        parts = ["headline", "secondary"]
        if not suffix.startswith("_colour0"):  # the sweep reports the two headline figures
            parts += ["later", "earlier"]
        for part in parts:
            name = "" if part == "headline" else f"_{part}"
            rank1, mean_ap = measured[part]
            results[f"reid{name}_rank1{suffix}"] = rank1
            results[f"reid{name}_map{suffix}"] = mean_ap
    split_results, metric, calibration = reid_split.run(
        read_frames(), lambda crops: embedder.embed_base(crops, ["person"] * len(crops)),
        embedder.base_embedding_version,
    )  # fmt: skip
    results["reid_note"] = (
        "reid_* figures: all 13 identities, the set ~700 variants were chosen on (tune "
        "figures); test_* figures: the held-out split (bench/reid_split.py)"
    )
    results.update(split_results)
    if metric is not None:
        results["reid_metric_file"] = str(metric.save(ROOT / "results").relative_to(ROOT.parent))
    save_base_calibration(embedder.base_embedding_version, calibration)  # vehicles' kept
    results.update(
        embedder_model=shipped,
        embedding_version=embedder.embedding_version,
        embedding_dim=embedder.dim,
        date=datetime.now(UTC).date().isoformat(),
        machine=f"{platform.machine()} {platform.processor() or ''} cores={_cores()}".strip(),
    )
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


def _cores() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    label() if sys.argv[1:] == ["label"] else main()
