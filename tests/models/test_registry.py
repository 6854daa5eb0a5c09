"""The run-time model registry: input facts read from the manifest, lookups, and the build
step's calibration inputs computed from those facts equal to the run time's preprocessing, bit
for bit (the INT8 models' pinned sha256 depends on it)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detect.detector import NANODET_MEAN_BGR, NANODET_STD_BGR
from detect.embedder import EmbedderConfig, preprocess_crop
from models.letterbox import letterbox
from models.quantize import (
    CALIBRATION_INPUT_PX,
    calibration_images,
    detector_blob,
    embedder_blob,
    embedder_crops,
)
from models.registry import ModelError, ModelInput, manifest_entry, model_input


def test_input_facts_come_from_the_manifest() -> None:
    nanodet = model_input("nanodet-int8")
    assert nanodet == ModelInput(
        name="images", colour_order="BGR", size_wh=(448, 256), multiple_px=32, scale=1.0,
        mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395),
    )  # fmt: skip
    assert nanodet.size_wh == CALIBRATION_INPUT_PX  # calibrated at the live input
    embedder = model_input("mobilenetv2-embedder-int8")
    assert embedder.colour_order == "RGB" and embedder.size_wh == (128, 256)
    assert embedder.scale == 1 / 255
    assert manifest_entry("mobilenetv2-embedder-int8").output_names == ("bottleneck",)


def test_unknown_names_and_assets_are_refused() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'nanodet-xl'.*nanodet-int8"):
        model_input("nanodet-xl")
    with pytest.raises(ModelError, match="no input block"):
        model_input("asset-bus")


def test_calibration_inputs_equal_the_run_time_preprocessing_bit_for_bit() -> None:
    images = calibration_images()
    nanodet = model_input("nanodet-int8")
    for image in images[::5]:
        boxed, _ = letterbox(image, CALIBRATION_INPUT_PX, interpolation=cv2.INTER_AREA)
        want = ((boxed.astype(np.float32) - NANODET_MEAN_BGR) / NANODET_STD_BGR).transpose(2, 0, 1)
        got = detector_blob(image, nanodet)
        assert got.dtype == np.float32 and np.array_equal(got, want[None])
    embedder, config = model_input("mobilenetv2-embedder-int8"), EmbedderConfig()
    crops = embedder_crops()
    assert len(crops) > 100
    for crop in crops:
        got = embedder_blob(crop, embedder)
        assert got.dtype == np.float32 and np.array_equal(got, preprocess_crop(crop, config)[None])
