"""CenterFace rewrite and face boxes: the shipped fixed-size graph becomes N×3×H×W in the models
directory (once, named by the source's hash) and finds the two faces of zidane.jpg; blurring
a region removes its detail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from detect.nms import box_iou
from evidence.faces import FaceDetector, centerface_source, dynamic_centerface
from evidence.redact import SubjectPath, blur_region, grow
from models.build import ensure_models

# zidane.jpg (1280×720): the two faces, boxes checked by eye
ZIDANE_FACES = np.array([[918, 101, 1057, 282], [556, 259, 668, 436]], np.float32)


@pytest.fixture(scope="module")
def zidane() -> np.ndarray:
    path = ensure_models(None, ["asset-zidane"])["asset-zidane"]
    image = cv2.imread(str(path))
    assert image is not None
    return image


def test_rewrite_makes_the_input_dynamic_once(tmp_path: Path) -> None:
    shipped = onnx.load(str(centerface_source()))
    assert [d.dim_value for d in shipped.graph.input[0].type.tensor_type.shape.dim] == [
        10, 3, 32, 32
    ]  # fmt: skip
    path = dynamic_centerface(tmp_path)
    model = onnx.load(str(path))
    (image_input,) = model.graph.input
    dims = image_input.type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 3, "H", "W"]
    assert not any(i.name.endswith("num_batches_tracked") for i in model.graph.initializer)
    made_at = path.stat().st_mtime_ns
    assert dynamic_centerface(tmp_path) == path and path.stat().st_mtime_ns == made_at


def test_finds_both_faces_at_any_size(tmp_path: Path, zidane: np.ndarray) -> None:
    faces = FaceDetector.from_models_dir(tmp_path)
    for image, scale in ((zidane, 1.0), (cv2.resize(zidane, (640, 360)), 0.5)):
        boxes, scores = faces.detect(image)
        assert len(boxes) == 2 and scores.min() > 0.5
        assert box_iou(boxes / scale, ZIDANE_FACES).max(axis=1).min() > 0.7


def test_blur_removes_detail_and_stays_in_the_frame(zidane: np.ndarray) -> None:
    image = zidane.copy()
    region = grow(ZIDANE_FACES[0], image.shape[1], image.shape[0])
    x1, y1, x2, y2 = region
    before = cv2.Laplacian(cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY), cv2.CV_64F)
    blur_region(image, region)
    after = cv2.Laplacian(cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY), cv2.CV_64F)
    assert after.var() < 0.05 * before.var()
    assert np.array_equal(image[:, : x1 - 1], zidane[:, : x1 - 1])  # nothing outside changed
    edge = grow(np.array([1270, 710, 1290, 730]), image.shape[1], image.shape[0])
    assert edge[2] <= 1280 and edge[3] <= 720


def test_subject_path_interpolates_scales_and_ends() -> None:
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    path = SubjectPath.from_trajectory(
        7, "person", t0, [[2.0, 10, 10, 20, 40], [0.0, 0, 0, 10, 30]], scale_xy=(3.0, 3.0)
    )
    assert path.kind == "person"
    inside, past_end = (
        path.box_at(t0 + timedelta(seconds=1)),
        path.box_at(t0 + timedelta(seconds=2.5)),
    )
    assert inside is not None and np.allclose(inside, [15, 15, 45, 105])
    assert past_end is not None and np.allclose(past_end, [30, 30, 60, 120])
    assert path.box_at(t0 + timedelta(seconds=3.5)) is None  # past the end by > 1 s
    assert path.box_at(t0 - timedelta(seconds=1.5)) is None
