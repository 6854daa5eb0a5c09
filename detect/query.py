"""Turns an uploaded picture into a query embedding: pick the object, crop it, embed it."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from detect.detections import Detections
from detect.detector import BatchDetector
from detect.track_builder import Embedder, crop

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MIN_SIDE_PX = 8
# A 107 KB 30000x30000 PNG decoded to 5.7 GB and took 9.5 s; 40 MP (a 7360x5440 photo, 120 MB
# decoded) is the default limit (Settings.max_image_pixels).
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000


class QueryImageError(ValueError):
    """The uploaded picture cannot be used as a query; the message says why."""


class ImageTooLarge(QueryImageError):
    """The upload is larger than allowed, in bytes or in decoded pixels."""


def image_size_px(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image's header alone (Pillow reads it; nothing is decoded),
    None when no header is recognised; Image.DecompressionBombError past Pillow's own limit."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as header:
                return header.size
    except (OSError, ValueError, SyntaxError):
        return None


def check_image_size(data: bytes, max_pixels: int) -> None:
    """Refuse an upload before decoding it: empty, over MAX_IMAGE_BYTES, or whose header
    declares more than `max_pixels` pixels (ImageTooLarge)."""
    if not data:
        raise QueryImageError("the image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(f"the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    too_large = f"at most {max_pixels / 1e6:g} MP are accepted"
    try:
        size = image_size_px(data)
    except Image.DecompressionBombError as error:  # over ~179 MP
        raise ImageTooLarge(f"the image is over 179 MP; {too_large}") from error
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageTooLarge(
            f"the image is {size[0]}x{size[1]} px ({size[0] * size[1] / 1e6:.1f} MP); {too_large}"
        )


@dataclass(frozen=True)
class QueryObject:
    """The object a query image was reduced to; `box` is None when the whole image was used."""

    class_name: str
    box: tuple[float, float, float, float] | None
    embedding: np.ndarray


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode JPEG/PNG/... bytes to BGR; refuses empty, oversized (bytes or header pixels),
    undecodable or tiny images."""
    check_image_size(data, max_pixels)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as error:  # a header OpenCV refuses (its own size limits, corrupt data)
        raise QueryImageError(f"the image cannot be decoded: {error.msg.strip()}") from error
    if image is None:
        raise QueryImageError("the file is not a decodable image (JPEG, PNG, BMP, WebP, TIFF)")
    if min(image.shape[:2]) < MIN_SIDE_PX:
        raise QueryImageError(f"the image is smaller than {MIN_SIDE_PX} px on a side")
    return image


def largest(detections: Detections) -> int | None:
    return int(np.argmax(detections.area_px)) if len(detections) else None


def largest_object(
    image: np.ndarray, detector: BatchDetector, class_names: list[str]
) -> tuple[str, np.ndarray] | None:
    """Class name and box (x1, y1, x2, y2) of the largest detected object of `class_names`."""
    detections = detector.detect([image])[0]
    wanted = detections[np.isin(np.array(detections.class_name, dtype=object), class_names)]
    index = largest(wanted)
    if index is None:
        return None
    return wanted.class_name[index], wanted.xyxy[index]


def detect_query_object(
    image: np.ndarray, detector: BatchDetector, embedder: Embedder, class_names: list[str]
) -> QueryObject:
    """The largest detected object of `class_names` in `image`, embedded."""
    found = largest_object(image, detector, class_names)
    if found is None:
        raise QueryImageError(
            f"no {' / '.join(class_names)} was detected in the image; upload a clearer picture "
            "or send whole_image=true if it already shows just the object"
        )
    class_name, box = found
    x1, y1, x2, y2 = (float(v) for v in box)
    embedding = embedder.embed([crop(image, box)], [class_name])[0]
    return QueryObject(class_name, (x1, y1, x2, y2), embedding)


def whole_image_query(image: np.ndarray, embedder: Embedder, class_name: str) -> QueryObject:
    """Use the whole picture as the object (it is already a crop of a person or vehicle)."""
    return QueryObject(class_name, None, embedder.embed([image], [class_name])[0])
