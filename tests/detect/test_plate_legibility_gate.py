"""The track builder reads no plate on a vehicle view too small to hold a legible one (#14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from detect.detections import Detections
from detect.plate_reader import PlateSighting
from detect.plate_values import PlateRead
from detect.track_builder import PLATE_MIN_VEHICLE_SIDE_PX, TrackBuilder, plate_legible
from ingest.frame import Frame
from tests.detect.test_track_builder import ColourEmbedder

T0 = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
CAR = 2  # COCO class id


class RecordingSighter:
    """Answers every read with one plate and keeps the size of each vehicle crop it was given."""

    def __init__(self) -> None:
        self.crop_sizes: list[tuple[int, int]] = []

    def sight(
        self, vehicle: np.ndarray, at: datetime, origin_px: tuple[float, float] = (0.0, 0.0)
    ) -> PlateSighting:
        self.crop_sizes.append((int(vehicle.shape[1]), int(vehicle.shape[0])))
        read = PlateRead("京A12345", (0.9,) * 7, at, (origin_px[0], origin_px[1], 10.0, 4.0))
        return PlateSighting(read, np.zeros((4, 12, 3), np.uint8))


def observe_car(
    builder: TrackBuilder, boxes: list[tuple[float, float, float, float]], step_s: float = 0.2
) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (360, 640, 3), np.uint8)  # textured: sharp crops
    for i, box in enumerate(boxes):
        dets = Detections(
            xyxy=np.array([box], np.float32),
            confidence=np.array([0.9], np.float32),
            class_id=np.array([CAR]),
            tracker_id=np.array([7]),
        )
        at = T0 + timedelta(seconds=i * step_s)
        builder.observe(Frame(image, "cam-1", i * step_s, at), dets)


def test_the_gate_is_the_longest_side() -> None:
    side = float(PLATE_MIN_VEHICLE_SIDE_PX)
    assert plate_legible((10.0, 10.0, 10.0 + side, 40.0))
    assert plate_legible((10.0, 10.0, 40.0, 10.0 + side))
    assert not plate_legible((10.0, 10.0, 10.0 + side - 1, 10.0 + side - 1))


def test_a_distant_vehicle_is_not_read() -> None:
    sighter = RecordingSighter()
    builder = TrackBuilder("cam-1", ColourEmbedder(), plate_reader=sighter)
    observe_car(builder, [(100.0 + i, 150.0, 180.0 + i, 200.0) for i in range(6)])  # 80×50 px
    (record,) = builder.finalise(builder.end([7]))
    assert record.class_name == "car"
    assert sighter.crop_sizes == [] and record.plate is None


def test_a_near_vehicle_is_read_on_its_large_views_only() -> None:
    sighter = RecordingSighter()
    builder = TrackBuilder("cam-1", ColourEmbedder(), plate_reader=sighter)
    widths = [60, 70, 80, 90, 120, 160, 200]  # approaching: small views first
    observe_car(builder, [(50.0, 100.0, 50.0 + w, 100.0 + w * 0.6) for w in widths])
    (record,) = builder.finalise(builder.end([7]))
    assert record.plate is not None and record.plate.text == "京A12345"
    assert sorted(w for w, _ in sighter.crop_sizes) == [120, 160, 200]


def test_a_small_parked_vehicle_is_not_read_periodically() -> None:
    sighter = RecordingSighter()
    builder = TrackBuilder("cam-1", ColourEmbedder(), plate_reader=sighter, plate_period_s=10.0)
    observe_car(builder, [(300.0, 200.0, 370.0, 245.0)] * 61, step_s=1.0)  # a minute, 70×45
    (record,) = builder.finalise(builder.end([7]))
    assert sighter.crop_sizes == [] and record.plate is None
