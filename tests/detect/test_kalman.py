"""Batched box Kalman filters: the stacked predict/update equals the textbook filter run one box
at a time (plain matrix formulas below); lost boxes stop growing; box conversions round-trip."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from detect.kalman import KalmanBoxes, MotionNoise, xyah_to_xyxy, xyxy_to_xyah

NOISE = MotionNoise()
BOXES = np.array(
    [[10, 20, 50, 120], [300, 40, 420, 100], [5, 5, 7, 9], [200, 200, 260, 380], [0, 0, 80, 80]],
    np.float32,
)


class OneBox:
    """Reference: one box's filter, F·x, F·P·Fᵀ + Q and the Kalman gain written out in full."""

    def __init__(self, xyxy: np.ndarray) -> None:
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        h = y2 - y1
        self.mean = np.array([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / h, h, 0, 0, 0, 0])
        m, v = 2 * NOISE.measurement * h, NOISE.initial_velocity * h
        self.covariance = np.diag(np.square([m, m, 0.05, m, v, v, 0.02, 0.2 * h]))

    def predict(self, dt_s: float) -> None:
        transition = np.eye(8)
        transition[:4, 4:] = dt_s * np.eye(4)
        h = max(self.mean[3], 1.0)
        pos, vel = NOISE.position_per_s * h * dt_s, NOISE.velocity_per_s * h * dt_s
        a = NOISE.aspect * dt_s
        process = np.diag(np.square([pos, pos, a, pos, vel, vel, a, vel]))
        self.mean = transition @ self.mean
        self.covariance = transition @ self.covariance @ transition.T + process

    def update(self, xyxy: np.ndarray) -> None:
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        z = np.array([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / (y2 - y1), y2 - y1])
        measure = np.eye(4, 8)
        m = NOISE.measurement * max(self.mean[3], 1.0)
        noise = np.diag(np.square([m, m, 0.02, m]))
        innovation_cov = measure @ self.covariance @ measure.T + noise
        gain = self.covariance @ measure.T @ np.linalg.inv(innovation_cov)
        self.mean = self.mean + gain @ (z - measure @ self.mean)
        self.covariance = (np.eye(8) - gain @ measure) @ self.covariance


def assert_same(batch: KalmanBoxes, reference: list[OneBox]) -> None:
    assert len(batch) == len(reference)
    for row, one in enumerate(reference):
        np.testing.assert_allclose(batch.mean[row], one.mean, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(batch.covariance[row], one.covariance, rtol=1e-9, atol=1e-9)


def test_batched_filter_equals_one_box_at_a_time() -> None:
    batch, reference = KalmanBoxes(NOISE), [OneBox(b) for b in BOXES]
    batch.add(BOXES)
    assert_same(batch, reference)
    rng = np.random.default_rng(3)
    for step in range(6):
        dt_s = 0.2 * (1 + step % 3)
        batch.predict(dt_s)
        for one in reference:
            one.predict(dt_s)
        rows = rng.permutation(len(reference))[: 2 + step % 3]  # a few rows, in any order
        seen = xyah_to_xyxy(np.stack([reference[r].mean for r in rows]))
        seen = seen + rng.normal(0, 3, seen.shape).astype(np.float32) + [8, 2, 8, 2]
        batch.update(rows, seen)
        for row, box in zip(rows, seen, strict=True):
            reference[row].update(box)
        assert_same(batch, reference)
    assert np.abs(batch.mean[:, 4:6]).max() > 1.0  # the boxes did pick up speed

    batch.keep(np.array([3, 0]))
    batch.add(BOXES[1:2])
    reference = [reference[3], reference[0], OneBox(BOXES[1])]
    batch.predict(0.2)
    for one in reference:
        one.predict(0.2)
    assert_same(batch, reference)


def test_update_of_no_rows_and_predict_of_no_time_change_nothing() -> None:
    batch = KalmanBoxes(NOISE)
    batch.add(BOXES)
    mean, covariance = batch.mean.copy(), batch.covariance.copy()
    batch.predict(0.0)
    batch.predict(-0.5)
    batch.update(np.zeros(0, np.int64), np.zeros((0, 4), np.float32))
    np.testing.assert_array_equal(batch.mean, mean)
    np.testing.assert_array_equal(batch.covariance, covariance)


def test_a_lost_box_keeps_moving_but_stops_growing() -> None:
    """Two boxes walk right and grow; once the second is lost (size frozen), predictions carry
    it on at its speed while its height stays put; the first goes on growing."""
    batch = KalmanBoxes(NOISE)
    start = np.array([[100, 100, 140, 200], [300, 100, 340, 200]], np.float32)
    batch.add(start)
    for step in range(1, 8):
        batch.predict(0.2)
        batch.update(np.array([0, 1]), start + step * np.array([10, -5, 12, 5], np.float32))
    assert (batch.mean[:, 7] > 5).all()  # growing by more than 5 px/s
    height, x_speed = batch.mean[1, 3], batch.mean[1, 4]
    for _ in range(5):
        batch.freeze_size(np.array([False, True]))
        batch.predict(0.2)
    assert batch.mean[1, 3] == height
    assert batch.mean[1, 6:].tolist() == [0.0, 0.0]
    assert batch.mean[0, 3] > height + 5
    assert batch.mean[1, 0] > 320 + 11 * 7 + 0.8 * x_speed  # still moving right


coordinate = st.floats(min_value=-500, max_value=2000, allow_nan=False)
size = st.floats(min_value=1, max_value=800)


@given(coordinate, coordinate, size, size)
def test_xyah_round_trips_to_xyxy(x1: float, y1: float, w: float, h: float) -> None:
    box = np.array([[x1, y1, x1 + w, y1 + h]], np.float32)
    np.testing.assert_allclose(xyah_to_xyxy(xyxy_to_xyah(box)), box, atol=1e-3, rtol=1e-5)
