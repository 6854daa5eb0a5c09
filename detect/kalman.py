"""Constant-velocity Kalman filter of one box in (centre x, centre y, aspect w/h, height) space."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STATE_DIM = 8  # cx, cy, a, h and their velocities per second
MEASURE_DIM = 4
_H = np.eye(MEASURE_DIM, STATE_DIM)


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
    """(x1, y1, x2, y2) → (cx, cy, w/h, h)."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    h = max(y2 - y1, 1e-3)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / h, h], np.float64)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(cx, cy, w/h, h) → (x1, y1, x2, y2)."""
    cx, cy, a, h = (float(v) for v in xyah[:4])
    w = a * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


class BoxKalman:
    """One track's state: mean (8) and covariance (8×8); velocities are per second."""

    def __init__(self, xyxy: np.ndarray, noise: MotionNoise) -> None:
        self._noise = noise
        z = xyxy_to_xyah(xyxy)
        self.mean = np.concatenate([z, np.zeros(4)])
        h = z[3]
        pos_std = [
            2 * noise.measurement * h,
            2 * noise.measurement * h,
            0.05,
            2 * noise.measurement * h,
        ]
        vel_std = [noise.initial_velocity * h, noise.initial_velocity * h, 0.02, 0.2 * h]
        self.covariance = np.diag(np.square(pos_std + vel_std))

    def predict(self, dt_s: float) -> None:
        """Advance the state by `dt_s` seconds (dt_s ≥ 0)."""
        if dt_s <= 0:
            return
        transition = np.eye(STATE_DIM)
        transition[:4, 4:] = np.eye(4) * dt_s
        h = max(self.mean[3], 1.0)
        n = self._noise
        pos = n.position_per_s * h * dt_s
        vel = n.velocity_per_s * h * dt_s
        q = np.square([pos, pos, n.aspect * dt_s, pos, vel, vel, n.aspect * dt_s, vel])
        self.mean = transition @ self.mean
        self.covariance = transition @ self.covariance @ transition.T + np.diag(q)

    def update(self, xyxy: np.ndarray) -> None:
        """Correct the state with a measured box."""
        z = xyxy_to_xyah(xyxy)
        h = max(self.mean[3], 1.0)
        m = self._noise.measurement * h
        r = np.diag(np.square([m, m, 0.02, m]))
        s = _H @ self.covariance @ _H.T + r
        gain = np.linalg.solve(s, (self.covariance @ _H.T).T).T
        self.mean = self.mean + gain @ (z - _H @ self.mean)
        self.covariance = (np.eye(STATE_DIM) - gain @ _H) @ self.covariance

    def freeze_size(self) -> None:
        """Stop extrapolating the size of a lost box (its height velocity drifts otherwise)."""
        self.mean[6:] = 0.0

    @property
    def xyxy(self) -> np.ndarray:
        return xyah_to_xyxy(self.mean)

    @property
    def velocity_px_s(self) -> tuple[float, float]:
        return float(self.mean[4]), float(self.mean[5])
