"""The plate reading the settings ask for (issue #14): live ingest and re-index build their
`PlateReader` from this one value (detect/plate_reading.py)."""

from __future__ import annotations

from detect.plate_reading import PlateReading
from skynet.settings import Settings


def plate_reading(settings: Settings) -> PlateReading | None:
    """SKYNET_PLATE_* as a `PlateReading` (None: SKYNET_PLATE_READING is off)."""
    if not settings.plate_reading:
        return None
    return PlateReading(
        settings.models_dir, settings.plate_recogniser, settings.plate_locator,
        settings.plate_deblur,
    )  # fmt: skip
