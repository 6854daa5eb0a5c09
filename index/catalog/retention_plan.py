"""Catalog side of a retention run (issue #17): which rows are past their tier and not held
(`plan_retention`), deleting them in one transaction (`delete_planned`), and the look-ups the
consistency check uses (`referenced_object_keys`, `tracks_with_missing_clip`, ...).

A plan names every object key its rows refer to (uploaded footage originals too: see
retention_footage.py). The caller deletes a batch's rows in one transaction that first reads
the legal holds again (`without_new_holds`, under the audit chain's lock: retention_batches.py)
and notes the objects, then deletes the objects. A track kept longer than its recording is
flagged (track_clips_deleted) in the transaction that deletes the segments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, exists, or_, select
from sqlalchemy.orm import Session

from index.catalog.retention import (
    HeldMaterial,
    RetentionPolicy,
    held_material,
    retention_policy,
)
from index.catalog.retention_candidates import Candidates, oldest_free
from index.catalog.retention_footage import (
    PlannedOriginal,
    mark_originals_deleted,
    original_keys,
    originals_ended_before,
)
from index.catalog.retention_rows import CaseMaterialRow, TrackClipDeletedRow
from index.catalog.rows import (
    CameraRow,
    EventRow,
    JobRow,
    PlateRow,
    RecordingGapRow,
    SegmentRow,
    TrackRow,
    ensure_utc,
    insert_ignoring_conflict,
)

IDS_PER_STATEMENT = 500


@dataclass(frozen=True)
class PlannedSegment:
    id: int
    camera_id: str
    start_at: datetime
    end_at: datetime
    object_key: str
    size_bytes: int


@dataclass(frozen=True)
class PlannedTrack:
    """A track to delete: its thumbnail and plate crop keys (the caller adds derived keys)."""

    id: int
    camera_id: str
    thumbnail_key: str | None
    plate_crop_key: str | None
    embedding_version: str | None


@dataclass(frozen=True)
class PlannedEvent:
    id: int
    camera_id: str
    evidence_keys: tuple[str, ...]


@dataclass(frozen=True)
class PlannedGap:
    """A recording gap (a span without recording) past the segments' tier."""

    id: int
    camera_id: str
    start_at: datetime
    end_at: datetime


@dataclass(frozen=True)
class HeldBack:
    """Material past its tier that a legal hold keeps, and the held cases that keep it."""

    kind: str  # "segment" | "track" | "event" | "footage_original"
    id: int
    camera_id: str
    case_ids: tuple[str, ...]


@dataclass(frozen=True)
class RetentionPlan:
    """What a run deletes as of `now` (cut-offs per camera from its group's tier)."""

    now: datetime
    segments: tuple[PlannedSegment, ...] = ()
    tracks: tuple[PlannedTrack, ...] = ()
    events: tuple[PlannedEvent, ...] = ()
    gaps: tuple[PlannedGap, ...] = ()
    held: tuple[HeldBack, ...] = ()
    camera_groups: dict[str, str | None] = field(default_factory=dict)
    originals: tuple[PlannedOriginal, ...] = ()  # uploaded footage past the segments' tier

    def is_empty(self) -> bool:
        return not (self.segments or self.tracks or self.events or self.gaps or self.originals)


@dataclass(frozen=True)
class DeletedRows:
    """What `delete_planned` removed, and the tracks it flagged as having lost their clip."""

    segment_ids: tuple[int, ...]
    track_ids: tuple[int, ...]
    event_ids: tuple[int, ...]
    gap_ids: tuple[int, ...]
    flagged_track_ids: tuple[int, ...]
    original_upload_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Span:
    camera_id: str
    start_at: datetime
    end_at: datetime
    case_ids: tuple[str, ...]


def _held_spans(session: Session, held: HeldMaterial) -> dict[str, list[_Span]]:
    """Per camera, the time spans of held tracks and events: their segments are kept."""
    spans: dict[str, list[_Span]] = {}
    for chunk in _chunks(sorted(held.tracks)):
        for row in session.execute(
            select(TrackRow.id, TrackRow.camera_id, TrackRow.start_at, TrackRow.end_at).where(
                TrackRow.id.in_(chunk)
            )
        ):
            span = _Span(row.camera_id, row.start_at, row.end_at, held.tracks[int(row.id)])
            spans.setdefault(row.camera_id, []).append(span)
    for chunk in _chunks(sorted(held.events)):
        for event in session.execute(
            select(
                EventRow.id, EventRow.camera_id, EventRow.started_at, EventRow.last_seen_at,
                EventRow.ended_at,
            ).where(EventRow.id.in_(chunk))
        ):  # fmt: skip
            end_at = max(event.last_seen_at, event.ended_at or event.last_seen_at)
            span = _Span(event.camera_id, event.started_at, end_at, held.events[int(event.id)])
            spans.setdefault(event.camera_id, []).append(span)
    return spans


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for offset in range(0, len(ids), IDS_PER_STATEMENT):
        yield ids[offset : offset + IDS_PER_STATEMENT]


def _holding_cases(spans: Sequence[_Span], start_at: datetime, end_at: datetime) -> set[str]:
    cases: set[str] = set()
    for span in spans:
        if span.start_at <= end_at and span.end_at >= start_at:
            cases.update(span.case_ids)
    return cases


def camera_groups(session: Session) -> dict[str, str | None]:
    """Every camera the catalog knows (removed ones too) and the group it is in."""
    rows = session.execute(select(CameraRow.id, CameraRow.group_name).order_by(CameraRow.id))
    return {str(camera_id): group for camera_id, group in rows}


def plan_retention(
    session: Session, policy: RetentionPolicy, now: datetime, limit: int | None = None
) -> RetentionPlan:
    """Rows past their camera's tier as of `now` and not held, at most `limit` of each kind
    per camera (oldest first, held rows paged past: retention_candidates.py); material a hold
    keeps, up to the last row taken, is listed in `held`."""
    now = ensure_utc(now, "retention time")
    held = held_material(session)
    spans = _held_spans(session, held)
    groups = camera_groups(session)
    segments: list[PlannedSegment] = []
    tracks: list[PlannedTrack] = []
    events: list[PlannedEvent] = []
    gaps: list[PlannedGap] = []
    originals: list[PlannedOriginal] = []
    held_back: list[HeldBack] = []
    for camera_id, group in groups.items():
        tier = policy.tier_for(group)
        camera_spans = spans.get(camera_id, [])

        def during(row: Row[Any], spans: list[_Span] = camera_spans) -> set[str]:
            return _holding_cases(spans, row.start_at, row.end_at)

        def hold(kind: str, found: Candidates, camera_id: str = camera_id) -> None:
            held_back.extend(HeldBack(kind, int(r.id), camera_id, c) for r, c in found.held)

        segment_cutoff = now - timedelta(days=tier.segments_days)
        found = oldest_free(
            session,
            select(SegmentRow.id, SegmentRow.start_at, SegmentRow.end_at, SegmentRow.object_key,
                   SegmentRow.size_bytes)
            .where(SegmentRow.camera_id == camera_id, SegmentRow.end_at < segment_cutoff),
            (SegmentRow.start_at, SegmentRow.id), limit, during,
        )  # fmt: skip
        hold("segment", found)
        segments.extend(
            PlannedSegment(s.id, camera_id, s.start_at, s.end_at, s.object_key, s.size_bytes)
            for s in found.free
        )
        found = oldest_free(
            session,
            select(
                TrackRow.id, TrackRow.thumbnail_key, TrackRow.embedding_version,
                PlateRow.crop_key,
            )
            .outerjoin(PlateRow, PlateRow.track_id == TrackRow.id)
            .where(
                TrackRow.camera_id == camera_id,
                TrackRow.end_at < now - timedelta(days=tier.tracks_days),
            ),
            (TrackRow.start_at, TrackRow.id), limit, lambda t: held.tracks.get(int(t.id), ()),
        )  # fmt: skip
        hold("track", found)
        tracks.extend(
            PlannedTrack(int(t.id), camera_id, t.thumbnail_key, t.crop_key, t.embedding_version)
            for t in found.free
        )
        found = oldest_free(
            session,
            select(EventRow.id, EventRow.evidence).where(
                EventRow.camera_id == camera_id,
                EventRow.last_seen_at < now - timedelta(days=tier.events_days),
            ),
            (EventRow.last_seen_at, EventRow.id), limit, lambda e: held.events.get(int(e.id), ()),
        )  # fmt: skip
        hold("event", found)
        events.extend(
            PlannedEvent(int(e.id), camera_id, tuple(str(i["key"]) for i in e.evidence or ()))
            for e in found.free
        )
        found = oldest_free(  # a gap a hold keeps is kept with its segments, not reported
            session,
            select(RecordingGapRow.id, RecordingGapRow.start_at, RecordingGapRow.end_at).where(
                RecordingGapRow.camera_id == camera_id, RecordingGapRow.end_at < segment_cutoff
            ),
            (RecordingGapRow.start_at, RecordingGapRow.id), limit, during,
        )  # fmt: skip
        gaps.extend(PlannedGap(g.id, camera_id, g.start_at, g.end_at) for g in found.free)
        camera_originals: list[PlannedOriginal] = []
        for o in originals_ended_before(session, camera_id, segment_cutoff):
            if limit is not None and len(camera_originals) == limit:
                break
            cases = _holding_cases(camera_spans, o.start_at, o.end_at)
            if cases:
                held_back.append(HeldBack("footage_original", 0, camera_id, tuple(sorted(cases))))
            else:
                camera_originals.append(o)
        originals.extend(camera_originals)
    return RetentionPlan(
        now, tuple(segments), tuple(tracks), tuple(events), tuple(gaps), tuple(held_back), groups,
        tuple(originals),
    )  # fmt: skip


def without_new_holds(session: Session, plan: RetentionPlan) -> RetentionPlan:
    """The plan less what the legal holds keep now (a hold placed, or material filed under a
    held case, since it was made); what they keep moves to `held`. Read inside the deleting
    transaction, after taking the lock every hold change takes, so none slips in between."""
    held = held_material(session)
    spans = _held_spans(session, held)
    kept: list[HeldBack] = []

    def during(camera_id: str, start_at: datetime, end_at: datetime) -> set[str]:
        return _holding_cases(spans.get(camera_id, []), start_at, end_at)

    def free(kind: str, item_id: int, camera_id: str, cases: Iterable[str]) -> bool:
        names = tuple(sorted(set(cases)))
        if names:
            kept.append(HeldBack(kind, item_id, camera_id, names))
        return not names

    segments = tuple(
        s
        for s in plan.segments
        if free("segment", s.id, s.camera_id, during(s.camera_id, s.start_at, s.end_at))
    )
    tracks = tuple(
        t for t in plan.tracks if free("track", t.id, t.camera_id, held.tracks.get(t.id, ()))
    )
    events = tuple(
        e for e in plan.events if free("event", e.id, e.camera_id, held.events.get(e.id, ()))
    )
    gaps = tuple(g for g in plan.gaps if not during(g.camera_id, g.start_at, g.end_at))
    originals = tuple(
        o
        for o in plan.originals
        if free("footage_original", 0, o.camera_id, during(o.camera_id, o.start_at, o.end_at))
    )
    return RetentionPlan(
        plan.now, segments, tracks, events, gaps, (*plan.held, *kept), plan.camera_groups,
        originals,
    )  # fmt: skip


def _merged_spans(
    spans: Iterable[PlannedSegment | PlannedGap],
) -> list[tuple[str, datetime, datetime]]:
    """Deleted segments and gaps as few (camera, start, end) spans: touching ones merge."""
    merged: list[tuple[str, datetime, datetime]] = []
    for s in sorted(spans, key=lambda s: (s.camera_id, s.start_at)):
        if merged and merged[-1][0] == s.camera_id and s.start_at <= merged[-1][2]:
            camera_id, start_at, end_at = merged[-1]
            merged[-1] = (camera_id, start_at, max(end_at, s.end_at))
        else:
            merged.append((s.camera_id, s.start_at, s.end_at))
    return merged


def _flag_lost_clips(
    session: Session,
    spans: Iterable[PlannedSegment | PlannedGap],
    kept_after: set[int],
    at: datetime,
) -> list[int]:
    """Flag the tracks (other than those being deleted) seen in the deleted segments (or in
    deleted gaps: their recording is gone, or never was)."""
    flagged: list[int] = []
    for camera_id, start_at, end_at in _merged_spans(spans):
        ids = session.scalars(
            select(TrackRow.id).where(
                TrackRow.camera_id == camera_id,
                TrackRow.start_at < end_at,
                TrackRow.end_at >= start_at,
                ~exists().where(TrackClipDeletedRow.track_id == TrackRow.id),
            )
        ).all()
        new = [int(i) for i in ids if int(i) not in kept_after]
        if new:
            statement = insert_ignoring_conflict(session, TrackClipDeletedRow)
            session.execute(
                statement.on_conflict_do_nothing(),
                [{"track_id": i, "deleted_at": at} for i in new],
            )
            flagged.extend(new)
    return flagged


def delete_planned(session: Session, plan: RetentionPlan) -> DeletedRows:
    """Delete the plan's rows (tracks with their plates, zone links and watchlist hits by
    cascade; their case links) and flag the kept tracks whose recording goes; flushed, not
    committed: the caller commits once, so the catalog changes all at once or not at all."""
    track_ids = sorted(t.id for t in plan.tracks)
    event_ids = sorted(e.id for e in plan.events)
    segment_ids = sorted(s.id for s in plan.segments)
    gap_ids = sorted(g.id for g in plan.gaps)
    flagged = _flag_lost_clips(session, [*plan.segments, *plan.gaps], set(track_ids), plan.now)
    for chunk in _chunks(track_ids):
        session.execute(delete(TrackRow).where(TrackRow.id.in_(chunk)))
        session.execute(
            delete(CaseMaterialRow).where(
                CaseMaterialRow.kind == "track", CaseMaterialRow.ref_id.in_(chunk)
            )
        )
    for chunk in _chunks(event_ids):
        session.execute(delete(EventRow).where(EventRow.id.in_(chunk)))
        session.execute(
            delete(CaseMaterialRow).where(
                CaseMaterialRow.kind == "event", CaseMaterialRow.ref_id.in_(chunk)
            )
        )
    for chunk in _chunks(segment_ids):
        session.execute(delete(SegmentRow).where(SegmentRow.id.in_(chunk)))
    for chunk in _chunks(gap_ids):
        session.execute(delete(RecordingGapRow).where(RecordingGapRow.id.in_(chunk)))
    upload_ids = tuple(sorted(o.upload_id for o in plan.originals))
    mark_originals_deleted(session, upload_ids, plan.now)
    session.flush()
    return DeletedRows(
        tuple(segment_ids), tuple(track_ids), tuple(event_ids), tuple(gap_ids), tuple(flagged),
        upload_ids,
    )  # fmt: skip


# ---- look-ups for the API and the consistency check ------------------------------------------


def clips_deleted(session: Session, track_ids: Iterable[int]) -> set[int]:
    """The tracks among `track_ids` whose recording retention deleted."""
    wanted = sorted({int(i) for i in track_ids})
    found: set[int] = set()
    for chunk in _chunks(wanted):
        found.update(
            int(i)
            for i in session.scalars(
                select(TrackClipDeletedRow.track_id).where(TrackClipDeletedRow.track_id.in_(chunk))
            )
        )
    return found


def _never_recorded(camera_id: Any, start_at: Any, end_at: Any) -> ColumnElement[bool]:
    """No segment of the camera overlaps [start_at, end_at] and a recording gap runs through
    its end (e.g. "recording had not started"): no recording of the span will ever exist. A
    span past every gap and segment may still be being recorded, so it is not this."""
    overlaps_segment = exists().where(
        SegmentRow.camera_id == camera_id,
        SegmentRow.start_at <= end_at,
        SegmentRow.end_at > start_at,
    )
    gap_through_end = exists().where(
        RecordingGapRow.camera_id == camera_id,
        RecordingGapRow.start_at <= end_at,
        RecordingGapRow.end_at >= end_at,
    )
    # the gap test first: a camera has few gaps, and its segment test scans the camera's
    # segments from its first (the (camera_id, start_at) index cannot bound end_at), which
    # per search hit cost ~26 ms at 200k segments; SQLite evaluates the terms in this order
    return and_(gap_through_end, ~overlaps_segment)


def clips_unavailable(session: Session, track_ids: Iterable[int]) -> set[int]:
    """The tracks among `track_ids` whose clip link finds no recording: retention deleted it
    (`clips_deleted`), or the track was seen in a recording gap and there never was one."""
    wanted = sorted({int(i) for i in track_ids})
    found = clips_deleted(session, wanted)
    unrecorded = _never_recorded(TrackRow.camera_id, TrackRow.start_at, TrackRow.end_at)
    for chunk in _chunks(wanted):
        found.update(
            int(i)
            for i in session.scalars(select(TrackRow.id).where(TrackRow.id.in_(chunk), unrecorded))
        )
    return found


def span_never_recorded(
    session: Session, camera_id: str, start_at: datetime, end_at: datetime
) -> bool:
    """True when the camera's [start_at, end_at] lies in a recording gap with no segment."""
    return bool(session.scalar(select(_never_recorded(camera_id, start_at, end_at))))


def recording_deleted_days(
    session: Session,
    defaults: RetentionPolicy,
    camera_id: str,
    start_at: datetime,
    end_at: datetime,
    run_kind: str,
) -> int | None:
    """The camera's segment days when retention deleted the recording of [start_at, end_at]:
    no segment overlaps the span, and it had ended before the camera's tier kept recordings as
    of the latest run (job kind `run_kind`). None otherwise: recorded, or not retention's doing
    (still being written, never recorded, or no run has deleted anything since)."""
    recorded = exists().where(
        SegmentRow.camera_id == camera_id,
        SegmentRow.start_at <= end_at,
        SegmentRow.end_at >= start_at,
    )
    if session.scalar(select(recorded)):
        return None
    as_of = last_retention_as_of(session, run_kind)
    if as_of is None:
        return None
    group = session.scalar(select(CameraRow.group_name).where(CameraRow.id == camera_id))
    tier = retention_policy(session, defaults).tier_for(group)
    past_tier = end_at < as_of - timedelta(days=tier.segments_days)
    return tier.segments_days if past_tier else None


def referenced_object_keys(session: Session) -> dict[str, str]:
    """Every object key a catalog row names (segment, thumbnail, plate crop, event picture,
    uploaded footage original), with what names it ("segment:ID", ...). Derived keys (context
    frames) are the caller's."""
    keys: dict[str, str] = original_keys(session)
    for segment_id, key in session.execute(select(SegmentRow.id, SegmentRow.object_key)):
        keys[str(key)] = f"segment:{segment_id}"
    for track_id, thumbnail in session.execute(
        select(TrackRow.id, TrackRow.thumbnail_key).where(TrackRow.thumbnail_key.is_not(None))
    ):
        keys[str(thumbnail)] = f"track:{track_id}"
    for track_id, crop in session.execute(
        select(PlateRow.track_id, PlateRow.crop_key).where(PlateRow.crop_key.is_not(None))
    ):
        keys[str(crop)] = f"plate:{track_id}"
    for event_id, evidence in session.execute(select(EventRow.id, EventRow.evidence)):
        for item in evidence or ():
            keys[str(item["key"])] = f"event:{event_id}"
    return keys


def tracks_with_missing_clip(session: Session) -> list[int]:
    """Tracks whose clip link would find no recording without saying so: not flagged, on a
    camera that has recordings, overlapping no segment and no recording gap."""
    overlaps_segment = exists().where(
        SegmentRow.camera_id == TrackRow.camera_id,
        SegmentRow.start_at <= TrackRow.end_at,
        SegmentRow.end_at > TrackRow.start_at,
    )
    overlaps_gap = exists().where(
        RecordingGapRow.camera_id == TrackRow.camera_id,
        RecordingGapRow.start_at <= TrackRow.end_at,
        RecordingGapRow.end_at > TrackRow.start_at,
    )
    recorded = exists().where(SegmentRow.camera_id == TrackRow.camera_id)
    flagged = exists().where(TrackClipDeletedRow.track_id == TrackRow.id)
    statement = select(TrackRow.id).where(
        and_(recorded, ~overlaps_segment, ~or_(overlaps_gap, flagged))
    )
    return [int(i) for i in session.scalars(statement.order_by(TrackRow.id))]


def embedded_track_ids(session: Session, embedding_version: str) -> list[int]:
    """Ids of the tracks carrying an embedding of this version (what its vector index holds)."""
    statement = select(TrackRow.id).where(
        TrackRow.embedding_version == embedding_version, TrackRow.embedding.is_not(None)
    )
    return [int(i) for i in session.scalars(statement.order_by(TrackRow.id))]


def last_retention_as_of(session: Session, kind: str) -> datetime | None:
    """The time as of which the latest run of `kind` that deletes (not a dry run, running or
    done) judged what is past its tier (None: no such run)."""
    rows = session.execute(
        select(JobRow.params)
        .where(JobRow.kind == kind, JobRow.state.in_(("running", "succeeded")))
        .order_by(JobRow.created_at.desc())
        .limit(50)
    )
    for (params,) in rows:
        if not (params or {}).get("dry_run") and (params or {}).get("as_of"):
            return ensure_utc(datetime.fromisoformat(str(params["as_of"])))
    return None


def last_retention_run_at(session: Session, kind: str) -> datetime | None:
    """When the latest run of `kind` that was not a dry run started (None: never ran)."""
    rows = session.execute(
        select(JobRow.created_at, JobRow.params)
        .where(JobRow.kind == kind, JobRow.state.in_(("running", "succeeded")))
        .order_by(JobRow.created_at.desc())
        .limit(50)
    )
    for created_at, params in rows:
        if not (params or {}).get("dry_run"):
            return ensure_utc(created_at)
    return None
