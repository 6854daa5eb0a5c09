"""Person recall of the motion-region path vs whole frame vs tiles, on labelled vtest frames.

The live setting: vtest (768×576, 10 fps) as the 640×360 sub stream carries it (pillarboxed),
sampled at 5 fps (every 2nd frame), the motion gate of ingest run on every sample, INT8 NanoDet
at 448×256 with score ≥ 0.35. Labels: `tests/data/vtest_tracks.json` (frames 0–198, every
person outside an ignore zone, 100 frames) and `tests/data/vtest_persons.json` (frames 220–700
of it; its earlier frames are inside the tracks window and scored there). Split by time: frames
< 100 are the tune part (region settings chosen there), frames ≥ 100 the test part (headline,
with a bootstrap 95 % CI over frames).

Cost is counted (detector inputs per frame: whole-frame passes + canvas fill) and timed as CPU
ms per frame of both paths back to back over the same frames (a same-run ratio, one thread);
capacity is `bench.live`'s job.

Run: `.venv/bin/python -m bench.motion_regions` (merges its keys into bench/results/models.json).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from bench.models import RESULTS, VTEST, _cpu_model, sub_stream_frames
from detect.detections import Detections
from detect.detector import NanoDetDetector, TiledDetector, TileGrid
from detect.motion_regions import MotionRegionDetector, MotionRegionSettings
from detect.nms import box_iou
from ingest.frame import Frame
from ingest.motion import MotionGate
from models.build import ensure_models

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SWEEP = RESULTS.parent / "motion_regions_tune.json"  # every tuned setting's tune figures
LIVE_INPUT_PX = (448, 256)
LIVE_SCORE = 0.35
SAMPLE_STEP = 2  # 10 fps → 5 fps, as ingest samples
TUNE_BEFORE_FRAME = 100
IOU_MATCH = 0.5
MAX_FP_PER_FRAME = 0.5
BOOTSTRAP = 2000
MAX_COST_FRAMES = 1.0  # detector inputs per frame: no more than the whole-frame path's one
TUNE_GRID = {
    "padding_px": (12, 16, 24),
    "enlarge_below_px": (0, 96, 160),
    "min_moving_frac": (0.1,),
    "nms_iou": (0.6, 0.5, 0.4),
}


@dataclass(frozen=True)
class Labelled:
    """Person boxes of one sampled frame in sub-stream pixels; boxes centred in `ignore` (if
    any) are not scored."""

    frame_index: int
    persons_xyxy: np.ndarray
    ignore_xyxy: np.ndarray | None


@dataclass(frozen=True)
class Score:
    recall: float
    fp_per_frame: float
    frames: int
    persons: int
    recall_ci: tuple[float, float] = (0.0, 0.0)
    fp_per_frame_ci: tuple[float, float] = (0.0, 0.0)


def load_labels(scale: float, pad_x_px: float) -> dict[int, Labelled]:
    """Both label files, mapped to sub-stream pixels (× `scale`, + `pad_x_px` in x)."""

    def to_sub(xyxy: np.ndarray) -> np.ndarray:
        out = np.asarray(xyxy, np.float64).reshape(-1, 4) * scale
        out[:, [0, 2]] += pad_x_px
        return out

    tracks = json.loads((DATA / "vtest_tracks.json").read_text())
    window = tracks["window"]
    zone = to_sub(np.array(tracks["ignore_zone_centre_xyxy"]))[0]
    rows: dict[int, list[list[float]]] = {
        i: [] for i in range(window["first_frame"], window["last_frame"] + 1, window["frame_step"])
    }
    for track in tracks["tracks"]:
        for frame_index, *box in track["boxes"]:
            rows[int(frame_index)].append(box)
    labels = {i: Labelled(i, _distinct(to_sub(np.array(b))), zone) for i, b in rows.items()}
    for frame in json.loads((DATA / "vtest_persons.json").read_text())["frames"]:
        index = frame["frame_index"]
        if index > window["last_frame"]:
            labels[index] = Labelled(index, to_sub(np.array(frame["persons_xyxy"])), None)
    return labels


def _distinct(xyxy: np.ndarray) -> np.ndarray:
    """Boxes minus repeats (IoU ≥ 0.9 with an earlier one): the tracks file holds 7 boxes twice,
    under two ids, where a gap fill gave two tracks the same detection; one person, one box."""
    keep: list[int] = []
    for i in range(len(xyxy)):
        if not keep or box_iou(xyxy[i : i + 1], xyxy[keep]).max() < 0.9:
            keep.append(i)
    return xyxy[keep].reshape(-1, 4)


def _outside(xyxy: np.ndarray, zone: np.ndarray | None) -> np.ndarray:
    if zone is None or not len(xyxy):
        return np.ones(len(xyxy), bool)
    cx, cy = (xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2
    return ~((cx >= zone[0]) & (cx <= zone[2]) & (cy >= zone[1]) & (cy <= zone[3]))


def match_frame(label: Labelled, found: Detections) -> tuple[int, int, int]:
    """(persons, hits, false positives) of one frame: greedy one-to-one matching at IoU 0.5."""
    truth = label.persons_xyxy[_outside(label.persons_xyxy, label.ignore_xyxy)]
    persons = found.xyxy[found.class_id == 0].astype(np.float64)
    persons = persons[_outside(persons, label.ignore_xyxy)]
    iou = box_iou(truth, persons) if len(truth) and len(persons) else np.zeros((0, 0))
    hits = 0
    while iou.size and iou.max() >= IOU_MATCH:
        i, j = np.unravel_index(iou.argmax(), iou.shape)
        hits += 1
        iou[i, :] = 0
        iou[:, j] = 0
    return len(truth), hits, len(persons) - hits


def score(rows: list[tuple[int, int, int]], seed: int = 16) -> Score:
    """Recall and false positives per frame, with a bootstrap 95 % CI over frames."""
    counts = np.array(rows, np.float64)
    persons, hits, fps = counts.sum(axis=0)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(counts), (BOOTSTRAP, len(counts)))
    sampled = counts[picks].sum(axis=1)  # BOOTSTRAP × 3
    recalls = sampled[:, 1] / np.maximum(sampled[:, 0], 1)
    fp_rates = sampled[:, 2] / len(counts)
    return Score(
        round(hits / persons, 4),
        round(fps / len(counts), 3),
        len(counts),
        int(persons),
        _ci(recalls, 4),
        _ci(fp_rates, 3),
    )


def _ci(samples: np.ndarray, digits: int) -> tuple[float, float]:
    low, high = np.percentile(samples, [2.5, 97.5])
    return round(float(low), digits), round(float(high), digits)


def sampled_frames(last_index: int) -> list[Frame]:
    """vtest frames 0..`last_index` at 5 fps as sub-stream `Frame`s with the gate's masks
    (frames the gate refuses carry an empty mask and are not analysed live)."""
    capture = cv2.VideoCapture(str(VTEST))
    raw = []
    for index in range(last_index + 1):
        ok, image = capture.read()
        if not ok:
            raise RuntimeError(f"{VTEST} ended at frame {index}")
        if index % SAMPLE_STEP == 0:
            raw.append((index, image))
    subs, _ = sub_stream_frames([image for _, image in raw], [np.zeros((0, 4))] * len(raw))
    gate = MotionGate()
    frames = []
    for (index, _), image in zip(raw, subs, strict=True):
        at_s = index / 10.0
        moved = gate.should_analyse(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), at_s)
        mask = gate.last_mask if moved and gate.last_mask is not None else None
        frames.append(
            Frame(image, "vtest", at_s, datetime.fromtimestamp(at_s, UTC), _mask_or_empty(mask))
        )
    return frames


def _mask_or_empty(mask: np.ndarray | None) -> np.ndarray:
    return mask if mask is not None else np.zeros((90, 160), bool)


def frame_index(frame: Frame) -> int:
    return round(frame.pts_s * 10)


def run_regions(
    detector: MotionRegionDetector, frames: list[Frame]
) -> tuple[dict[int, Detections], float, float]:
    """Every frame through the region path in order; (detections by frame index, detector
    inputs per frame, whole-frame passes per frame). Inputs count canvases by their fill (crop
    pixels / canvas pixels), as when the regions of a batch of cameras share canvases."""
    found = {}
    packed0, full0 = detector.packed_px, detector.full_passes
    canvas_px = detector.settings.canvas_px[0] * detector.settings.canvas_px[1]
    analysed = [f for f in frames if f.motion_mask is not None and f.motion_mask.any()]
    for frame in frames:  # frames the gate refused are not analysed (as live)
        found[frame_index(frame)] = Detections.empty()
    for frame in analysed:
        found[frame_index(frame)] = detector.detect_frames([frame])[0]
    fulls = (detector.full_passes - full0) / max(1, len(analysed))
    fill = (detector.packed_px - packed0) / canvas_px / max(1, len(analysed))
    return found, fill + fulls, fulls


def cpu_ms_per_frame(
    base: NanoDetDetector, settings: MotionRegionSettings, frames: list[Frame], cameras: int
) -> tuple[float, float]:
    """CPU ms per frame (one thread, process time) of the whole-frame path and the region path
    in batches of `cameras` frames, each from its own camera (camera k gets every k-th frame),
    measured back to back: a same-run ratio that the machine's load changes little."""
    batches = [frames[i : i + cameras] for i in range(0, len(frames) - cameras + 1, cameras)]
    count = len(batches) * cameras
    base.detect([f.image for f in batches[0]])  # warm-up for this batch shape
    started = time.process_time()
    for batch in batches:
        base.detect([f.image for f in batch])
    whole_ms = (time.process_time() - started) * 1000 / count
    regions = MotionRegionDetector(base, settings)
    started = time.process_time()
    for batch in batches:
        regions.detect_frames([replace(f, camera_id=f"cam{k}") for k, f in enumerate(batch)])
    return whole_ms, (time.process_time() - started) * 1000 / count


def evaluate(labels: dict[int, Labelled], found: dict[int, Detections], tune: bool) -> Score:
    rows = [
        match_frame(label, found[index])
        for index, label in sorted(labels.items())
        if (index < TUNE_BEFORE_FRAME) == tune
    ]
    return score(rows)


def measure() -> dict[str, object]:
    model = ensure_models(None, ["nanodet-int8"])["nanodet-int8"]
    base = NanoDetDetector(model, LIVE_INPUT_PX, LIVE_SCORE, intra_op_threads=1)
    scale, width_px = 360 / 576, round(768 * 360 / 576 / 2) * 2
    labels = load_labels(scale, (640 - width_px) // 2)
    frames = sampled_frames(max(labels))
    by_index = {frame_index(f): f for f in frames}
    labelled = [by_index[i] for i in sorted(labels)]
    out: dict[str, object] = {}
    images = [f.image for f in labelled]
    whole = dict(zip(sorted(labels), base.detect(images), strict=True))
    tiled_detector = TiledDetector(base, TileGrid(2, 2, 0.2))
    tiled = dict(zip(sorted(labels), tiled_detector.detect(images), strict=True))
    tune_frames = [f for f in frames if frame_index(f) < TUNE_BEFORE_FRAME]
    sweep = []
    for values in itertools.product(*TUNE_GRID.values()):
        settings = MotionRegionSettings(**dict(zip(TUNE_GRID, values, strict=True)))  # type: ignore[arg-type]
        found, canvases, fulls = run_regions(MotionRegionDetector(base, settings), tune_frames)
        result = evaluate(labels, found, tune=True)
        sweep.append((settings, result, canvases, fulls))
        print(asdict(settings), asdict(result), round(canvases, 2), flush=True)
    admissible = [
        s for s in sweep if s[1].fp_per_frame <= MAX_FP_PER_FRAME and s[2] <= MAX_COST_FRAMES
    ] or sweep
    chosen = max(admissible, key=lambda s: (s[1].recall, -s[2], -s[1].fp_per_frame))[0]
    found, canvases, fulls = run_regions(MotionRegionDetector(base, chosen), frames)
    for name, results in (("", whole), ("_tiled", tiled), ("_motion_regions", found)):
        for part, is_tune in (("", False), ("_tune", True)):
            result = evaluate(labels, results, tune=is_tune)
            out[f"person_recall{name}{part}_live"] = result.recall
            out[f"fp_per_frame{name}{part}_live"] = result.fp_per_frame
            out[f"person_recall{name}{part}_live_ci95"] = list(result.recall_ci)
            out[f"fp_per_frame{name}{part}_live_ci95"] = list(result.fp_per_frame_ci)
            out[f"labelled{part}_frames_live"] = result.frames
            out[f"labelled{part}_persons_live"] = result.persons
    for cameras in (1, 4):
        whole_ms, regions_ms = cpu_ms_per_frame(base, chosen, frames, cameras)
        out[f"motion_regions_cpu_ms_per_frame_b{cameras}"] = round(regions_ms, 2)
        out[f"whole_frame_cpu_ms_per_frame_b{cameras}"] = round(whole_ms, 2)
        out[f"motion_regions_cpu_ratio_b{cameras}"] = round(regions_ms / whole_ms, 3)
    out["motion_regions_settings"] = asdict(chosen)
    out["motion_regions_inputs_per_frame"] = round(canvases, 3)
    out["motion_regions_full_passes_per_frame"] = round(fulls, 3)
    out["motion_regions_gate_refused_frames"] = sum(not f.motion_mask.any() for f in frames)  # type: ignore[union-attr]
    tuned = [
        asdict(s) | {"tune": asdict(r), "inputs_per_frame": round(c, 3)} for s, r, c, _ in sweep
    ]
    split = f"tune = labelled frames < {TUNE_BEFORE_FRAME}"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    SWEEP.write_text(json.dumps({"date": stamp, "split": split, "sweep": tuned}, indent=1) + "\n")
    # the headline keys: test part, live settings
    out["person_recall_motion_regions"] = out["person_recall_motion_regions_live"]
    out["fp_per_frame_motion_regions"] = out["fp_per_frame_motion_regions_live"]
    return out


def main() -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    figures = measure()
    results.update(figures)
    results["motion_regions_date"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    results["motion_regions_machine"] = _cpu_model()
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
