"""Tracks across segment boundaries in a re-index (issue #15): one track, one owner.

Units run alone and in parallel and each commits its tracks with its checkpoint, so a track
that crosses a segment boundary must be written whole by exactly one unit. The rule:

- A track belongs to the unit whose segment holds its first confirmed frame.
- Warm-up: before its own segment a unit runs its tracker (no track builder, nothing kept)
  over the last `warmup_s` (plus a 1 s lead) of the previous segment, read the way that
  segment's own unit reads it (same active GOPs, same sampling phase: ingest/archive.py), so
  the people already in view are known: their tracks are the previous unit's, not written here.
- Look-ahead: after its segment, while one of its own tracks is still open, a unit goes on
  into the following segments (decoded, detected, tracked as usual) until they have all ended,
  so a track's extent, views and best shot are whole. Tracks born there are the next unit's.
- Both sides of a cut decide on the same frames with one test, "carried across the cut"
  (`UnitTracks.carried_across`: matched on two consecutive frames of the window before the cut,
  last seen within the tracker's max age, and moving): the next unit leaves such tracks to the
  previous one, and the previous one follows only such tracks across and ends its others at
  the cut. A unit's longer tracker history (a person lost a while) therefore never makes two
  units hold one person; an object standing still at the cut (a parked car) is cut there as
  before, since following it would analyse up to a minute again for one longer track.
- Hand-over: the look-ahead is bounded. Every `handover_period_s` of wall time (multiples since
  the epoch, so every unit agrees without asking) one segment is a *hand-over segment*: the
  one whose span from the previous segment's end holds such a multiple. A look-ahead never
  enters a hand-over segment (own tracks still open end before it, as they all did before this
  module), and a hand-over segment's unit takes no warm-up (the tracks in view at its start are
  its own). A track longer than that is cut there, once per period, instead of at every
  segment boundary; the look-ahead is at most one period (plus a segment).

Neighbours are the job's units of the same camera whose segments are contiguous (the next one
starts within `max_gap_s` of the end of the one before): a range's first unit keeps the tracks
in view at its start, and its last follows its tracks only as far as the job's segments go. A
neighbour that is missing from object storage, whose bytes differ from the catalog's, or that
breaks while decoding is noted and that side falls back to the cut at the boundary, for both
units alike (a skipped neighbour's unit writes nothing, and the unit beside it keeps what it
sees). Every decision depends on the catalog's segment times and the segments' bytes only, so
a crashed unit redone from scratch writes the same tracks.

What it costs: each unit decodes and detects up to `warmup_s` more of the previous segment's
active GOPs (from the keyframe at or before that point) and, after it, the following segments
for as long as its own tracks stay in view (bench/reindex_boundaries.py measures both).
Limitation: a neighbour whose stored bytes match the catalog but break while decoding a part
the other unit does not read can make the two units disagree (its tracks may go missing).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from typing import Protocol

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from detect.bytetrack import ByteTrackConfig, ByteTracker
from detect.detections import Detections
from detect.detector import Detector
from detect.track_builder import Embedder, PlateSighter, TrackBuilder
from detect.track_record import TrackRecord
from detect.violations import split_side_detections
from index.catalog.reindex_units import UnitRecord, job_camera_units
from index.reindex_plates import MainFrame
from ingest.archive import (
    ArchiveError,
    ArchiveReader,
    ArchiveSettings,
    ArchiveStats,
    FullFrame,
    KeyframeScan,
)
from ingest.frame import Frame
from storage.objectstore import ObjectNotFoundError, ObjectStore

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The warm-up starts this long before its window: a tracker needs two frames to confirm a track,
# so one in view from before the window is held from the window's first frame, as it is by the
# unit that has tracked it all along (both then see the same boxes in the window).
WARMUP_LEAD_S = 1.0


@dataclass(frozen=True, slots=True)
class BoundarySettings:
    """Warm-up before a unit's segment, the hand-over period bounding the look-ahead, and the
    largest gap between two segments that still makes them neighbours."""

    warmup_s: float = 3.0  # ≥ the tracker's max age + 2 frames: a person lost at the cut is known
    handover_period_s: float = 20.0
    max_gap_s: float = 2.0
    still_share: float = 0.25  # moved less than this share of its height in the window: still

    def __post_init__(self) -> None:
        if self.warmup_s < 0 or self.max_gap_s < 0:
            raise ValueError("warmup_s and max_gap_s must not be negative")
        if self.handover_period_s < 1.0:
            raise ValueError(f"handover_period_s must be ≥ 1 s, got {self.handover_period_s}")


def handover_at(at: datetime, period_s: float) -> datetime:
    """The first multiple of `period_s` since the epoch at or after `at` (exact to 1 µs)."""
    period_us = round(period_s * 1_000_000)
    elapsed_us = (at - EPOCH) // timedelta(microseconds=1)
    return EPOCH + timedelta(microseconds=-(-elapsed_us // period_us) * period_us)


def is_handover_segment(previous_end: datetime, end: datetime, period_s: float) -> bool:
    """Is the segment ending at `end`, after a neighbour ending at `previous_end`, a hand-over
    segment (a multiple of the period falls in [previous_end, end))?"""
    return handover_at(previous_end, period_s) < end


class UnitSpan(Protocol):
    """What the neighbour plan needs of a unit."""

    @property
    def unit_id(self) -> int: ...
    @property
    def job_id(self) -> str: ...
    @property
    def camera_id(self) -> str: ...
    @property
    def start_at(self) -> datetime: ...
    @property
    def end_at(self) -> datetime: ...


@dataclass(frozen=True)
class NeighbourPlan:
    """The previous unit to warm up on (None: none, or this is a hand-over segment) and the
    following units a look-ahead may enter, in order."""

    previous: UnitRecord | None
    following: tuple[UnitRecord, ...]


def _next_to(
    units: Sequence[UnitRecord], end: datetime, after: datetime, gap_s: float
) -> UnitRecord | None:
    """The unit starting after `after` and within `gap_s` of `end` (the nearest such)."""
    near = [
        u for u in units if u.start_at > after and abs((u.start_at - end).total_seconds()) <= gap_s
    ]
    return min(near, key=lambda u: (u.start_at, u.unit_id), default=None)


def plan_neighbours(
    unit: UnitSpan, nearby: Sequence[UnitRecord], settings: BoundarySettings
) -> NeighbourPlan:
    """The unit's contiguous neighbours among `nearby` (other units of its job and camera)."""
    others = [u for u in nearby if u.unit_id != unit.unit_id]
    gap_s, period_s = settings.max_gap_s, settings.handover_period_s
    before = [
        u for u in others
        if u.start_at < unit.start_at and abs((unit.start_at - u.end_at).total_seconds()) <= gap_s
    ]  # fmt: skip
    previous = max(before, key=lambda u: (u.end_at, u.unit_id), default=None)
    if previous is not None and is_handover_segment(previous.end_at, unit.end_at, period_s):
        previous = None  # the tracks in view at its start are this unit's: no warm-up
    following: list[UnitRecord] = []
    current: UnitSpan = unit
    while (nxt := _next_to(others, current.end_at, current.start_at, gap_s)) is not None:
        if is_handover_segment(current.end_at, nxt.end_at, period_s):
            break
        following.append(nxt)
        current = nxt
    return NeighbourPlan(previous, tuple(following))


def unit_neighbours(
    sessions: sessionmaker[Session], unit: UnitSpan, settings: BoundarySettings
) -> NeighbourPlan:
    """Read the unit's possible neighbours from the catalog and plan them."""
    horizon = handover_at(unit.end_at, settings.handover_period_s)
    gap = timedelta(seconds=settings.max_gap_s)
    with sessions() as session:
        nearby = job_camera_units(
            session, unit.job_id, unit.camera_id, unit.start_at - gap, horizon + gap
        )
    return plan_neighbours(unit, nearby, settings)


# ---- segment bytes --------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentBytes:
    """A recorded segment's bytes and the wall time it covers."""

    data: bytes
    start_at: datetime
    end_at: datetime


def bytes_problem(data: bytes, size_bytes: int, sha256: str) -> str | None:
    """Why stored bytes are not the recorded segment (None: they are)."""
    if len(data) != size_bytes:
        return f"truncated or altered: {len(data)} of {size_bytes} bytes"
    if hashlib.sha256(data).hexdigest() != sha256.lower():
        return "corrupt: sha256 differs from the recorded segment's"
    return None


@dataclass
class BoundaryStats:
    """What the boundaries cost a unit, and the neighbours it could not use (`notes`)."""

    warmup_frames: int = 0  # analysed (detected + tracked)
    warmup_decoded: int = 0
    lookahead_frames: int = 0
    lookahead_decoded: int = 0
    lookahead_segments: int = 0
    notes: list[str] = field(default_factory=list)


class NeighbourBytes:
    """A plan's segments, fetched from object storage when the analysis asks for them. A
    missing or altered one is noted and not used; a store that fails otherwise raises."""

    def __init__(self, store: ObjectStore, plan: NeighbourPlan, stats: BoundaryStats) -> None:
        self._store = store
        self.plan = plan
        self.stats = stats

    def previous(self) -> SegmentBytes | None:
        return None if self.plan.previous is None else self._load(self.plan.previous, "previous")

    def following(self) -> Iterator[SegmentBytes]:
        """The following segments in order, each fetched when reached; ends at a bad one."""
        for unit in self.plan.following:
            loaded = self._load(unit, "following")
            if loaded is None:
                return
            yield loaded

    def _load(self, unit: UnitRecord, side: str) -> SegmentBytes | None:
        try:
            data = self._store.get(unit.object_key)
        except ObjectNotFoundError:
            problem: str | None = "missing from object storage"
        else:
            problem = bytes_problem(data, unit.size_bytes, unit.sha256)
        if problem is not None:
            self.stats.notes.append(f"{side} segment {unit.object_key} not used: {problem}")
            return None
        return SegmentBytes(data, unit.start_at, unit.end_at)


# ---- analysis -------------------------------------------------------------------------------


Box = tuple[float, float, float, float]


def _ids(tracked: Detections) -> list[int]:
    return [] if tracked.tracker_id is None else [int(i) for i in tracked.tracker_id]


class UnitTracks:
    """One unit's tracker and track builder, and which tracks are its own: those first
    confirmed in its own segment. Tracks known across its start (from the warm-up) are the
    previous unit's, tracks born in the look-ahead the next unit's: tracked, never written.

    "Carried across" a boundary at `at`: matched on two consecutive analysed frames of
    [at − window, at), last seen within the tracker's max age before `at` (what a tracker
    started on the previous segment's tail confirms and still holds at `at`), and moving: its
    box centre moved at least `still_share` of its height over those frames. Both sides decide
    with it on the same frames and boxes: the next unit takes such tracks for continuing, and a
    unit crossing into a following segment follows only its own tracks carried across and ends
    the others there (the next unit starts them anew). So a track that only this unit's longer
    history keeps alive (a person lost for a while before the cut) is not held twice, and an
    object standing still (a parked car, which would be followed up to the next hand-over
    segment at the cost of analysing a minute again) is cut at each boundary, as before.
    """

    def __init__(
        self,
        camera_id: str,
        embedder: Embedder,
        tracker: ByteTrackConfig,
        window_s: float,
        still_share: float = 0.25,
        plate_reader: PlateSighter | None = None,
    ) -> None:
        self._tracker = ByteTracker(tracker)
        # plates read on the recorded full-resolution frames (index/reindex_plates.py)
        self._builder = TrackBuilder(camera_id, embedder, plate_reader=plate_reader)
        self._window = timedelta(seconds=window_s)
        self._max_age = timedelta(seconds=tracker.max_age_s)
        self._still_share = still_share
        self._recent: deque[tuple[datetime, dict[int, Box]]] = deque()  # frames in the window
        self._warmed: set[int] = set()
        self._continuing: set[int] = set()
        self._owned: set[int] = set()
        self._claiming = False  # in the unit's own segment: new tracks are its own
        self._last_at: datetime | None = None
        self.records: list[TrackRecord] = []

    @property
    def following(self) -> bool:
        """Is one of the unit's own tracks still open?"""
        return bool(self._open_own())

    def carried_across(self, track_id: int, at: datetime) -> bool:
        """Is the track carried across a boundary at `at` (see the class docstring)?"""
        frames = [
            (t, boxes.get(track_id)) for t, boxes in self._recent if at - self._window <= t < at
        ]
        paired = any(a is not None and b is not None for (_, a), (_, b) in pairwise(frames))
        seen = [(t, box) for t, box in frames if box is not None]
        if not paired or at - seen[-1][0] > self._max_age:
            return False
        centres = np.array([((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for _, b in seen])
        height = float(np.mean([b[3] - b[1] for _, b in seen]))
        moved = float(np.max(np.linalg.norm(centres - centres[0], axis=1)))
        return moved >= self._still_share * height

    def warm_up(self, frame: Frame, detections: Detections) -> None:
        step = self._update(frame, detections)
        if step is not None:
            self._warmed.update(_ids(step[0]))

    def begin_own(self, at: datetime) -> None:
        """The unit's segment starts at `at`: tracks first confirmed from here on are its own,
        but for those carried across it."""
        self._continuing = {i for i in self._warmed if self.carried_across(i, at)}
        self._claiming = True

    def observe(
        self, frame: Frame, detections: Detections, full: FullFrame | None = None
    ) -> bool:
        """One frame of the unit's segment or, after `cross`, of a following one (tracks born
        there are the next unit's), with its full-resolution picture for plate reads; False
        once none of the unit's tracks is open."""
        step = self._update(frame, detections)
        if step is not None:
            tracked, finished, side = step
            if self._claiming:
                self._owned.update(i for i in _ids(tracked) if i not in self._continuing)
            main = None if full is None else MainFrame(full)
            self._builder.observe(frame, tracked, side, main)
            self._end(finished)
        return self.following

    def cross(self, at: datetime) -> None:
        """Before a following segment starting at `at`: own tracks not carried across the cut
        end here (finalised now; what the tracker sees of them later is the next unit's), and
        no track born from here on is the unit's."""
        cut = [i for i in self._open_own() if not self.carried_across(i, at)]
        self._end(cut)
        self._owned.difference_update(cut)
        self._claiming = False

    def close(self) -> list[TrackRecord]:
        """End every open track; the unit's own tracks, finalised."""
        self._tracker.end_all()
        self._end(self._builder.open_track_ids)
        return self.records

    def _open_own(self) -> list[int]:
        return [i for i in self._builder.open_track_ids if i in self._owned]

    def _update(
        self, frame: Frame, detections: Detections
    ) -> tuple[Detections, list[int], Detections] | None:
        at = frame.wall_time
        if self._last_at is not None and at <= self._last_at:
            return None  # overlapping neighbours: a moment is seen once
        self._last_at = at
        for_tracker, side = split_side_detections(detections)
        tracked, finished = self._tracker.update(for_tracker, at.timestamp(), frame.image)
        boxes: list[Box] = [
            (float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in tracked.xyxy
        ]
        self._recent.append((at, dict(zip(_ids(tracked), boxes, strict=True))))
        while self._recent[0][0] < at - self._window:
            self._recent.popleft()
        return tracked, finished, side

    def _end(self, track_ids: list[int]) -> None:
        ended = self._builder.end(track_ids)  # others' ended tracks are dropped unfinalised
        self.records += self._builder.finalise([t for t in ended if t.track_id in self._owned])


@dataclass(frozen=True)
class UnitAnalysis:
    """A unit's own tracks and what reading its segment and its neighbours cost."""

    records: list[TrackRecord]
    stats: ArchiveStats
    boundary: BoundaryStats


@dataclass(frozen=True)
class UnitAnalyser:
    """Analyses one unit's segment with its neighbours (see the module docstring)."""

    camera_id: str
    detector: Detector
    embedder: Embedder
    archive: ArchiveSettings
    tracker: ByteTrackConfig
    batch_size: int
    warmup_s: float
    still_share: float = 0.25
    plate_reader: PlateSighter | None = None  # vehicle plates, read at full resolution

    def analyse(
        self,
        own: SegmentBytes,
        previous: SegmentBytes | None = None,
        following: Iterable[SegmentBytes] = (),
        boundary: BoundaryStats | None = None,
    ) -> UnitAnalysis:
        """The unit's own tracks; ArchiveError when its own segment cannot be read."""
        boundary = boundary or BoundaryStats()
        tracks = self._tracks()
        if previous is not None:
            tracks = self._warm_up(tracks, own, previous, boundary)
        tracks.begin_own(own.start_at)
        reader = ArchiveReader(own.data, self.camera_id, own.start_at, self.archive)
        for frame, full, detections in self._detected(reader, reader.scan()):
            tracks.observe(frame, detections, full)
        if tracks.following:
            self._look_ahead(tracks, following, boundary)
        return UnitAnalysis(tracks.close(), reader.stats, boundary)

    def _warm_up(
        self, tracks: UnitTracks, own: SegmentBytes, previous: SegmentBytes, stats: BoundaryStats
    ) -> UnitTracks:
        """The tracker run over the previous segment's tail; a fresh one if that breaks."""
        reader = ArchiveReader(previous.data, self.camera_id, previous.start_at, self.archive)
        lead_s = self.warmup_s + WARMUP_LEAD_S
        from_s = (own.start_at - previous.start_at).total_seconds() - lead_s
        try:
            for frame, _full, detections in self._detected(reader, reader.scan(), from_s):
                tracks.warm_up(frame, detections)
                stats.warmup_frames += 1
        except ArchiveError as error:
            stats.notes.append(f"previous segment not used: {error}")
            return self._tracks()
        stats.warmup_decoded += reader.stats.decoded_frames
        return tracks

    def _look_ahead(
        self, tracks: UnitTracks, following: Iterable[SegmentBytes], stats: BoundaryStats
    ) -> None:
        """Follow the unit's open tracks into the following segments until they have ended."""
        for segment in following:
            tracks.cross(segment.start_at)
            if not tracks.following:
                return
            stats.lookahead_segments += 1
            reader = ArchiveReader(segment.data, self.camera_id, segment.start_at, self.archive)
            try:
                for frame, full, detections in self._detected(reader, reader.scan()):
                    if not tracks.observe(frame, detections, full):
                        break
            except ArchiveError as error:
                stats.notes.append(f"following segment stopped the look-ahead: {error}")
                return
            finally:
                stats.lookahead_frames += reader.stats.analysed_frames
                stats.lookahead_decoded += reader.stats.decoded_frames
            if not tracks.following:
                return

    def _tracks(self) -> UnitTracks:
        return UnitTracks(
            self.camera_id, self.embedder, self.tracker, self.warmup_s, self.still_share,
            self.plate_reader,
        )  # fmt: skip

    def _detected(
        self, reader: ArchiveReader, scan: KeyframeScan, from_s: float = 0.0
    ) -> Iterator[tuple[Frame, FullFrame, Detections]]:
        """The reader's frames from `from_s` on (decoded from the keyframe before it, analysed
        from it), each with its full-resolution picture, detected in batches."""
        frames = (s for s in reader.sampled(scan, from_s) if s[0].pts_s >= from_s - 1e-6)
        while batch := list(islice(frames, self.batch_size)):
            found = self.detector.detect([frame.image for frame, _full in batch])
            for (frame, full), detections in zip(batch, found, strict=True):
                yield frame, full, detections
