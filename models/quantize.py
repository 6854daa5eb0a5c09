"""Build-step converter "nanodet_int8": NanoDet TF.js → float ONNX → INT8 ONNX (QDQ).

Weights are quantised per output channel (int8), activations per tensor (uint8) over ranges
calibrated on real footage: vtest.avi frames (Debian opencv-doc; not the frames the detector
tests and benchmarks label) and a few street and people pictures from the same package, each
letterboxed to the live input size and normalised as `detect.detector` does (mean and std
as in the manifest).

The calibrated ranges are widened outward to `RANGE_DIGITS` significant digits before they are
applied, so that the last-bit differences of float convolutions between CPUs do not change the
output file, whose sha256 the manifest pins.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator
from onnxruntime.quantization.shape_inference import quant_pre_process

from detect.letterbox import letterbox
from models import tfjs_onnx
from models.build import ModelUnavailableError

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
CALIBRATION_VIDEO = OPENCV_DATA / "vtest.avi"
CALIBRATION_FRAMES = tuple(range(215, 795, 30))  # 20 frames, none of them labelled ones
CALIBRATION_PICTURES = (
    "licenseplate_motion.jpg", "messi5.jpg", "basketball1.png", "building.jpg", "home.jpg",
    "aero1.jpg",
)  # fmt: skip
CALIBRATION_INPUT_PX = (448, 256)  # (W, H): the live detector input
RANGE_DIGITS = 3
MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)


class CalibrationError(ModelUnavailableError):
    """Calibration footage is missing or unreadable."""


def _blob(image: np.ndarray) -> np.ndarray:
    boxed, _ = letterbox(image, CALIBRATION_INPUT_PX, interpolation=cv2.INTER_AREA)  # recipe v1
    normalised = (boxed.astype(np.float32) - MEAN_BGR) / STD_BGR
    return np.ascontiguousarray(normalised.transpose(2, 0, 1)[None])


def calibration_images() -> list[np.ndarray]:
    """The calibration frames and pictures (BGR)."""
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


class _Batches(CalibrationDataReader):
    def __init__(self, blobs: list[np.ndarray]) -> None:
        self._items: Iterator[np.ndarray] = iter(blobs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        blob = next(self._items, None)
        return None if blob is None else {"images": blob}


def _outward(value: float, up: bool) -> float:
    """`value` rounded to RANGE_DIGITS significant digits, up (range max) or down (range min)."""
    if value == 0.0 or not math.isfinite(value):
        return 0.0 if value == 0.0 else value
    step = 10.0 ** (math.floor(math.log10(abs(value))) - RANGE_DIGITS + 1)
    return float((math.ceil if up else math.floor)(value / step) * step)


def calibrated_ranges(
    model_path: Path, blobs: list[np.ndarray], work_dir: Path
) -> dict[str, tuple[float, float]]:
    """Min/max of every activation over the calibration blobs, widened outward."""
    calibrator = create_calibrator(
        model_path, augmented_model_path=str(work_dir / "augmented.onnx"),
        calibrate_method=CalibrationMethod.MinMax,
    )  # fmt: skip
    calibrator.collect_data(_Batches(blobs))
    ranges = {}
    for name, data in calibrator.compute_data().data.items():
        low, high = (float(np.asarray(v).min()) for v in data.range_value)
        ranges[name] = (_outward(low, up=False), _outward(high, up=True))
    return ranges


def convert(source_files: list[Path], out_path: Path) -> None:
    """Converter "nanodet_int8": the NanoDet TF.js files → INT8 QDQ ONNX at `out_path`."""
    blobs = [_blob(image) for image in calibration_images()]
    with tempfile.TemporaryDirectory(prefix="nanodet-int8-") as tmp_name:
        work_dir = Path(tmp_name)
        float_path, prepared_path = work_dir / "float.onnx", work_dir / "prepared.onnx"
        tfjs_onnx.convert(source_files, float_path)
        quant_pre_process(float_path, prepared_path, skip_symbolic_shape=True)
        ranges = calibrated_ranges(prepared_path, blobs, work_dir)
        overrides = {
            name: [{"rmin": np.float32(low), "rmax": np.float32(high)}]
            for name, (low, high) in ranges.items()
        }
        quantize_static(
            prepared_path, out_path, _Batches(blobs[:1]), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            extra_options={"TensorQuantOverrides": overrides},
        )  # fmt: skip
