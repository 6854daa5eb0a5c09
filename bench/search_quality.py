"""Benchmark: re-identification quality of track search on vtest.avi (rank-1 and mAP).

Each labelled identity has an earlier *gallery* track (its first 1.5 s, several crops, embedded
and averaged like a finished track's embedding) and one *query* crop of the same person at
least 5 s later. Every query is ranked against all gallery tracks; rank-1 is the share of queries
whose own gallery track comes first, mAP the mean of 1 / rank (one relevant item per query).
Run for the combined colour + deep embedding and for the deep part alone.

Labels (`bench/data/vtest_identities.json`) were proposed by NanoDet + ByteTrack on the real
footage (`python -m bench.search_quality label`, which also writes a PNG contact sheet) and
checked by eye: identities whose query shows another person were dropped.

Run: `.venv/bin/python -m bench.search_quality` (writes bench/results/search_quality.json).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from detect.bytetrack import ByteTracker, with_colour_appearance
from detect.detector import NanoDetDetector
from detect.embedder import AppearanceEmbedder, EmbedderConfig
from models.build import default_cache_dir, model_path

VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
ROOT = Path(__file__).resolve().parent
LABELS_PATH = ROOT / "data" / "vtest_identities.json"
RESULTS_PATH = ROOT / "results" / "search_quality.json"
SHEET_PATH = ROOT / "results" / "vtest_identities.png"
FPS = 10
STEP_FRAMES = 2  # the tracker is tuned for 5 fps
GALLERY_FRAMES = 15
MIN_GAP_FRAMES = 50
MIN_QUERY_HEIGHT_PX = 60
EDGE_PX = 3
COLOUR_SHARES = (0.1, 0.2, 0.3)  # colour_share sweep, for choosing the embedder default

Embed = Callable[[list[np.ndarray]], np.ndarray]


def read_frames() -> list[np.ndarray]:
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


def propose(frames: list[np.ndarray]) -> list[dict[str, object]]:
    """Identities from detector + tracker: gallery boxes early in a track, one query box later."""
    models = default_cache_dir().resolve()
    detector = NanoDetDetector(model_path("nanodet", models))
    tracker = ByteTracker()
    boxes: dict[int, list[tuple[int, list[int]]]] = {}
    for index in range(0, len(frames), STEP_FRAMES):
        detections = detector.detect([frames[index]])[0]
        people = detections[np.array(detections.class_name, dtype=object) == "person"]
        tracked, _ = tracker.update(with_colour_appearance(people, frames[index]), index / FPS)
        assert tracked.tracker_id is not None
        for tid, xyxy in zip(tracked.tracker_id, tracked.xyxy, strict=True):
            box = [round(float(v)) for v in xyxy]
            boxes.setdefault(int(tid), []).append((index, box))
    identities = []
    width = frames[0].shape[1]
    for tid, seen in sorted(boxes.items()):
        start = seen[0][0]
        gallery = [(f, b) for f, b in seen if f < start + GALLERY_FRAMES]
        later = [
            (f, b)
            for f, b in seen
            if f >= start + GALLERY_FRAMES + MIN_GAP_FRAMES
            and b[3] - b[1] >= MIN_QUERY_HEIGHT_PX
            and b[0] > EDGE_PX
            and b[2] < width - EDGE_PX
        ]
        if not later:
            continue
        query = later[len(later) // 2]
        identities.append(
            {
                "tracker_id": tid,
                "gallery": [{"frame": f, "box": b} for f, b in gallery],
                "query": {"frame": query[0], "box": query[1]},
            }
        )
    return identities


def contact_sheet(frames: list[np.ndarray], identities: list[dict]) -> np.ndarray:
    """One row per identity: its gallery crops, a gap, then its query crop (128 px high)."""
    rows = []
    for n, identity in enumerate(identities):
        tiles = [crop(frames[g["frame"]], g["box"]) for g in identity["gallery"][:4]]
        tiles.append(np.full((128, 16, 3), 255, np.uint8))
        tiles.append(crop(frames[identity["query"]["frame"]], identity["query"]["box"]))
        tiles = [cv2.resize(t, (max(8, t.shape[1] * 128 // t.shape[0]), 128)) for t in tiles]
        row = np.concatenate(tiles, axis=1)
        row = cv2.copyMakeBorder(row, 2, 2, 40, 600 - row.shape[1] - 40, cv2.BORDER_CONSTANT)
        cv2.putText(row, str(n), (4, 70), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 255), 2)
        rows.append(row[:, :600])
    return np.concatenate(rows, axis=0)


def rank_of_own(queries: np.ndarray, gallery: np.ndarray) -> list[int]:
    """1-based rank of gallery item i among all gallery items for query i (cosine)."""
    scores = queries @ gallery.T
    own = np.diag(scores)
    return [int((scores[i] > own[i]).sum()) + 1 for i in range(len(queries))]


def evaluate(frames: list[np.ndarray], identities: list[dict], embed: Embed) -> dict[str, float]:
    gallery = []
    for identity in identities:
        vectors = embed([crop(frames[g["frame"]], g["box"]) for g in identity["gallery"]])
        mean = vectors.mean(axis=0)
        gallery.append(mean / np.linalg.norm(mean))
    queries = embed([crop(frames[i["query"]["frame"]], i["query"]["box"]) for i in identities])
    ranks = rank_of_own(queries, np.stack(gallery))
    return {
        "rank1": round(float(np.mean([r == 1 for r in ranks])), 4),
        "map": round(float(np.mean([1.0 / r for r in ranks])), 4),
    }


def persons_embedder(embedder: AppearanceEmbedder) -> Embed:
    def embed(crops: list[np.ndarray]) -> np.ndarray:
        return embedder.embed(crops, ["person"] * len(crops))

    return embed


def label() -> None:
    frames = read_frames()
    identities = propose(frames)
    LABELS_PATH.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "video": str(VIDEO),
        "box_format": "xyxy source pixels, frames 0-based as decoded by OpenCV",
        "method": "NanoDet + ByteTrack proposals (bench/search_quality.py label), checked by eye",
        "dropped_after_check": [],
        "identities": identities,
    }
    LABELS_PATH.write_text(json.dumps(doc, indent=1))
    cv2.imwrite(str(SHEET_PATH), contact_sheet(frames, identities))
    print(f"{len(identities)} identities → {LABELS_PATH}, sheet {SHEET_PATH}")


def main() -> None:
    doc = json.loads(LABELS_PATH.read_text())
    identities = doc["identities"]
    frames = read_frames()
    embedder = AppearanceEmbedder(model_path("mobilenetv2-embedder", default_cache_dir().resolve()))
    combined = evaluate(frames, identities, persons_embedder(embedder))
    deep = evaluate(frames, identities, embedder.embed_deep)
    model = model_path("mobilenetv2-embedder", default_cache_dir().resolve())
    sweep = {}
    for share in COLOUR_SHARES:
        variant = AppearanceEmbedder(model, EmbedderConfig(colour_share=share))
        scores = evaluate(frames, identities, persons_embedder(variant))
        sweep[f"reid_rank1_colour{share:.2f}"] = scores["rank1"]
        sweep[f"reid_map_colour{share:.2f}"] = scores["map"]
    results = {
        "reid_queries": len(identities),
        "reid_rank1": combined["rank1"],
        "reid_map": combined["map"],
        "reid_rank1_deep_only": deep["rank1"],
        "reid_map_deep_only": deep["map"],
        **sweep,
        "embedding_version": embedder.embedding_version,
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()} {platform.processor() or ''} cores={_cores()}".strip(),
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


def _cores() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    label() if sys.argv[1:] == ["label"] else main()
