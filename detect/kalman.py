"""Constant-velocity Kalman filters of a stack of boxes in (centre x, centre y, aspect w/h,
height) space: one row per box, each frame's predict and correction done in one numpy pass for
all rows (a tracker keeps its tracks aligned with the rows)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STATE_DIM = 8  # cx, cy, a, h and their velocities per second
MEASURE_DIM = 4
_STATE_DIAG = np.arange(STATE_DIM)
_MEASURE_DIAG = np.arange(MEASURE_DIM)
_IDENTITY = np.eye(STATE_DIM)
_POSITION_FROM_VELOCITY = np.eye(STATE_DIM, k=MEASURE_DIM)  # transition = I + dt · this


@dataclass(frozen=True)
class MotionNoise:
    """Noise of the motion model, relative to the box height (as in SORT/ByteTrack).

    Process noise grows with the time step so that the filter behaves alike at 5 and 25 fps:
    a position std of `position_per_s` × height per second and a velocity std of
    `velocity_per_s` × height per second per second. `measurement` is the detector's box
    jitter as a fraction of the height; `initial_velocity` is the std of the unknown speed of a
    newborn track (heights per second), wide enough to catch a car at 5 fps.
    """

    position_per_s: float = 0.25
    velocity_per_s: float = 0.6
    measurement: float = 0.05
    initial_velocity: float = 1.5
    aspect: float = 0.02


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """(x1, y1, x2, y2) rows → (cx, cy, w/h, h) rows (N×4 → N×4 float64)."""
    box = np.asarray(xyxy, np.float64).reshape(-1, 4)
    wh = box[:, 2:] - box[:, :2]
    h = np.maximum(wh[:, 1:], 1e-3)
    return np.concatenate([(box[:, :2] + box[:, 2:]) / 2, wh[:, :1] / h, h], axis=1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(cx, cy, w/h, h, …) rows → (x1, y1, x2, y2) rows (N×≥4 → N×4 float32)."""
    half_wh = np.stack([xyah[:, 2] * xyah[:, 3], xyah[:, 3]], axis=1) / 2
    centre = xyah[:, :2]
    return np.concatenate([centre - half_wh, centre + half_wh], axis=1).astype(np.float32)


class KalmanBoxes:
    """States of N boxes: `mean` (N×8) and `covariance` (N×8×8); velocities are per second."""

    def __init__(self, noise: MotionNoise) -> None:
        self.noise = noise
        self.mean = np.zeros((0, STATE_DIM))
        self.covariance = np.zeros((0, STATE_DIM, STATE_DIM))

    def __len__(self) -> int:
        return len(self.mean)

    def add(self, xyxy: np.ndarray) -> None:
        """Append one row per box (M×4): at rest, its speed unknown within `initial_velocity`."""
        z = xyxy_to_xyah(xyxy)
        n = self.noise
        m, v = 2 * n.measurement, n.initial_velocity
        std = z[:, 3:] * np.array([m, m, 0, m, v, v, 0, 0.2]) + [0, 0, 0.05, 0, 0, 0, 0.02, 0]
        covariance = np.zeros((len(z), STATE_DIM, STATE_DIM))
        covariance[:, _STATE_DIAG, _STATE_DIAG] = np.square(std)
        self.mean = np.concatenate([self.mean, np.concatenate([z, np.zeros_like(z)], axis=1)])
        self.covariance = np.concatenate([self.covariance, covariance])

    def keep(self, rows: np.ndarray) -> None:
        """Keep only `rows` (indices), in that order."""
        self.mean = self.mean[rows]
        self.covariance = self.covariance[rows]

    def freeze_size(self, rows: np.ndarray) -> None:
        """Stop extrapolating the size of lost boxes `rows` (mask or indices): their height
        velocity drifts otherwise."""
        self.mean[rows, 6:] = 0.0

    def predict(self, dt_s: float) -> None:
        """Advance every row by `dt_s` seconds; nothing happens for dt_s ≤ 0."""
        if dt_s <= 0 or not len(self):
            return
        n = self.noise
        p, v, a = n.position_per_s, n.velocity_per_s, n.aspect
        height = np.maximum(self.mean[:, 3:4], 1.0)
        std = (height * np.array([p, p, 0, p, v, v, 0, v]) + [0, 0, a, 0, 0, 0, a, 0]) * dt_s
        transition = _IDENTITY + dt_s * _POSITION_FROM_VELOCITY
        self.mean = self.mean @ transition.T
        self.covariance = transition @ self.covariance @ transition.T
        self.covariance[:, _STATE_DIAG, _STATE_DIAG] += np.square(std)

    def update(self, rows: np.ndarray, xyxy: np.ndarray) -> None:
        """Correct `rows` (distinct indices) with one measured box each (M×4)."""
        if not len(rows):
            return
        mean, covariance = self.mean[rows], self.covariance[rows]
        m = self.noise.measurement * np.maximum(mean[:, 3:4], 1.0)
        std = m * np.array([1.0, 1.0, 0.0, 1.0]) + [0, 0, 0.02, 0]
        # the measurement is the first four state components: H·P·Hᵀ and P·Hᵀ are slices of P
        innovation_cov = covariance[:, :MEASURE_DIM, :MEASURE_DIM].copy()
        innovation_cov[:, _MEASURE_DIAG, _MEASURE_DIAG] += np.square(std)
        # Kᵀ = S⁻¹·(P·Hᵀ)ᵀ (M×4×8); then x + K·(z − H·x) and (I − K·H)·P = P − K·(H·P)
        gain_t = np.linalg.solve(innovation_cov, covariance[:, :, :MEASURE_DIM].transpose(0, 2, 1))
        innovation = xyxy_to_xyah(xyxy) - mean[:, :MEASURE_DIM]
        self.mean[rows] = mean + (innovation[:, None, :] @ gain_t)[:, 0]
        self.covariance[rows] = covariance - gain_t.transpose(0, 2, 1) @ covariance[:, :MEASURE_DIM]

    def xyxy(self) -> np.ndarray:
        """Every row's box (N×4 float32)."""
        return xyah_to_xyxy(self.mean)
