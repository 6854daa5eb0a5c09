"""How plates are read (issue #14): one picklable recipe for the one `PlateReader`.

The live runtime and the re-index workers (in this process or on Ray actors, which build their
own reader from it) read plates with the reader this value builds, so both read alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from detect.plate_locator import PlateSearch
from detect.plate_reader import LocatorName, PlateReader, RecogniserName


@dataclass(frozen=True, slots=True)
class PlateReading:
    """The model cache, recogniser, locator and deblurring a `PlateReader` is built with."""

    models_dir: Path
    recogniser: RecogniserName = "ppocr"
    locator: LocatorName = "ppocr"
    deblur: bool = True

    def reader(self) -> PlateReader:
        """A new reader (loads its models: do it once per process or worker)."""
        return PlateReader.from_model_cache(
            self.models_dir, self.recogniser, self.locator, PlateSearch(deblur=self.deblur)
        )
