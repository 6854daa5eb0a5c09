"""Views of the catalog's tracks for learning the re-ID metric (issue #16, `skynet reid learn`).

The catalog keeps one embedding per track, but learning needs several views of each: they are
cut again from the recordings. For every track of the wanted classes overlapping [start, end)
the trajectory points (box per time, in the analysed frame's pixels) are spread to at most
`max_views`, the camera's recorded segments are decoded once each in time order, and the box at
each point is cut from the recorded frame nearest that time (scaled to the recording's size)
and embedded with the embedder's base vector (`embed_base`: the metric is learned on it).
Tracks that give fewer than two usable views are left out.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import av
import numpy as np

from detect.reid_metric import TrackViews
from index.catalog import (
    SessionFactory,
    StoredTrack,
    TrackQuery,
    matching_track_ids,
    segments_between,
    tracks_by_ids,
)
from ingest.segment import Segment
from storage.objectstore import ObjectStore

DEFAULT_MAX_VIEWS = 8
MIN_CROP_PX = (16, 32)  # width, height in the recording: smaller views say little
EmbedBase = Callable[[list[np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class LearningSource:
    """Which tracks to learn from."""

    start: datetime
    end: datetime
    class_names: tuple[str, ...] = ("person",)
    max_views: int = DEFAULT_MAX_VIEWS

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"--to {self.end} must be after --from {self.start}")
        if self.max_views < 2:
            raise ValueError(f"max_views must be at least 2, got {self.max_views}")


@dataclass
class _Wanted:
    """A track's view points (absolute time, box in analysed pixels) and the crops found."""

    track: StoredTrack
    points: list[tuple[datetime, tuple[float, float, float, float]]]
    crops: list[np.ndarray] = field(default_factory=list)


def view_points(
    track: StoredTrack, max_views: int
) -> list[tuple[datetime, tuple[float, float, float, float]]]:
    """At most `max_views` trajectory points spread over the track, as (time, box)."""
    rows = [r for r in track.trajectory if len(r) == 5]
    if not rows:
        return []
    picks = np.linspace(0, len(rows) - 1, min(max_views, len(rows))).round().astype(int)
    return [
        (
            track.start_at + timedelta(seconds=float(rows[i][0])),
            (float(rows[i][1]), float(rows[i][2]), float(rows[i][3]), float(rows[i][4])),
        )
        for i in sorted(set(picks.tolist()))
    ]


def _frames(data: bytes, segment: Segment) -> Iterator[tuple[datetime, np.ndarray]]:
    """(wall time, BGR frame) of every frame of a recorded segment, in order."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            offset_s = float(frame.time or 0.0)
            yield segment.start_at + timedelta(seconds=offset_s), frame.to_ndarray(format="bgr24")


def _cut(
    frame: np.ndarray, box: tuple[float, float, float, float], analysed: tuple[int, int] | None
) -> np.ndarray | None:
    height, width = frame.shape[:2]
    sx, sy = (1.0, 1.0) if analysed is None else (width / analysed[0], height / analysed[1])
    x1, y1 = max(0, round(box[0] * sx)), max(0, round(box[1] * sy))
    x2, y2 = min(width, round(box[2] * sx)), min(height, round(box[3] * sy))
    if x2 - x1 < MIN_CROP_PX[0] or y2 - y1 < MIN_CROP_PX[1]:
        return None
    return frame[y1:y2, x1:x2].copy()


def _collect(data: bytes, segment: Segment, wanted: Sequence[_Wanted]) -> None:
    """Cut each wanted point inside `segment` from the first frame at or after its time."""
    pending = sorted(
        (at, n, box)
        for n, item in enumerate(wanted)
        for at, box in item.points
        if segment.start_at <= at < segment.end_at
    )
    if not pending:
        return
    position = 0
    for at, frame in _frames(data, segment):
        while position < len(pending) and pending[position][0] <= at:
            _, n, box = pending[position]
            cut = _cut(frame, box, wanted[n].track.frame_size_px)
            if cut is not None:
                wanted[n].crops.append(cut)
            position += 1
        if position == len(pending):
            return


def count_tracks(sessions: SessionFactory, source: LearningSource) -> int:
    """How many tracks the source holds (before views are cut)."""
    query = TrackQuery(start=source.start, end=source.end, class_names=source.class_names)
    with sessions() as session:
        return len(matching_track_ids(session, query))


def catalog_track_views(
    sessions: SessionFactory,
    store: ObjectStore,
    embed_base: EmbedBase,
    source: LearningSource,
    progress: Callable[[int, int], None] | None = None,
) -> list[TrackViews]:
    """Base-vector views of the source's tracks, cut from their recordings; `progress(done,
    total)` after each segment."""
    query = TrackQuery(start=source.start, end=source.end, class_names=source.class_names)
    with sessions() as session:
        tracks = tracks_by_ids(session, sorted(matching_track_ids(session, query)))
        cameras = sorted({t.camera_id for t in tracks})
        margin = timedelta(minutes=1)  # a track may begin before the range
        segments = [
            s
            for camera in cameras
            for s in segments_between(session, camera, source.start - margin, source.end + margin)
        ]
    wanted = [_Wanted(t, view_points(t, source.max_views)) for t in tracks]
    by_camera: dict[str, list[_Wanted]] = {}
    for item in wanted:
        by_camera.setdefault(item.track.camera_id, []).append(item)
    for done, segment in enumerate(segments, start=1):
        inside = [
            w
            for w in by_camera.get(segment.camera_id, [])
            if w.track.start_at < segment.end_at and segment.start_at <= w.track.end_at
        ]
        if inside:
            _collect(store.get(segment.object_key), segment, inside)
        if progress is not None:
            progress(done, len(segments))
    return [
        TrackViews(
            item.track.camera_id,
            item.track.start_at.timestamp(),
            item.track.end_at.timestamp(),
            embed_base(item.crops),
        )
        for item in wanted
        if len(item.crops) >= 2
    ]
