"""Archive-path decode variants (issue #15), chosen on TUNE material only.

For each variant of `ingest.archive.ArchiveSettings` this measures
- decode cost: process CPU ms per footage-second of `ArchiveReader` (scan + sampled decode +
  scaling) over the whole 80 s busy and typical 1080p main files, and the frames it decoded;
- person recall on the tune part of the labels: `tests/data/vtest_tracks.json` frames < 100
  (every 2nd frame, as the live path samples; every person outside the ignore zone, see
  bench/motion_regions.py), the main file's frame at each label time scaled to 640×360 as the
  variant scales it, INT8 NanoDet 448×256 (the archive's detector settings); and the live path's
  recall on the sub file's same frames as reference.

The headline recall (`recall_delta`, bench/reindex.py) is on `tests/data/vtest_persons.json`,
which this does not look at. Variants that change which frames are analysed (sampling) are not
in here: they change tracks, not per-frame recall.

Run: `flock /tmp/skynet-bench.lock .venv/bin/python -m bench.reindex_tune`
(→ bench/results/reindex_tune.json, ≈ 1 min).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from bench.live import machine_description
from bench.motion_regions import SAMPLE_STEP, TUNE_BEFORE_FRAME, Labelled, load_labels, match_frame
from bench.reindex_live import frames_at
from detect.detections import Detections
from index.reindex_units import AnalysisSettings, load_models
from ingest.archive import ArchiveReader, ArchiveSettings
from models.build import ensure_models
from sample_streams.footage import SOURCE_FPS, SOURCE_HEIGHT_PX, SOURCE_WIDTH_PX, build_variant
from skynet.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "reindex_tune.json"
CACHE_DIR = REPO_ROOT / "var" / "sample_streams"
MODELS_DIR = REPO_ROOT / "var" / "models"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
BASELINE = ArchiveSettings(skip_gop_tails=False, interpolation="BILINEAR")
VARIANTS: dict[str, ArchiveSettings] = {
    "before (every frame of active GOPs, BILINEAR)": BASELINE,
    "GOP tails skipped, BILINEAR": replace(BASELINE, skip_gop_tails=True),
    "GOP tails skipped, AREA": replace(BASELINE, skip_gop_tails=True, interpolation="AREA"),
    "GOP tails skipped, FAST_BILINEAR": replace(
        BASELINE, skip_gop_tails=True, interpolation="FAST_BILINEAR"
    ),
    "GOP tails skipped, AREA, 2 decoder threads": replace(
        BASELINE, skip_gop_tails=True, interpolation="AREA", decoder_threads=2
    ),
}


@dataclass(frozen=True)
class VariantFigures:
    decode_cpu_ms_per_footage_second_busy: float
    decode_cpu_ms_per_footage_second_typical: float
    decoded_frames_busy: int
    analysed_frames_busy: int
    tune_recall: float


def decode_cost(path: Path, settings: ArchiveSettings) -> tuple[float, int, int]:
    """(CPU ms per footage-second, frames decoded, frames analysed) of reading `path`."""
    data = path.read_bytes()
    reader = ArchiveReader(data, "bench", T0, settings)
    cpu0 = time.process_time()
    frames = list(reader.frames(reader.scan()))
    cpu_s = time.process_time() - cpu0
    footage_s = max(f.pts_s for f in frames) if frames else 80.0
    footage_s = max(footage_s, 79.0)  # the sample files are 79.5 s
    return cpu_s * 1000 / footage_s, reader.stats.decoded_frames, len(frames)


def tune_labels() -> dict[int, Labelled]:
    scale = 360 / SOURCE_HEIGHT_PX
    labels = load_labels(scale, (640 - SOURCE_WIDTH_PX * scale) / 2)
    return {
        i: label for i, label in labels.items()
        if i < TUNE_BEFORE_FRAME and i % SAMPLE_STEP == 0
    }  # fmt: skip


def recall(
    path: Path,
    labels: dict[int, Labelled],
    detect: Callable[[list[np.ndarray]], list[Detections]],
    interpolation: str | None,
) -> float:
    indices = sorted(labels)
    frames = frames_at(path, [i / SOURCE_FPS for i in indices], (640, 360), interpolation)
    found = detect(frames)
    persons = hits = 0
    for index, detections in zip(indices, found, strict=True):
        truth, hit, _ = match_frame(labels[index], detections)
        persons, hits = persons + truth, hits + hit
    return hits / max(persons, 1)


def main() -> None:
    cv2.setNumThreads(1)
    settings = Settings()
    ensure_models(MODELS_DIR.resolve(), [settings.detector_model, settings.embedder_model])
    analysis = AnalysisSettings()
    models = load_models(
        settings.detector_model, settings.embedder_model, MODELS_DIR.resolve(), analysis
    )
    busy, typical = build_variant("busy", CACHE_DIR), build_variant("typical", CACHE_DIR)
    labels = tune_labels()
    load_start = os.getloadavg()[0]
    out: dict[str, object] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_description(),
        "tune_frames": len(labels),
        "tune_labels": "tests/data/vtest_tracks.json frames < 100, every 2nd",
        "live_tune_recall": round(recall(busy.sub_path, labels, models.detector.detect, None), 3),
    }
    variants: dict[str, object] = {}
    for name, variant in VARIANTS.items():
        busy_ms, decoded, analysed = decode_cost(busy.main_path, variant)
        typical_ms, _, _ = decode_cost(typical.main_path, variant)
        figures = VariantFigures(
            round(busy_ms, 1), round(typical_ms, 1), decoded, analysed,
            round(recall(busy.main_path, labels, models.detector.detect, variant.interpolation), 3),
        )  # fmt: skip
        variants[name] = asdict(figures) | {"settings": asdict(variant)}
        print(name, json.dumps(asdict(figures)), flush=True)
    out["variants"] = variants
    out["load_avg_1m_start_end"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    RESULTS_PATH.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
