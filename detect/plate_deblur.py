"""Motion-blur removal for plate reading (issue #14): a vehicle moving during the exposure smears
its plate along a line, the worst condition of the plate benchmark. The reader's second look at
a crop it read no sure plate on (detect/plate_reader.py, `PlateSearch.deblur`) estimates that
line and undoes it.

Estimate (the cepstral method, Rom 1975 / Cannon 1976): a line blur of length L multiplies the
image's spectrum by a sinc whose zeros repeat every 1/L, so the cepstrum (the inverse transform
of the log spectrum) of a blurred image has a negative peak at distance L from the origin along
the blur's direction. The grey, Hann-windowed image's cepstrum is searched for its lowest value
over lengths `MIN_BLUR_PX`-`MAX_BLUR_PX` and directions every `ANGLE_STEP_DEG`.

Removal: Wiener deconvolution of each colour channel by that line kernel, with a constant
noise-to-signal ratio `WIENER_NSR`; the image is mirrored at its borders first so the circular
transform does not smear one edge into the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_BLUR_PX = 3
MAX_BLUR_PX = 15
ANGLE_STEP_DEG = 3
WIENER_NSR = 0.01
SAMPLES_PER_PX = 8  # points per pixel of length drawing the line kernel
MIN_SIDE_PX = 2 * MAX_BLUR_PX + 1  # smaller images have no room for the search


@dataclass(frozen=True)
class MotionBlur:
    """A line blur: its length in pixels and its direction in degrees (counter-clockwise from
    the image's x axis as displayed, -90 to 90)."""

    length_px: int
    angle_deg: float


def estimate_motion_blur(image: np.ndarray) -> MotionBlur | None:
    """The line blur of a BGR image by its cepstrum's negative peak; None for an image too
    small to search."""
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE_PX:
        return None
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    grey -= float(grey.mean())
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    cepstrum = np.real(np.fft.ifft2(np.log1p(np.abs(np.fft.fft2(grey * window)))))
    lengths, angles = np.meshgrid(
        np.arange(MIN_BLUR_PX, MAX_BLUR_PX + 1), np.arange(-90, 90, ANGLE_STEP_DEG)
    )
    radians = np.deg2rad(angles)
    xs = np.rint(lengths * np.cos(radians)).astype(int) % w
    ys = np.rint(-lengths * np.sin(radians)).astype(int) % h
    lowest = np.unravel_index(int(np.argmin(cepstrum[ys, xs])), xs.shape)
    return MotionBlur(int(lengths[lowest]), float(angles[lowest]))


def line_kernel(blur: MotionBlur) -> np.ndarray:
    """The blur's point-spread function: a line of its length and direction through the centre
    of an odd square, sampled finely and spread over the four pixels around each sample
    (bilinear weights), summing to 1."""
    size = (blur.length_px | 1) + 2  # a pixel of margin for the spread
    centre = (size - 1) / 2
    samples = SAMPLES_PER_PX * blur.length_px
    along = (np.arange(samples) + 0.5) / samples * blur.length_px - blur.length_px / 2
    radians = np.deg2rad(blur.angle_deg)
    xs = centre + along * np.cos(radians)
    ys = centre - along * np.sin(radians)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    kernel = np.zeros((size + 1, size + 1), np.float64)
    for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                           (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):  # fmt: skip
        np.add.at(kernel, (y0 + dy, x0 + dx), weight)
    return (kernel[:size, :size] / kernel.sum()).astype(np.float32)


def deblur(image: np.ndarray, blur: MotionBlur, nsr: float = WIENER_NSR) -> np.ndarray:
    """A BGR uint8 image with the line blur undone (Wiener deconvolution)."""
    kernel = line_kernel(blur)
    pad = 2 * kernel.shape[0]
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    h, w = padded.shape[:2]
    spread = np.zeros((h, w), np.float32)
    k = kernel.shape[0]
    spread[:k, :k] = kernel
    spread = np.roll(spread, (-(k // 2), -(k // 2)), axis=(0, 1))  # centred on the origin
    transfer = np.fft.rfft2(spread)
    inverse = np.conj(transfer) / (np.abs(transfer) ** 2 + nsr)
    channels = [
        np.fft.irfft2(np.fft.rfft2(padded[..., c].astype(np.float32)) * inverse, s=(h, w))
        for c in range(padded.shape[2])
    ]
    restored = np.stack(channels, axis=-1)[pad : h - pad, pad : w - pad]
    return np.clip(restored, 0, 255).astype(np.uint8)
