"""Licence-plate values of the detect stage (issue #14): one read of one frame, and a track's
voted plate. The reader (detect/plate_reader.py) makes them, the track builder attaches a
`TrackPlate` to vehicle `TrackRecord`s, and the index stage stores them for plate search and
watchlists. Plate text is normalised (detect/plate_format.py): upper-case, no separators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

PlateColour = Literal["blue", "yellow", "green", "white", "black", "unknown"]
PLATE_COLOURS: tuple[PlateColour, ...] = ("blue", "yellow", "green", "white", "black", "unknown")
PlateFormat = Literal["standard", "new_energy", "special", "generic"]
PLATE_VEHICLES = frozenset({"car", "bus", "truck", "motorcycle"})


@dataclass(frozen=True)
class PlateRead:
    """One reading of a plate in one frame: normalised text with a confidence per character,
    the plate's box in the frame (source pixels), its colour, rows (1 or 2) and format."""

    text: str
    char_confidences: tuple[float, ...]
    at: datetime
    box_xyxy_px: tuple[float, float, float, float]
    colour: PlateColour = "unknown"
    rows: int = 1
    plate_format: PlateFormat = "generic"

    def __post_init__(self) -> None:
        if len(self.char_confidences) != len(self.text):
            raise ValueError("one confidence per character")
        if self.rows not in (1, 2):
            raise ValueError(f"a plate has 1 or 2 rows, got {self.rows}")

    @property
    def confidence(self) -> float:
        """The weakest character's confidence (a read is as sure as its worst character)."""
        return min(self.char_confidences, default=0.0)


@dataclass(frozen=True)
class TrackPlate:
    """A vehicle track's plate: reads voted per character position, the best text and ranked
    alternatives (text, score), every read kept as evidence, and a crop of the best read."""

    text: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...] = ()
    reads: tuple[PlateRead, ...] = ()
    crop_jpeg: bytes = field(default=b"", repr=False)
