"""Motion-region canvases cut to what they hold (#16 part 4): canvas sizes, crops rendered and
boxes mapped back through cut canvases, NanoDet at each canvas's own size, NMS over blocks."""

from __future__ import annotations

import numpy as np
import pytest

from detect.detections import Detections
from detect.detector import NanoDetDetector, SizedInputDetector
from detect.nms import NMS_BLOCK, box_iou, nms
from detect.region_packing import (
    CANVAS_FILL_BGR,
    Placement,
    Region,
    canvas_sizes,
    pack_regions,
    render_canvases,
    to_frame,
)
from models.letterbox import letterbox
from models.registry import ModelError, model_path

CANVAS_PX = (448, 256)


def test_a_crop_set_that_fits_448_by_64_gets_that_canvas() -> None:
    six = [Region(70 * i, 10, 70 * i + 70, 70) for i in range(6)]  # 6 × 70 + 5 gaps = 440 px
    placed = pack_regions(six, CANVAS_PX, [1.0] * 6, gap_px=4)
    assert {p.canvas for p in placed} == {0}
    assert canvas_sizes(placed, CANVAS_PX) == [(448, 64)]
    two = pack_regions(six[:2], CANVAS_PX, [1.0] * 2, gap_px=4)  # 144 × 60 px of crops
    assert canvas_sizes(two, CANVAS_PX) == [(160, 64)]
    assert canvas_sizes([], CANVAS_PX) == []


def test_oversized_crops_shrink_into_the_largest_canvas_and_only_the_last_canvas_is_cut() -> None:
    whole = Region(0, 0, 640, 360)  # shrunk to 448 × 252
    tall = [Region(0, 0, 100, 200) for _ in range(5)]  # 4 fit beside each other, the 5th spills
    placed = pack_regions([whole, *tall], CANVAS_PX, [1.0] * 6, gap_px=4)
    assert placed[0].scale == pytest.approx(0.7)
    assert [p.canvas for p in placed] == [0, 1, 1, 1, 1, 2]
    assert canvas_sizes(placed, CANVAS_PX) == [(448, 256), (416, 224), (128, 224)]
    for p in placed:
        assert p.x + p.width_px <= 448 and p.y + p.height_px <= 256


def test_crops_render_into_cut_canvases_and_boxes_map_back_exactly() -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 255, (360, 640, 3), np.uint8)
    regions = [Region(10, 20, 70, 120), Region(300, 40, 340, 90), Region(500, 200, 530, 260)]
    placed = pack_regions(regions, CANVAS_PX, [1.0, 2.0, 1.0], gap_px=4)
    sizes = canvas_sizes(placed, CANVAS_PX)
    (canvas,) = render_canvases([image], [placed], sizes)
    assert canvas.shape == (sizes[0][1], sizes[0][0], 3)
    assert canvas.shape[0] < 256 and canvas.shape[1] < 448  # cut to the crops
    covered = np.zeros(canvas.shape[:2], bool)
    for p in placed:
        r = p.region
        if p.scale == 1.0:
            crop = image[r.y0 : r.y1, r.x0 : r.x1]
            assert np.array_equal(canvas[p.y : p.y + p.height_px, p.x : p.x + p.width_px], crop)
        covered[p.y : p.y + p.height_px, p.x : p.x + p.width_px] = True
    assert (canvas[~covered] == CANVAS_FILL_BGR).all()
    # a box inside each crop (one overhanging its crop's edge), one on the background
    canvas_boxes, expected = [], []
    for p in placed:
        box = np.array([p.x + 2, p.y + 3, p.x + p.width_px + 6, p.y + p.height_px / 2], np.float32)
        canvas_boxes.append(box)
        r = p.region
        in_frame = (box - [p.x, p.y, p.x, p.y]) / p.scale + [r.x0, r.y0, r.x0, r.y0]
        expected.append(np.clip(in_frame, [r.x0, r.y0, r.x0, r.y0], [r.x1, r.y1, r.x1, r.y1]))
    stray = [canvas.shape[1] - 6, canvas.shape[0] - 6, canvas.shape[1] - 1, canvas.shape[0] - 1]
    dets = Detections(
        np.array([*canvas_boxes, stray], np.float32),
        np.linspace(0.9, 0.5, len(placed) + 1).astype(np.float32),
        np.array([0, 2, 0, 0][: len(placed) + 1]),
    )
    back = to_frame(dets, placed)
    assert len(back) == len(placed)
    np.testing.assert_allclose(back.xyxy, np.array(expected), atol=1e-4)
    np.testing.assert_array_equal(back.class_id, dets.class_id[: len(placed)])
    np.testing.assert_array_equal(back.confidence, dets.confidence[: len(placed)])


def test_a_box_centred_where_two_placements_meet_belongs_to_the_first() -> None:
    a = Placement(Region(0, 0, 20, 20), 0, 0, 0, 1.0)
    b = Placement(Region(100, 100, 120, 120), 0, 20, 0, 1.0)  # no gap: edge to edge
    dets = Detections(
        np.array([[18.0, 0, 22, 10]], np.float32), np.array([0.9], np.float32), np.array([0])
    )
    np.testing.assert_allclose(to_frame(dets, [a, b]).xyxy, [[100.0, 100, 102, 110]])


@pytest.fixture(scope="module")
def nanodet() -> NanoDetDetector:
    try:
        path = model_path("nanodet-int8")
    except ModelError as error:
        pytest.fail(f"NanoDet not built (run python -m models.build): {error}")
    return NanoDetDetector(path, CANVAS_PX, 0.35)


def test_nanodet_runs_each_image_at_its_own_size(nanodet: NanoDetDetector) -> None:
    from sample_streams import synthetic

    assert isinstance(nanodet, SizedInputDetector)
    scene, _ = letterbox(synthetic.median_background(), CANVAS_PX)
    # the full-size canvas is exactly what detect() feeds the model for the same picture
    (sized,) = nanodet.detect_sized([scene])
    (whole,) = nanodet.detect([scene])
    assert len(whole)
    np.testing.assert_allclose(sized.xyxy, whole.xyxy, atol=1e-3)
    # mixed sizes: each as if alone, in the caller's order
    small = np.ascontiguousarray(scene[96:224, 64:256])
    mixed = nanodet.detect_sized([small, scene, small[:64, :96]])
    alone = [nanodet.detect_sized([image])[0] for image in (small, scene, small[:64, :96])]
    for got, want in zip(mixed, alone, strict=True):
        np.testing.assert_allclose(got.xyxy, want.xyxy, atol=1e-3)
        for box in got.xyxy:
            assert box[2] <= 448 and box[3] <= 256
    with pytest.raises(ValueError, match="multiples of 32"):
        nanodet.detect_sized([scene[:100]])
    assert nanodet.detect_sized([]) == []


def _greedy(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Textbook greedy NMS, one box at a time."""
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    for i in order:
        if not keep or box_iou(xyxy[i], xyxy[keep]).max() <= iou:
            keep.append(int(i))
    return keep


@pytest.mark.parametrize("count", [NMS_BLOCK + 1, 2 * NMS_BLOCK + 30])
def test_nms_over_blocks_of_iou_rows_equals_plain_greedy(count: int) -> None:
    rng = np.random.default_rng(count)
    xy = rng.uniform(0, 400, (count, 2))
    xyxy = np.concatenate([xy, xy + rng.uniform(5, 60, (count, 2))], axis=1)
    scores = rng.uniform(0, 1, count)
    scores[:20] = 0.5  # ties keep their order
    for iou in (0.3, 0.6):
        assert nms(xyxy, scores, iou).tolist() == _greedy(xyxy, scores, iou)


def test_filled_images_are_fresh_copies_of_one_colour_at_any_size() -> None:
    from models.letterbox import filled

    small = filled(64, 96, CANVAS_FILL_BGR)
    large = filled(300, 500, CANVAS_FILL_BGR)  # grows the cached template
    again = filled(64, 96, CANVAS_FILL_BGR)
    for image, shape in ((small, (64, 96, 3)), (large, (300, 500, 3)), (again, (64, 96, 3))):
        assert image.shape == shape and image.dtype == np.uint8
        assert (image == CANVAS_FILL_BGR).all()
    small[:] = 0  # a caller's drawing never reaches the next image
    assert (filled(64, 96, CANVAS_FILL_BGR) == CANVAS_FILL_BGR).all()
    assert (filled(8, 8, (0, 0, 255))[..., 2] == 255).all()
