"""Main-stream plate views (#14): box mapping sub → main, the vehicle found again on the main
frame, the main-stream legibility gate, which views the track builder hands on (reading none of
them itself), and the fall-back read of their sub-stream crops."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from detect.main_stream_plates import (
    MAIN_MIN_VEHICLE_SIDE_PX,
    MainRead,
    ReadInVain,
    legible_on,
    look_of,
    map_box,
    pad_box,
    read_in_vain_before,
    read_sub_views,
    refine_box,
    stood_still,
    sure_read,
)
from detect.plate_reader import PlateSighting
from detect.plate_values import PlateRead
from detect.plate_views import PlateView
from detect.track_builder import PLATE_MIN_VEHICLE_SIDE_PX, TrackBuilder
from sample_streams.synthetic import VTEST_PATH, read_video_frames
from tests.detect.test_plate_legibility_gate import RecordingSighter, observe_car
from tests.detect.test_track_builder import ColourEmbedder

T0 = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
SUB = (640, 360)
MAIN = (1920, 1080)


def test_a_sub_box_maps_to_main_pixels_by_the_size_ratio() -> None:
    assert map_box((10.0, 20.0, 110.0, 80.0), SUB, MAIN) == (30.0, 60.0, 330.0, 240.0)
    back = map_box(map_box((1.5, 2.5, 3.5, 4.5), SUB, MAIN), MAIN, SUB)
    assert back == pytest.approx((1.5, 2.5, 3.5, 4.5))
    # a 4:3 sub stream of a 16:9 main would be wrong: each axis has its own ratio
    assert map_box((0.0, 0.0, 640.0, 480.0), (640, 480), MAIN) == (0.0, 0.0, 1920.0, 1080.0)


def test_padding_stays_inside_the_frame() -> None:
    assert pad_box((0.0, 10.0, 100.0, 60.0), 0.1, MAIN) == (0.0, 5.0, 110.0, 65.0)
    assert pad_box((1900.0, 1000.0, 1920.0, 1080.0), 0.5, MAIN)[2:] == (1920.0, 1080.0)


def test_the_main_gate_is_on_main_pixels_and_above_the_sub_gate() -> None:
    side = float(MAIN_MIN_VEHICLE_SIDE_PX)
    assert side > PLATE_MIN_VEHICLE_SIDE_PX
    assert legible_on((0.0, 0.0, side, 10.0))
    assert not legible_on((0.0, 0.0, side - 1, side - 1))


def _scene() -> np.ndarray:
    """A real 1080p picture: vtest's first frame scaled to 16:9."""
    image = next(iter(read_video_frames(VTEST_PATH, limit=1)))
    return np.asarray(cv2.resize(image, MAIN, interpolation=cv2.INTER_CUBIC))


def test_the_vehicle_is_found_again_where_it_moved_to() -> None:
    main = _scene()
    sub = cv2.resize(main, SUB, interpolation=cv2.INTER_AREA)
    box = (300.0, 200.0, 420.0, 290.0)  # sub pixels, a textured part of the scene
    view = PlateView(T0, box, SUB, sub[200:290, 300:420].copy())
    assert refine_box(view, main)[0] == pytest.approx(map_box(box, SUB, MAIN), abs=3.0)
    # by the main frame the content moved 12 sub px right and 4 down (clocks, motion)
    moved = np.roll(main, (12 * 3, 4 * 3), axis=(1, 0))
    refined, score = refine_box(view, moved)
    assert score > 0.8
    assert refined == pytest.approx((936.0, 612.0, 1296.0, 882.0), abs=3.0)


def test_an_unmatched_view_keeps_its_mapped_box() -> None:
    main = _scene()
    noise = np.random.default_rng(1).integers(0, 255, (90, 120, 3), np.uint8)
    view = PlateView(T0, (300.0, 200.0, 420.0, 290.0), SUB, noise)
    refined, score = refine_box(view, main)
    assert score == 0.0
    assert refined == map_box(view.box_xyxy_px, SUB, MAIN)


def test_an_empty_view_box_is_refused() -> None:
    with pytest.raises(ValueError, match="empty view box"):
        PlateView(T0, (10.0, 10.0, 10.0, 20.0), SUB, np.zeros((2, 2, 3), np.uint8))


def _read(text: str, confidence: float, plate_format: str = "standard") -> MainRead:
    read = PlateRead(text, (confidence,) * len(text), T0, (0.0, 0.0, 1.0, 1.0),
                     plate_format=plate_format)  # type: ignore[arg-type]  # fmt: skip
    return MainRead(
        T0, (0.0, 0.0, 200.0, 150.0), 0.9, True, PlateSighting(read, np.zeros((2, 2, 3), np.uint8))
    )


def test_a_sure_read_is_a_known_layout_read_surely() -> None:
    assert sure_read(_read("京A12345", 0.95))
    assert not sure_read(_read("京A12345", 0.6))
    assert not sure_read(_read("A12345", 0.99, "generic"))
    assert not sure_read(MainRead(T0, (0.0, 0.0, 10.0, 10.0), 0.0, False, None))


class UnsureSighter(RecordingSighter):
    """Reads every view as one plate with a doubtful character."""

    def sight(
        self, vehicle: np.ndarray, at: datetime, origin_px: tuple[float, float] = (0.0, 0.0)
    ) -> PlateSighting:
        sighting = super().sight(vehicle, at, origin_px)
        read = PlateRead("京A12345", (0.9,) * 6 + (0.4,), at, sighting.read.box_xyxy_px)
        return PlateSighting(read, sighting.crop)


BOXES = [(100.0 + 8 * i, 150.0, 230.0 + 8 * i, 240.0) for i in range(8)]  # 130×90 px, moving


def test_a_main_source_camera_hands_its_best_views_on_and_reads_none() -> None:
    for sighter in (UnsureSighter(), RecordingSighter()):  # unsure or sure: no sub read
        builder = TrackBuilder("cam-1", ColourEmbedder(), plate_reader=sighter)
        builder.plate_source = "main"
        observe_car(builder, BOXES)
        (record,) = builder.finalise(builder.end([7]))
        assert sighter.crop_sizes == []  # one read per vehicle: the main stream's
        assert record.plate is None
        assert 1 <= len(record.plate_views) <= 3
        assert record.plate_views[0].at == record.best_shot_at  # best view first
        assert all(v.frame_size_px == SUB for v in record.plate_views)
        assert all(v.crop.shape[:2] == (90, 130) for v in record.plate_views)


def test_a_sub_source_camera_reads_at_once_and_hands_nothing_on() -> None:
    sighter = UnsureSighter()
    builder = TrackBuilder("cam-1", ColourEmbedder(), plate_reader=sighter)
    observe_car(builder, BOXES)
    (record,) = builder.finalise(builder.end([7]))
    assert record.plate is not None and sighter.crop_sizes
    assert record.plate_views == ()


def test_the_fall_back_reads_the_legible_sub_crops_with_their_origin() -> None:
    sighter = RecordingSighter()
    near = PlateView(T0, (100.0, 150.0, 230.0, 240.0), SUB, np.zeros((90, 130, 3), np.uint8))
    far = PlateView(T0, (300.0, 150.0, 370.0, 200.0), SUB, np.zeros((50, 70, 3), np.uint8))
    plate = read_sub_views([far, near], sighter)
    assert sighter.crop_sizes == [(130, 90)]  # the 70 px view is under the sub stream's gate
    assert plate is not None and plate.text == "京A12345"
    assert plate.reads[0].box_xyxy_px[:2] == (100.0, 150.0)  # in the analysed frame's pixels
    assert read_sub_views([far], RecordingSighter()) is None


def test_a_vehicle_too_small_for_the_sub_stream_is_still_handed_on() -> None:
    sighter = UnsureSighter()
    builder = TrackBuilder("cam-1", ColourEmbedder(), plate_reader=sighter)
    builder.plate_source = "main"
    observe_car(builder, [(100.0 + i, 150.0, 170.0 + i, 200.0) for i in range(6)])  # 70×50
    (record,) = builder.finalise(builder.end([7]))
    assert sighter.crop_sizes == []  # not legible on the sub stream: no sub read
    assert record.plate is None
    assert record.plate_views  # 210×150 px on the main stream: worth a read there


def test_a_parked_vehicle_read_in_vain_is_not_read_again_for_a_while() -> None:
    scene = cv2.resize(_scene(), SUB, interpolation=cv2.INTER_AREA)
    box = (300.0, 200.0, 420.0, 290.0)
    view = PlateView(T0, box, SUB, scene[200:290, 300:420].copy())
    memory = [ReadInVain(box, look_of(view), until_s=700.0)]
    assert read_in_vain_before(view, memory, now_s=100.0)
    assert not read_in_vain_before(view, memory, now_s=701.0)  # the note expired
    moved = (360.0, 200.0, 480.0, 290.0)  # half a box further: another place
    assert not read_in_vain_before(PlateView(T0, moved, SUB, view.crop), memory, 100.0)
    other = PlateView(T0, box, SUB, scene[100:190, 100:220].copy())  # same place, other look
    assert not read_in_vain_before(other, memory, 100.0)


def test_only_a_vehicle_that_stood_still_is_remembered_as_read_in_vain() -> None:
    # a crossing car read in vain (its first fragment, far away) must not stop its own later
    # track — or the next car of its look — from being read on the same spots; a parked one is
    # not read again for a while. Rows: (s since start, x1, y1, x2, y2), 5 fps.
    crossing = [(0.2 * i, 495 - 35 * i, 280, 579 - 35 * i, 347) for i in range(6)]  # 175 px/s
    parked = [(0.2 * i, 300 + i % 2, 200, 420 + i % 2, 290) for i in range(6)]  # box jitter
    assert not stood_still(crossing)
    assert stood_still(parked)
    assert not stood_still(parked[:1])  # one sample: no evidence either way
