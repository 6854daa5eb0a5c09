"""Catalog repository (issue #14): a track's plate replaced by a later, better read — the main
stream's read of a vehicle whose live plate came from the sub stream (index/main_plates.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from detect.plate_values import TrackPlate
from index.catalog.plates import _plate_values
from index.catalog.rows import PlateRow, TrackRow


def replace_plate(
    session: Session,
    track_id: int,
    plate: TrackPlate,
    crop_key: str | None,
    read_frame_size_px: tuple[int, int],
    stream: str = "main",
) -> bool:
    """Store `plate` as the track's plate, replacing the one the live path stored (or adding
    one where it stored none); each read records the stream it was read on ("main", or "sub"
    for the fall-back read of a failed main-stream read) and the frame size its box is in.
    False when the track is gone (deleted by retention or superseded by a re-index): nothing
    is written. Flushes; the caller commits."""
    if session.get(TrackRow, int(track_id)) is None:
        return False
    values = _plate_values(track_id, plate, crop_key)
    width_px, height_px = read_frame_size_px
    values["reads"] = [
        read | {"stream": stream, "frame_size": [width_px, height_px]} for read in values["reads"]
    ]
    row = session.get(PlateRow, int(track_id))
    if row is None:
        session.add(PlateRow(**values))
    else:
        for name, value in values.items():
            if name not in ("track_id", "created_at"):
                setattr(row, name, value)
    session.flush()
    return True
