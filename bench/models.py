"""Detector benchmark: ms/frame at batch 1/4/8 and tiled, person recall on labelled vtest frames.

Run: `python -m bench.models` (writes bench/results/models.json; merges bench.embed_ocr figures).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from detect.detections import Detections
from detect.detector import Detector, NanoDetDetector, TiledDetector, TileGrid
from detect.nms import box_iou
from models.build import ensure_models

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "vtest_persons.json"
RESULTS = Path(__file__).resolve().parent / "results" / "models.json"
IOU_MATCH = 0.5


def load_labelled_frames() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Labelled vtest frames (decoded sequentially) and their person boxes."""
    labels = {f["frame_index"]: f["persons_xyxy"] for f in json.loads(LABELS.read_text())["frames"]}
    cap = cv2.VideoCapture(str(VTEST))
    frames, truths = [], []
    for index in range(max(labels) + 1):
        ok, frame = cap.read()
        if not ok:
            raise RuntimeError(f"{VTEST} ended at frame {index}")
        if index in labels:
            frames.append(frame)
            truths.append(np.array(labels[index], np.float64))
    return frames, truths


def person_recall(truths: list[np.ndarray], found: list[Detections]) -> tuple[float, int]:
    """Recall of labelled persons at IoU 0.5 (one-to-one greedy matching), false positives."""
    hits = total = false_pos = 0
    for truth, dets in zip(truths, found, strict=True):
        persons = dets[dets.class_id == 0]
        total += len(truth)
        m = box_iou(truth, persons.xyxy) if len(persons) else np.zeros((len(truth), 0))
        matched = 0
        while m.size and m.max() >= IOU_MATCH:
            i, j = np.unravel_index(m.argmax(), m.shape)
            matched += 1
            m[i, :] = 0
            m[:, j] = 0
        hits += matched
        false_pos += len(persons) - matched
    return hits / max(total, 1), false_pos


def ms_per_frame(
    detector: Detector, frames: list[np.ndarray], batch: int, repeat: int = 3
) -> float:
    """Best-of-`repeat` wall time per frame over all frames, in batches of `batch`."""
    detector.detect(frames[:batch])  # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(0, len(frames), batch):
            detector.detect(frames[i : i + batch])
        best = min(best, (time.perf_counter() - start) / len(frames) * 1000)
    return best


def measure(threads: int = 1) -> dict[str, float | str]:
    model = ensure_models(None, ["nanodet"])["nanodet"]
    frames, truths = load_labelled_frames()
    frames8 = (frames * 2)[:16]
    base = NanoDetDetector(model, intra_op_threads=threads, classes=("person",))
    tiled = TiledDetector(base, TileGrid(2, 2, 0.2))
    out: dict[str, float | str] = {
        "detector_input": "416x416",
        "detector_threads": threads,
        "detector_ms_b1": ms_per_frame(base, frames8, 1),
        "detector_ms_b4": ms_per_frame(base, frames8, 4),
        "detector_ms_b8": ms_per_frame(base, frames8, 8),
        "detector_ms_tiled": ms_per_frame(tiled, frames, 1, repeat=1),
        "labelled_frames": len(frames),
        "labelled_persons": int(sum(len(t) for t in truths)),
    }
    recall, fp = person_recall(truths, base.detect(frames))
    out["person_recall"], out["person_false_pos"] = recall, fp
    recall, fp = person_recall(truths, tiled.detect(frames))
    out["person_recall_tiled"], out["person_false_pos_tiled"] = recall, fp
    budget_ms = 2 * float(out["detector_ms_b1"])
    best_key, best_recall = "", -1.0
    for size in ((416, 320), (512, 384), (544, 416), (640, 480)):
        for threshold in (0.25, 0.3, 0.35):
            det = NanoDetDetector(
                model, size, threshold, classes=("person",), intra_op_threads=threads
            )
            recall, fp = person_recall(truths, det.detect(frames))
            cost = ms_per_frame(det, frames, 1, repeat=1)
            key = f"sweep_{size[0]}x{size[1]}_t{int(threshold * 100)}"
            out[f"{key}_recall"], out[f"{key}_ms"], out[f"{key}_false_pos"] = recall, cost, fp
            if cost <= budget_ms and recall > best_recall:
                best_key, best_recall = key, recall
    out["best_within_2x"] = best_key
    out["person_recall_best_within_2x"] = best_recall
    out.update(live_models(frames, truths))
    return out


def sub_stream_frames(
    frames: list[np.ndarray], truths: list[np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The labelled frames as the live sub stream carries them: 640×360, pillarboxed."""
    scale = 360 / frames[0].shape[0]
    width_px = round(frames[0].shape[1] * scale / 2) * 2
    pad_px = (640 - width_px) // 2
    out_frames, out_truths = [], []
    for frame, truth in zip(frames, truths, strict=True):
        small = cv2.resize(frame, (width_px, 360), interpolation=cv2.INTER_AREA)
        out_frames.append(
            cv2.copyMakeBorder(small, 0, 0, pad_px, 640 - width_px - pad_px, cv2.BORDER_CONSTANT)
        )
        boxes = truth * scale
        boxes[:, [0, 2]] += pad_px
        out_truths.append(boxes)
    return out_frames, out_truths


def live_models(frames: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    """Float vs INT8 NanoDet at the live input (448×256 on the 640×360 sub stream): CPU ms per
    frame (batch 4, one thread) and person recall."""
    subs, sub_truths = sub_stream_frames(frames, truths)
    out: dict[str, float] = {}
    for name in ("nanodet", "nanodet-int8"):
        model = ensure_models(None, [name])[name]
        det = NanoDetDetector(model, (448, 256), classes=("person",), intra_op_threads=1)
        recall, fp = person_recall(sub_truths, det.detect(subs))
        det.detect(subs[:4])
        started = time.process_time()
        for _ in range(3):
            for i in range(0, len(subs), 4):
                det.detect(subs[i : i + 4])
        key = name.replace("-", "_")
        out[f"live_{key}_cpu_ms"] = (time.process_time() - started) * 1000 / (3 * len(subs))
        out[f"live_{key}_recall"], out[f"live_{key}_false_pos"] = recall, fp
    return out


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    load_at_start = os.getloadavg()[0]  # other jobs on the cores make the timings noisy
    results: dict[str, float | str] = dict(measure())
    try:
        embed_ocr = importlib.import_module("bench.embed_ocr")
        results.update(embed_ocr.measure())
    except ModuleNotFoundError:
        pass
    results["date"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    results["machine"] = f"{platform.machine()} {os.cpu_count()} cores, {_cpu_model()}"
    results["notes"] = f"load average {load_at_start:.1f} at the start of the run"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
