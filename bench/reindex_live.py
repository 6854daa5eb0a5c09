"""The live path's side of `bench/reindex.py`: its cost per footage-second and its person
recall on the labelled vtest frames, measured in the same run as the archive path.

Live cost: one thread over the camera's 640×360 sub stream as `ingest.camera` reads it —
every frame decoded, 5 fps sampled, the motion gate, BGR only for the frames it passes — then
the pipeline's detector in batches of 4 (the analysis worker's batch) and the ByteTracker.
Recording, track finalising and indexing are left out: this is the analysis the archive path
replaces, not the whole live process (`bench/live.py` measures that). The tracks' spans (those
seen twice, as the track builder keeps them) are kept for bench/reindex_boundaries.py.

Recall: the labelled vtest frames (tests/data/vtest_persons.json, hand-checked boxes) as each
path sees them — decoded from the sub stream for the live path, from the 1080p main stream and
scaled for the archive path — each with its own detector; persons matched at IoU 0.5.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from bench.models import IOU_MATCH
from detect.bytetrack import ByteTracker
from detect.detections import Detections
from detect.detector import BatchDetector
from detect.nms import box_iou
from detect.violation_engine import split_side_detections
from ingest.camera import luma_of
from ingest.motion import MotionGate
from sample_streams.footage import FPS, SOURCE_FPS, SOURCE_HEIGHT_PX, SOURCE_WIDTH_PX

LIVE_BATCH = 4  # detect.worker.AnalysisWorker's batch_size
LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "vtest_persons.json"
BOOTSTRAP_ROUNDS = 2000


@dataclass(frozen=True)
class LiveCost:
    """CPU and wall time of the live analysis of `footage_s` of one camera, one thread."""

    footage_s: float
    cpu_s: float
    wall_s: float
    frames_decoded: int
    frames_sampled: int
    frames_detected: int  # sampled frames the motion gate passed
    track_spans_s: tuple[tuple[float, float], ...] = ()  # (first, last) s of each track seen ≥ 2×

    @property
    def cpu_ms_per_footage_second(self) -> float:
        return self.cpu_s * 1000 / self.footage_s

    @property
    def realtime_factor_per_core(self) -> float:
        """Footage seconds analysed per CPU second: one core's live capacity in cameras."""
        return self.footage_s / self.cpu_s


def measure_live_cost(
    sub_path: Path, detector: BatchDetector, detect_fps: float, footage_s: float
) -> LiveCost:
    """Run the live analysis over the first `footage_s` of `sub_path` (looped if shorter)."""
    tracker = ByteTracker()
    gate = MotionGate()
    seen: dict[int, list[float]] = {}  # tracker id → first s, last s, observations
    pending: list[tuple[float, np.ndarray]] = []
    decoded = sampled = detected = 0
    offset_s = 0.0
    next_sample_s = 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def flush() -> None:
        found = detector.detect([image for _, image in pending])
        for (at_s, image), detections in zip(pending, found, strict=True):
            for_tracker, _side = split_side_detections(detections)
            tracked, _ended = tracker.update(for_tracker, at_s, image)
            for track_id in [] if tracked.tracker_id is None else tracked.tracker_id.tolist():
                span = seen.setdefault(int(track_id), [at_s, at_s, 0.0])
                span[1], span[2] = at_s, span[2] + 1
        pending.clear()

    while offset_s < footage_s:
        last_s = offset_s
        with av.open(str(sub_path)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                at_s = offset_s + float(frame.time or 0.0)
                if at_s >= footage_s:
                    break
                decoded += 1
                last_s = at_s
                if at_s + 1e-6 < next_sample_s:
                    continue
                next_sample_s = max(next_sample_s + 1.0 / detect_fps, at_s)
                sampled += 1
                if not gate.should_analyse(luma_of(frame), at_s):
                    continue
                detected += 1
                pending.append((at_s, frame.to_ndarray(format="bgr24")))
                if len(pending) == LIVE_BATCH:
                    flush()
        offset_s = last_s + 1.0 / FPS
    if pending:
        flush()
    tracker.end_all()
    spans = tuple((first, last) for first, last, count in seen.values() if count >= 2)
    return LiveCost(
        footage_s, time.process_time() - cpu0, time.perf_counter() - wall0,
        decoded, sampled, detected, spans,
    )  # fmt: skip


@dataclass(frozen=True)
class LabelledFrames:
    """Labelled vtest persons: source frame indices and their boxes in source pixels."""

    frame_indices: tuple[int, ...]
    boxes_xyxy: tuple[np.ndarray, ...]

    @classmethod
    def load(cls, path: Path = LABELS) -> LabelledFrames:
        frames = json.loads(path.read_text())["frames"]
        return cls(
            tuple(int(f["frame_index"]) for f in frames),
            tuple(np.array(f["persons_xyxy"], np.float64).reshape(-1, 4) for f in frames),
        )

    @property
    def persons(self) -> int:
        return int(sum(len(b) for b in self.boxes_xyxy))

    def times_s(self) -> list[float]:
        """Where each labelled frame sits in a 25 fps sample file made from vtest (10 fps)."""
        return [index / SOURCE_FPS for index in self.frame_indices]

    def boxes_in(self, size_px: tuple[int, int]) -> list[np.ndarray]:
        """The boxes in a `size_px` frame holding vtest pillarboxed, as sample_streams builds
        its 16:9 files (scaled to the frame height, centred)."""
        width_px, height_px = size_px
        scale = height_px / SOURCE_HEIGHT_PX
        pad_px = (width_px - SOURCE_WIDTH_PX * scale) / 2
        out = []
        for boxes in self.boxes_xyxy:
            scaled = boxes * scale
            scaled[:, [0, 2]] += pad_px
            out.append(scaled)
        return out


def frames_at(
    path: Path, times_s: Sequence[float], size_px: tuple[int, int], interpolation: str | None = None
) -> list[np.ndarray]:
    """The decoded frames of `path` shown at `times_s` (in order), scaled to `size_px` by
    FFmpeg with `interpolation` as the archive reader does (a no-op at the file's own size)."""
    wanted = sorted(times_s)
    found: dict[float, np.ndarray] = {}
    width_px, height_px = size_px
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            at_s = float(frame.time or 0.0)
            while wanted and at_s + 0.5 / FPS >= wanted[0]:
                found[wanted.pop(0)] = frame.reformat(
                    width=width_px, height=height_px, format="bgr24", interpolation=interpolation
                ).to_ndarray()
            if not wanted:
                break
    if wanted:
        raise RuntimeError(f"{path} ends before {wanted[0]} s")
    return [found[t] for t in times_s]


def person_hits(truths: Sequence[np.ndarray], found: Sequence[Detections]) -> list[int]:
    """Labelled persons found per frame (one-to-one greedy matching at IoU ≥ IOU_MATCH)."""
    hits = []
    for truth, dets in zip(truths, found, strict=True):
        persons = dets[dets.class_id == 0]
        m = box_iou(truth, persons.xyxy) if len(persons) and len(truth) else np.zeros((0, 0))
        matched = 0
        while m.size and m.max() >= IOU_MATCH:
            i, j = np.unravel_index(m.argmax(), m.shape)
            matched += 1
            m[i, :] = 0
            m[:, j] = 0
        hits.append(matched)
    return hits


@dataclass(frozen=True)
class RecallComparison:
    """Person recall of both paths on the same labelled frames, and a 95 % bootstrap interval
    (frames resampled, paired) of live − archive."""

    frames: int
    persons: int
    live_recall: float
    archive_recall: float
    delta: float  # live − archive
    delta_ci95: tuple[float, float]


def compare_recall(
    labels: LabelledFrames, live_hits: Sequence[int], archive_hits: Sequence[int], seed: int = 5
) -> RecallComparison:
    totals = np.array([len(b) for b in labels.boxes_xyxy])
    live, archive = np.array(live_hits), np.array(archive_hits)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(totals), (BOOTSTRAP_ROUNDS, len(totals)))
    sums = totals[picks].sum(axis=1)
    deltas = (live[picks].sum(axis=1) - archive[picks].sum(axis=1)) / np.maximum(sums, 1)
    low, high = np.percentile(deltas, [2.5, 97.5])
    persons = int(totals.sum())
    return RecallComparison(
        len(totals), persons, live.sum() / persons, archive.sum() / persons,
        (live.sum() - archive.sum()) / persons, (float(low), float(high)),
    )  # fmt: skip


def path_hits(
    video_path: Path,
    size_px: tuple[int, int],
    detect: Callable[[list[np.ndarray]], list[Detections]],
    labels: LabelledFrames,
    interpolation: str | None = None,
) -> list[int]:
    """Persons found per labelled frame when `detect` runs on `video_path`'s frames at
    `size_px` (live: the sub file at its size; archive: the main file scaled)."""
    frames = frames_at(video_path, labels.times_s(), size_px, interpolation)
    return person_hits(labels.boxes_in(size_px), detect(frames))
