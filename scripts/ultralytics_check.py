"""Offline self-check of the ultralytics backend: untrained yolo11n (.pt, .onnx) on a real image.

Run in the optional `.venv-yolo` (scripts/setup_yolo.sh), from the repository root:
    PYTHONPATH=. .venv-yolo/bin/python scripts/ultralytics_check.py IMAGE WORKDIR REPORT_JSON
It builds an untrained COCO-labelled YOLO from the `yolo11n.yaml` config bundled with
ultralytics (no hub download), saves it as .pt, exports .onnx, runs both through
`UltralyticsDetector` (directly and as the detector registry's `ultralytics:PATH`) and writes
what came out as JSON, with every network attempt made from Python (seen through an audit
hook; C-level lookups such as onnxruntime's telemetry are not). An offline tool of the tests,
not part of the product: it lives beside the script that builds its environment.
Untrained weights give arbitrary boxes: the report is for checking structure, class filtering
and the mapping back to source pixels, not accuracy.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detect.detections import COCO_CLASSES, Detections

NETWORK_AUDIT_EVENTS = (
    "socket.connect",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "urllib.Request",
)
LETTERBOX_GREY = (114, 114, 114)
FILTER_CLASSES = ("person", "bus")
# Class logits written into the untrained head, one class per pyramid level (stride 8, 16, 32):
# an untrained head scores every class alike, which would leave class filtering untested.
LEVEL_CLASS_LOGITS = (("person", -6.0), ("bus", -5.0), ("car", -4.0))
OTHER_CLASS_LOGIT = -12.0
SEED = 0
FRAME_NAMES = ("base", "padded", "doubled", "full")
REGISTRY_SCORE_THRESHOLD = 0.001  # below the untrained head's chosen classes (sigmoid(-6) ≈ 0.0025)


@dataclass(frozen=True)
class UntrainedWeights:
    """Weights built offline: COCO-labelled .pt and its .onnx export, plus an unlabelled .pt."""

    pt: Path
    onnx: Path
    unlabelled_pt: Path


@dataclass(frozen=True)
class FrameSet:
    """Frames whose letterboxed model inputs are identical, so their boxes must map exactly.

    `base` fills the model input on its long side; `padded` is `base` with the letterbox's own
    grey border already added (boxes shift by `pad_px`); `doubled` is `base` upscaled 2× with
    nearest-neighbour (boxes double). `full` is the source image as read.
    """

    base: np.ndarray
    padded: np.ndarray
    doubled: np.ndarray
    full: np.ndarray
    pad_px: tuple[int, int]

    def as_list(self) -> list[np.ndarray]:
        return [self.base, self.padded, self.doubled, self.full]


@dataclass
class NetworkAudit:
    """Network-related audit events raised anywhere in this process."""

    events: list[str] = field(default_factory=list)

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event in NETWORK_AUDIT_EVENTS:
            self.events.append(f"{event} {args!r}"[:300])


def force_offline(workdir: Path) -> None:
    """Tell ultralytics it is offline, must not pip-install, and keeps its settings in `workdir`."""
    os.environ["YOLO_OFFLINE"] = "true"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLO_CONFIG_DIR"] = str(workdir / "ultralytics-config")


def build_untrained(
    workdir: Path, config: str = "yolo11n.yaml", input_size_px: int = 640
) -> UntrainedWeights:
    """Build untrained weights from a config bundled with ultralytics and export them to ONNX."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(SEED)
    workdir.mkdir(parents=True, exist_ok=True)
    stem = Path(config).stem
    unlabelled = YOLO(config, task="detect")  # config names are "0".."79"
    unlabelled_pt = workdir / f"{stem}-unlabelled.pt"
    unlabelled.save(str(unlabelled_pt))
    model = YOLO(config, task="detect")
    model.model.names = dict(enumerate(COCO_CLASSES))
    label_by_pyramid_level(model.model)
    pt = workdir / f"{stem}.pt"
    model.save(str(pt))
    exported = YOLO(str(pt), task="detect").export(
        format="onnx", imgsz=input_size_px, simplify=False, dynamic=False
    )
    return UntrainedWeights(pt=pt, onnx=Path(exported), unlabelled_pt=unlabelled_pt)


def label_by_pyramid_level(detection_model: Any) -> None:
    """Make each pyramid level of an untrained head predict one class (LEVEL_CLASS_LOGITS)."""
    import torch

    head = detection_model.model[-1]
    if len(head.cv3) != len(LEVEL_CLASS_LOGITS):
        raise ValueError(f"expected {len(LEVEL_CLASS_LOGITS)} pyramid levels, got {len(head.cv3)}")
    with torch.no_grad():
        for branch, (name, logit) in zip(head.cv3, LEVEL_CLASS_LOGITS, strict=True):
            bias = branch[-1].bias
            bias.fill_(OTHER_CLASS_LOGIT)
            bias[COCO_CLASSES.index(name)] = logit


def frame_set(image: np.ndarray, input_size_px: int) -> FrameSet:
    """Frames derived from `image` (see FrameSet); needs an even letterbox pad on the short side."""
    h, w = image.shape[:2]
    scale = input_size_px / max(h, w)
    base_w, base_h = round(w * scale), round(h * scale)
    pad_x, pad_y = input_size_px - base_w, input_size_px - base_h
    if pad_x % 2 or pad_y % 2:
        raise ValueError(f"image {w}×{h} gives an odd letterbox pad at {input_size_px} px")
    base = cv2.resize(image, (base_w, base_h), interpolation=cv2.INTER_AREA)
    padded = cv2.copyMakeBorder(
        base,
        pad_y // 2,
        pad_y // 2,
        pad_x // 2,
        pad_x // 2,
        cv2.BORDER_CONSTANT,
        value=LETTERBOX_GREY,
    )
    doubled = cv2.resize(base, (base_w * 2, base_h * 2), interpolation=cv2.INTER_NEAREST)
    return FrameSet(base, padded, doubled, image, (pad_x // 2, pad_y // 2))


def describe(detections: Any, frame: np.ndarray) -> dict[str, Any]:
    """JSON view of one detector output, with the types and dtypes it really had."""
    record: dict[str, Any] = {"type": type(detections).__name__, "frame_hw": list(frame.shape[:2])}
    if isinstance(detections, Detections):
        record |= {
            "xyxy_shape": list(detections.xyxy.shape),
            "dtypes": {
                "xyxy": str(detections.xyxy.dtype),
                "confidence": str(detections.confidence.dtype),
                "class_id": str(detections.class_id.dtype),
            },
            "xyxy": detections.xyxy.astype(float).tolist(),
            "confidence": detections.confidence.astype(float).tolist(),
            "class_id": detections.class_id.astype(int).tolist(),
        }
    return record


def describe_all(outputs: list[Any], frames: FrameSet) -> dict[str, Any]:
    """`describe` each output, keyed by the FrameSet field its frame came from."""
    if len(outputs) != len(FRAME_NAMES):
        raise ValueError(f"expected {len(FRAME_NAMES)} outputs, got {len(outputs)}")
    return {
        name: describe(out, frame)
        for name, out, frame in zip(FRAME_NAMES, outputs, frames.as_list(), strict=True)
    }


def refusal(action: Any) -> str:
    """The ValueError message `action()` raised, or a note that it raised nothing."""
    try:
        action()
    except ValueError as exc:
        return f"ValueError: {exc}"
    return "no error"


def through_registry(weights: Path, frames: FrameSet, workdir: Path) -> dict[str, Any]:
    """`SKYNET_DETECTOR_MODEL=ultralytics:<weights>` as the runtime builds it, against the
    adapter built by hand with the same threshold: same type, same boxes, no tiling."""
    from detect.detector import TileGrid
    from detect.registry import DetectorOptions, build_detector
    from detect.ultralytics_backend import UltralyticsDetector

    options = DetectorOptions(workdir, score_threshold=REGISTRY_SCORE_THRESHOLD)
    built = build_detector(f"ultralytics:{weights}", options)
    direct = UltralyticsDetector(weights, score_threshold=REGISTRY_SCORE_THRESHOLD)
    got, want = built.detect(frames.as_list()), direct.detect(frames.as_list())
    return {
        "type": type(built).__name__,
        "input_size_px": getattr(built, "input_size_px", None),
        "tiling_offered": built.tiled(TileGrid()) is not None,
        "boxes": sum(len(d) for d in got),
        "same_as_direct": all(
            np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.class_id, b.class_id)
            for a, b in zip(got, want, strict=True)
        ),
    }


def run_check(image_path: Path, workdir: Path, input_size_px: int = 640) -> dict[str, Any]:
    """Build, export and run the untrained weights; return the JSON-ready report."""
    audit = NetworkAudit()
    sys.addaudithook(audit.hook)
    force_offline(workdir)
    image = cv2.imread(str(image_path))
    if image is None:
        raise ValueError(f"cannot read image {image_path}")

    import onnxruntime
    import torch
    import ultralytics

    from detect.ultralytics_backend import UltralyticsDetector

    weights = build_untrained(workdir, input_size_px=input_size_px)
    frames = frame_set(image, input_size_px)
    registry = {
        fmt: through_registry(path, frames, workdir)
        for fmt, path in (("pt", weights.pt), ("onnx", weights.onnx))
    }
    backends: dict[str, Any] = {}
    for fmt, path in (("pt", weights.pt), ("onnx", weights.onnx)):
        every_class = UltralyticsDetector(
            path, score_threshold=0.0, classes=COCO_CLASSES, input_size_px=input_size_px
        )
        filtered = UltralyticsDetector(
            path, score_threshold=0.0, classes=FILTER_CLASSES, input_size_px=input_size_px
        )
        outputs = every_class.detect(frames.as_list())
        backends[fmt] = {
            "weights": str(path),
            "output_type": type(outputs).__name__,
            "frames": describe_all(outputs, frames),
            "filtered": describe_all(filtered.detect(frames.as_list()), frames),
            "empty_batch": len(every_class.detect([])),
            "bad_frame": refusal(lambda d=every_class: d.detect([np.zeros((8, 8, 3), np.float32)])),
        }
    return {
        "versions": {
            "ultralytics": ultralytics.__version__,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "input_size_px": input_size_px,
        "pad_px": list(frames.pad_px),
        "filter_class_ids": [COCO_CLASSES.index(n) for n in FILTER_CLASSES],
        "backends": backends,
        "registry": registry,
        "refused": {
            "unlabelled_pt": refusal(lambda: UltralyticsDetector(weights.unlabelled_pt)),
            "onnx_size_mismatch": refusal(
                lambda: UltralyticsDetector(weights.onnx, input_size_px=input_size_px // 2)
            ),
        },
        "weights_bytes": {p.name: p.stat().st_size for p in asdict(weights).values()},
        "network_events": audit.events,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: scripts/ultralytics_check.py IMAGE WORKDIR REPORT_JSON", file=sys.stderr)
        return 2
    image_path, workdir, report_path = (Path(a) for a in argv)
    report = run_check(image_path, workdir)
    report_path.write_text(json.dumps(report))
    print(f"ultralytics check report: {report_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
