"""Benchmark: ByteTrack identity quality (IDF1, MOTA, ID switches via motmetrics), colour naming
accuracy and tracker cost per frame, on synthetic scenes of real cut-outs and on labelled vtest.
Both use the detector as shipped (the `Settings` defaults: model, input size, score threshold).

Run: `.venv/bin/python -m bench.tracking` (writes bench/results/tracking.json).
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import motmetrics as mm
import numpy as np

from detect.attributes import colour_attributes
from detect.bytetrack import ByteTrackConfig, ByteTracker, iou_matrix
from detect.detections import Detections
from sample_streams import synthetic

if TYPE_CHECKING:
    from detect.detector import NanoDetDetector

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "tracking.json"
VTEST_LABELS_PATH = Path(__file__).resolve().parents[1] / "tests" / "data" / "vtest_tracks.json"
FPS = 5.0
MATCH_IOU = 0.5
SYNTHETIC_SEEDS = (1, 2, 3, 4)
SYNTHETIC_DURATION_S = 24.0


@dataclass(frozen=True)
class MotScores:
    """CLEAR-MOT and identity scores of one or more sequences (motmetrics)."""

    idf1: float
    mota: float
    id_switches: int
    false_positives: int
    misses: int
    objects: int


def accumulate(
    truth: Sequence[tuple[np.ndarray, np.ndarray]], tracked: Sequence[Detections]
) -> mm.MOTAccumulator:
    """motmetrics accumulator of (ids, xyxy) ground truth against tracked detections."""
    acc = mm.MOTAccumulator(auto_id=True)
    for (gt_ids, gt_xyxy), hyp in zip(truth, tracked, strict=True):
        distance = 1.0 - iou_matrix(gt_xyxy.astype(np.float32), hyp.xyxy)
        distance[distance > 1.0 - MATCH_IOU] = np.nan
        hyp_ids = [] if hyp.tracker_id is None else hyp.tracker_id.tolist()
        acc.update(gt_ids.tolist(), hyp_ids, distance)
    return acc


def scores(accumulators: Sequence[mm.MOTAccumulator]) -> MotScores:
    metrics = ["idf1", "mota", "num_switches", "num_false_positives", "num_misses", "num_objects"]
    names = [str(i) for i in range(len(accumulators))]
    summary = mm.metrics.create().compute_many(
        list(accumulators), metrics=metrics, names=names, generate_overall=True
    )
    row = summary.loc["OVERALL"]
    return MotScores(
        idf1=round(float(row["idf1"]), 4),
        mota=round(float(row["mota"]), 4),
        id_switches=int(row["num_switches"]),
        false_positives=int(row["num_false_positives"]),
        misses=int(row["num_misses"]),
        objects=int(row["num_objects"]),
    )


def drop_ignored(tracked: Sequence[Detections], ignore_xyxy: np.ndarray) -> list[Detections]:
    """Remove hypotheses on ignore regions (objects of the static background, such as vtest's
    parked van, that the detector rightly finds but the synthetic ground truth leaves out)."""
    out = []
    for hyp in tracked:
        overlap = iou_matrix(hyp.xyxy, ignore_xyxy.astype(np.float32))
        keep = overlap.max(axis=1, initial=0.0) < MATCH_IOU
        out.append(hyp[keep])
    return out


def run_tracker(
    tracker: ByteTracker,
    detections: Sequence[Detections],
    times_s: Sequence[float],
    images: Sequence[np.ndarray] | None = None,
) -> tuple[list[Detections], float]:
    """Tracked detections per frame and the tracker's mean cost in ms per frame; with `images`
    colour breaks near-ties (its descriptors' cost included)."""
    out, spent_s = [], 0.0
    for index, (dets, at_s) in enumerate(zip(detections, times_s, strict=True)):
        image = images[index] if images is not None else None
        started = time.perf_counter()
        tracked, _ended = tracker.update(dets, at_s, image)
        spent_s += time.perf_counter() - started
        out.append(tracked)
    return out, 1000.0 * spent_s / max(len(out), 1)


def synthetic_truth(seq: synthetic.SyntheticSequence) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(gt.object_ids, gt.xyxy) for gt in seq.truth]


def colour_accuracy(seed: int = 0) -> tuple[float, int]:
    """Share of colour fields named right on recoloured real crops, and the number of fields."""
    right = total = 0
    for case in synthetic.colour_cases(seed):
        named = colour_attributes([case.crop], case.class_name, [1.0])
        for key, expected in case.expected.items():
            total += 1
            right += named[key] == expected
    return right / max(total, 1), total


def load_vtest_labels(path: Path = VTEST_LABELS_PATH) -> dict[int, list[tuple[int, np.ndarray]]]:
    """Hand labels: {vtest frame index: [(identity, xyxy), ...]}."""
    raw = json.loads(path.read_text())
    frames: dict[int, list[tuple[int, np.ndarray]]] = {}
    for track in raw["tracks"]:
        for frame_index, *box in track["boxes"]:
            frames.setdefault(int(frame_index), []).append(
                (int(track["id"]), np.array(box, np.float32))
            )
    return frames


def shipped_settings() -> dict[str, Any]:
    """The `Settings` defaults: what a deployment runs unless configured otherwise."""
    from skynet.settings import Settings

    return {name: f.default for name, f in Settings.model_fields.items()}


def shipped_detector() -> NanoDetDetector:
    """NanoDet at the shipped settings (model, input size, score threshold, threads), as
    `detect.worker` builds it."""
    from detect.detector import NanoDetDetector
    from models.registry import model_path

    defaults = shipped_settings()
    return NanoDetDetector(
        model_path(defaults["detector_model"]),
        input_size=defaults["detector_input_px"],
        score_threshold=defaults["detector_score_threshold"],
        intra_op_threads=defaults["detector_threads"],
    )


def shipped_detector_name() -> str:
    defaults = shipped_settings()
    w, h = defaults["detector_input_px"]
    return f"{defaults['detector_model']} {w}x{h} score>={defaults['detector_score_threshold']}"


def main() -> None:  # pragma: no cover - benchmark entry point
    """Variants: `nanodet` (IoU + motion only), `nanodet_colour` (as shipped: colour breaks
    near-ties) and `noise` (ground truth through a detector noise model, with colour)."""
    detector = shipped_detector()
    ignore = detector.detect([synthetic.median_background()])[0].xyxy
    results: dict[str, object] = {}
    accs: dict[str, list[mm.MOTAccumulator]] = {"nanodet": [], "nanodet_colour": [], "noise": []}
    tracker_ms: dict[str, list[float]] = {name: [] for name in accs}
    detect_ms: list[float] = []
    for seed in SYNTHETIC_SEEDS:
        movers = synthetic.crossing_scene(seed, SYNTHETIC_DURATION_S)
        seq = synthetic.render_sequence(movers, FPS, SYNTHETIC_DURATION_S)
        times = [gt.at_s for gt in seq.truth]
        started = time.perf_counter()
        dets = [detector.detect([frame])[0] for frame in seq.frames]
        detect_ms.append(1000 * (time.perf_counter() - started) / len(dets))
        classes = {m.object_id: m.sprite.class_id for m in movers}
        variants: dict[str, tuple[list[Detections], list[np.ndarray] | None]] = {
            "nanodet": (dets, None),
            "nanodet_colour": (dets, seq.frames),
            "noise": (synthetic.noisy_detections(seq.truth, classes, seed), seq.frames),
        }
        for name, (variant, images) in variants.items():
            tracked, ms = run_tracker(ByteTracker(ByteTrackConfig()), variant, times, images)
            tracked = drop_ignored(tracked, ignore)
            accs[name].append(accumulate(synthetic_truth(seq), tracked))
            tracker_ms[name].append(ms)
    for name, acc_list in accs.items():
        s = scores(acc_list)
        results[f"synthetic_{name}"] = s.__dict__
        print(name, s)
    main_scores = scores(accs["nanodet_colour"])
    accuracy, fields = colour_accuracy()
    plain_ms = float(np.mean(tracker_ms["nanodet"]))
    shipped_ms = float(np.mean(tracker_ms["nanodet_colour"]))
    results.update(
        detector=shipped_detector_name(),
        idf1=main_scores.idf1,
        mota=main_scores.mota,
        id_switches=main_scores.id_switches,
        colour_accuracy=round(accuracy, 4),
        colour_fields=fields,
        tracker_ms_per_frame=round(plain_ms, 3),
        tracker_with_appearance_ms_per_frame=round(shipped_ms, 3),
        appearance_ms_per_frame=round(shipped_ms - plain_ms, 3),
        detector_ms_per_frame=round(float(np.mean(detect_ms)), 1),
        fps=FPS,
        synthetic_frames=int(len(SYNTHETIC_SEEDS) * SYNTHETIC_DURATION_S * FPS),
    )
    if VTEST_LABELS_PATH.is_file():
        results.update(vtest_results())
    results["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"] = f"{platform.machine()} {platform.processor() or ''} {platform.node()}"
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


# --- vtest hand labels (tests/data/vtest_tracks.json): the live pipeline, scored at 5 fps ---


@dataclass(frozen=True)
class VtestWindow:
    """The labelled vtest window: sampled frames, truth per frame and the unscored zone."""

    frame_indices: tuple[int, ...]
    truth: list[tuple[np.ndarray, np.ndarray]]  # (ids, xyxy) per sampled frame
    ignore_zone_xyxy: np.ndarray  # boxes whose centre lies inside are not scored


def load_vtest_window(path: Path = VTEST_LABELS_PATH) -> VtestWindow:
    """The hand-labelled window; raises ValueError if a label lies outside it."""
    raw = json.loads(path.read_text())
    window = raw["window"]
    indices = tuple(range(window["first_frame"], window["last_frame"] + 1, window["frame_step"]))
    labels = load_vtest_labels(path)
    stray = sorted(set(labels) - set(indices))
    if stray:
        raise ValueError(f"{path}: labels on frames outside the sampled window: {stray[:5]}")
    truth = []
    for i in indices:
        rows = labels.get(i, [])
        ids = np.array([r[0] for r in rows], np.int64)
        truth.append((ids, np.array([r[1] for r in rows], np.float32).reshape(-1, 4)))
    zone = np.array(raw["ignore_zone_centre_xyxy"], np.float32)
    return VtestWindow(indices, truth, zone)


def outside_zone(xyxy: np.ndarray, zone_xyxy: np.ndarray) -> np.ndarray:
    """Mask of boxes whose centre is not inside the zone."""
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    inside = np.all((centre >= zone_xyxy[:2]) & (centre <= zone_xyxy[2:]), axis=1)
    return ~inside


def live_pipeline_tracks(window: VtestWindow) -> tuple[list[Detections], float]:
    """Person tracks of the live pipeline on the window and the detector's ms per frame.

    As in `detect.worker`: the shipped detector, colour appearance, ByteTracker with the
    settings' track age.
    """
    detector = shipped_detector()
    tracker = ByteTracker(ByteTrackConfig(max_age_s=shipped_settings()["track_max_age_s"]))
    step, first = window.frame_indices[1] - window.frame_indices[0], window.frame_indices[0]
    frames = synthetic.read_video_frames(
        synthetic.VTEST_PATH, step=1, limit=window.frame_indices[-1] + 1
    )
    out, spent_s = [], 0.0
    for index, frame in enumerate(frames):
        if index < first or (index - first) % step:
            continue
        started = time.perf_counter()
        dets = detector.detect([frame])[0]
        spent_s += time.perf_counter() - started
        tracked, _ended = tracker.update(dets, index / 10.0, frame)
        out.append(tracked[tracked.class_id == synthetic.PERSON])
    return out, 1000.0 * spent_s / max(len(out), 1)


def vtest_scores(window: VtestWindow, tracked: Sequence[Detections]) -> MotScores:
    """Scores of person tracks against the labels, boxes centred in the ignore zone left out."""
    truth = [
        (ids[keep], xyxy[keep])
        for ids, xyxy in window.truth
        for keep in [outside_zone(xyxy, window.ignore_zone_xyxy)]
    ]
    hyps = [h[outside_zone(h.xyxy, window.ignore_zone_xyxy)] for h in tracked]
    return scores([accumulate(truth, hyps)])


def precision_recall(s: MotScores) -> tuple[float, float]:
    matched = s.objects - s.misses
    return matched / max(matched + s.false_positives, 1), matched / max(s.objects, 1)


def vtest_results() -> dict[str, object]:  # pragma: no cover - benchmark
    """The vtest figures under their own keys (see `update_vtest_results`)."""
    window = load_vtest_window()
    tracked, detector_ms = live_pipeline_tracks(window)
    s = vtest_scores(window, tracked)
    precision, recall = precision_recall(s)
    return {
        "vtest": {**s.__dict__, "frames": len(window.frame_indices), "fps": FPS},
        "vtest_idf1": s.idf1,
        "vtest_mota": s.mota,
        "vtest_id_switches": s.id_switches,
        "vtest_precision": round(precision, 4),
        "vtest_recall": round(recall, 4),
        "vtest_detector_ms_per_frame": round(detector_ms, 1),
    }


def update_vtest_results(path: Path = RESULTS_PATH) -> dict[str, object]:  # pragma: no cover
    """Re-measure vtest only and merge its keys into the results file, keeping the others."""
    results = json.loads(path.read_text()) if path.is_file() else {}
    results.update(vtest_results())
    path.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
