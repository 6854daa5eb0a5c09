"""Plates in a re-index (issue #14 × #15): read on the recorded main stream's own pixels.

A re-index decodes the recorded (main-stream) segment and analyses it scaled to the live
sub-stream's size (ingest/archive.py), so its tracks' boxes, views and zones are alike on both
paths. The track builder reads a vehicle track's plate as live does (best views + views while
it stands still, voted), but on crops cut from the same decoded frame at full resolution: the
box is mapped by the ratio of the frame sizes (no search needed, it is the same frame), gated
by the main stream's legibility threshold on those pixels and padded like a main-stream read
(detect/main_stream_plates.py). A frame is converted to BGR at full resolution only when a
legible vehicle view is kept on it (`FullFrame`); the reader is the live runtime's
(`PlateReading`, skynet/plate_reading.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detect.main_stream_plates import READ_PAD, legible_on, map_box, pad_box
from detect.track_builder import Box, PlateCrop, crop
from ingest.archive import FullFrame


@dataclass(frozen=True)
class MainFrame:
    """A decoded main-stream frame as the track builder's `FullResolution`."""

    full: FullFrame

    def plate_crop(self, box: Box, frame_size_px: tuple[int, int]) -> PlateCrop | None:
        """The padded full-resolution crop of the vehicle at `box` (analysed pixels) and its
        origin; None when it is under the main stream's legibility gate."""
        size = self.full.size_px
        mapped = map_box(box, frame_size_px, size)
        if not legible_on(mapped):
            return None
        read_box = pad_box(mapped, READ_PAD, size)
        vehicle = crop(self.full.image(), np.array(read_box))
        if min(vehicle.shape[:2]) < 2:
            return None
        return vehicle, (float(int(read_box[0])), float(int(read_box[1])))
