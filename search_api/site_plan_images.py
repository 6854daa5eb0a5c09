"""Site plan images (issue #18): what an uploaded plan must be before it is stored.

PNG or JPEG by its first bytes (whatever the browser declared), at most `MAX_PLAN_BYTES` and
`MAX_PLAN_SIDE_PX` a side by its header (read without decoding, so a decompression bomb is
refused before it costs memory), and decodable by OpenCV to the end (at half size: the whole
stream is read, a quarter of the pixels kept). The stored bytes are the uploaded ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

from detect.query import QueryImageError, check_image_size, image_size_px

MAX_PLAN_BYTES = 10 * 1024 * 1024
MAX_PLAN_SIDE_PX = 8000
MIN_PLAN_SIDE_PX = 16
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": ("image/png", "png"), b"\xff\xd8\xff": ("image/jpeg", "jpg")}


class PlanImageError(ValueError):
    """The upload is not a usable plan image; the message says why, for the user."""


class PlanImageTooLarge(PlanImageError):
    """Over the byte limit."""


@dataclass(frozen=True)
class PlanImage:
    data: bytes
    content_type: str
    extension: str
    width_px: int
    height_px: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _kind(data: bytes) -> tuple[str, str]:
    for signature, kind in _SIGNATURES.items():
        if data.startswith(signature):
            return kind
    raise PlanImageError("the file is not a PNG or JPEG image: choose a PNG or JPEG site plan")


def check_plan_image(data: bytes) -> PlanImage:
    """The upload as a plan image; PlanImageError (PlanImageTooLarge) saying what is wrong."""
    if len(data) > MAX_PLAN_BYTES:
        raise PlanImageTooLarge(f"the file is larger than {MAX_PLAN_BYTES // (1024 * 1024)} MB")
    try:  # the query images' check: empty, a decompression bomb, too many pixels by the header
        check_image_size(data, MAX_PLAN_SIDE_PX * MAX_PLAN_SIDE_PX)
    except QueryImageError as error:
        raise PlanImageError(str(error)) from error
    content_type, extension = _kind(data)
    size = image_size_px(data)
    if size is None:
        raise PlanImageError("the image header cannot be read: the file is damaged")
    width, height = size
    if max(width, height) > MAX_PLAN_SIDE_PX:
        raise PlanImageError(
            f"the image is {width}x{height} px; at most {MAX_PLAN_SIDE_PX} px a side"
        )
    if min(width, height) < MIN_PLAN_SIDE_PX:
        raise PlanImageError(f"the image is {width}x{height} px; at least {MIN_PLAN_SIDE_PX} px")
    try:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_2)
    except cv2.error as error:
        raise PlanImageError(f"the image cannot be decoded: {error.msg.strip()}") from error
    if decoded is None:
        raise PlanImageError("the image cannot be decoded: the file is damaged or truncated")
    return PlanImage(data, content_type, extension, width, height)
