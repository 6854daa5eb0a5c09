"""Catalog repository for violation events (issue #13): record, list, review and count them.

`record_violation` turns one of the detector's `ViolationUpdate`s into an event change:

- an update or end of a violation still going on changes the event it opened;
- an opening on a zone whose last event of the same kind (open or confirmed) was seen the same
  camera-local day less than `merge_gap_s` before merges into that event (a stall that packs up
  for a quarter of an hour is the same stall), anything else opens a new event;
- an event a crashed process never ended is ended (at its last sighting) when a new one opens.

Every change writes its outbox row (topics below) in the caller's transaction, and names the
object keys its snapshots go to (`events/{camera}/{date}/{event}-{n}.jpg`, chosen by the caller);
the caller stores the pictures before it commits (index/event_recorder.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from detect.zone_rules import Snapshot, ViolationUpdate
from index.catalog.cameras import require_camera
from index.catalog.outbox import append_outbox
from index.catalog.rows import CameraRow, EventRow, ZoneRow, ensure_utc, utc_now
from index.catalog.values import (
    EVENT_STATES,
    REVIEW_STATES,
    Event,
    EventQuery,
    EventStat,
    EvidencePicture,
)

TOPIC_OPENED = "violation.opened"
TOPIC_UPDATED = "violation.updated"
TOPIC_ENDED = "violation.ended"
TOPIC_REVIEWED = "violation.reviewed"
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}
MERGEABLE_STATES = ("open", "confirmed")  # a dismissed or resolved event is not reopened
# Snapshots kept per event: the first (the start) and the newest others; a merged event that
# goes on all day would otherwise gather hundreds. Pictures past the cap are not stored.
MAX_EVIDENCE_PICTURES = 12
MAX_NOTE_CHARS = 2000
StatsGroup = Literal["zone", "camera", "day"]
# Names the object key of an event's n-th snapshot: (camera_id, event_id, n, taken at).
EvidenceKey = Callable[[str, int, int, datetime], str]


class UnknownEventError(LookupError):
    """No event has this id."""


@dataclass(frozen=True)
class RecordedViolation:
    """What `record_violation` changed: the event as it is now, the outbox topics written (in
    order), and the (key, JPEG) pictures the caller must store before it commits."""

    event: Event
    topics: tuple[str, ...]
    pictures: tuple[tuple[str, bytes], ...]


def _event(row: EventRow) -> Event:
    return Event(
        id=row.id,
        kind=row.kind,
        camera_id=row.camera_id,
        zone_id=row.zone_id,
        started_at=row.started_at,
        last_seen_at=row.last_seen_at,
        ended_at=row.ended_at,
        severity=row.severity,
        local_track_ids=tuple(int(i) for i in row.local_track_ids or ()),
        evidence=tuple(
            EvidencePicture(str(item["key"]), datetime.fromisoformat(str(item["at"])))
            for item in row.evidence or ()
        ),
        state=row.state,
        reviewer=row.reviewer,
        review_note=row.review_note,
        reviewed_at=row.reviewed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def local_day(at: datetime, timezone: str) -> date:
    """The calendar day of `at` in `timezone`."""
    return at.astimezone(ZoneInfo(timezone)).date()


def _same_violation(update: ViolationUpdate) -> Select[EventRow]:
    return (
        select(EventRow)
        .where(
            EventRow.camera_id == update.camera_id,
            EventRow.zone_id == update.zone_id,
            EventRow.kind == update.kind,
        )
        .order_by(EventRow.last_seen_at.desc(), EventRow.id.desc())
        .limit(1)
    )


def _continuing(session: Session, update: ViolationUpdate) -> EventRow | None:
    """The not yet ended event an update or end of a going-on violation belongs to."""
    statement = _same_violation(update).where(
        EventRow.ended_at.is_(None), EventRow.started_at <= ensure_utc(update.last_seen_at)
    )
    return session.scalar(statement)


def _mergeable(
    session: Session, update: ViolationUpdate, timezone: str, merge_gap: timedelta
) -> EventRow | None:
    """The open or confirmed event an opening merges into (same day, gap under merge_gap)."""
    started_at = ensure_utc(update.started_at)
    row = session.scalar(_same_violation(update).where(EventRow.state.in_(MERGEABLE_STATES)))
    if row is None or started_at - row.last_seen_at > merge_gap:
        return None
    if local_day(row.last_seen_at, timezone) != local_day(started_at, timezone):
        return None
    return row


def _end_left_over(session: Session, update: ViolationUpdate) -> None:
    """End, at their last sighting, events of this violation a crashed process left open."""
    rows = session.scalars(
        select(EventRow).where(
            EventRow.camera_id == update.camera_id,
            EventRow.zone_id == update.zone_id,
            EventRow.kind == update.kind,
            EventRow.ended_at.is_(None),
        )
    ).all()
    for row in rows:
        row.ended_at = row.last_seen_at
        session.flush()
        append_outbox(session, TOPIC_ENDED, _event(row).as_json())


def _add_evidence(
    row: EventRow, snapshots: Sequence[Snapshot], evidence_key: EvidenceKey
) -> list[tuple[str, bytes]]:
    """Name the snapshots' keys on the event (keeping the first and the newest pictures) and
    return the (key, JPEG) pairs still listed, to be stored."""
    kept: list[dict[str, Any]] = list(row.evidence or ())
    numbered = max((int(item.get("n", 0)) for item in kept), default=0)
    pictures: list[tuple[str, bytes]] = []
    for offset, snapshot in enumerate(snapshots, start=1):
        at = ensure_utc(snapshot.at, "snapshot time")
        key = evidence_key(row.camera_id, row.id, numbered + offset, at)
        kept.append({"key": key, "at": at.isoformat(), "n": numbered + offset})
        pictures.append((key, snapshot.jpeg))
    if len(kept) > MAX_EVIDENCE_PICTURES:
        kept = [kept[0], *kept[len(kept) - MAX_EVIDENCE_PICTURES + 1 :]]
    listed = {str(item["key"]) for item in kept}
    row.evidence = kept
    return [(key, jpeg) for key, jpeg in pictures if key in listed]


def record_violation(
    session: Session,
    update: ViolationUpdate,
    *,
    timezone: str,
    merge_gap_s: float,
    evidence_key: EvidenceKey,
) -> RecordedViolation:
    """Apply one detector update (see the module docstring) and write its outbox row; flushed,
    not committed. `timezone` is the camera's (the merge's "same day"); `evidence_key` names
    the object key of each new snapshot. Raises UnknownCameraError for an unknown camera."""
    require_camera(session, update.camera_id)
    started_at, last_seen_at = ensure_utc(update.started_at), ensure_utc(update.last_seen_at)
    row = None if update.phase == "opened" else _continuing(session, update)
    if row is None:
        row = _mergeable(session, update, timezone, timedelta(seconds=merge_gap_s))
    created = row is None
    if row is None:
        _end_left_over(session, update)
        row = EventRow(
            kind=update.kind, camera_id=update.camera_id, zone_id=update.zone_id,
            started_at=started_at, last_seen_at=last_seen_at, severity=update.severity,
            local_track_ids=[], evidence=[], state="open",
        )  # fmt: skip
        session.add(row)
        session.flush()  # the id names the snapshots
    row.started_at = min(row.started_at, started_at)
    row.last_seen_at = max(row.last_seen_at, last_seen_at)
    if SEVERITY_RANK.get(update.severity, 0) > SEVERITY_RANK.get(row.severity, 0):
        row.severity = update.severity
    row.local_track_ids = sorted({*row.local_track_ids, *map(int, update.local_track_ids)})
    row.ended_at = last_seen_at if update.phase == "ended" else None
    pictures = _add_evidence(row, update.snapshots, evidence_key)
    row.updated_at = utc_now()
    session.flush()
    event = _event(row)
    topics = [TOPIC_OPENED] if created else []
    if update.phase == "ended":
        topics.append(TOPIC_ENDED)  # a violation seen only once (a truck passing) opens and ends
    elif not created:
        topics.append(TOPIC_UPDATED)
    for topic in topics:
        append_outbox(session, topic, event.as_json())
    return RecordedViolation(event, tuple(topics), tuple(pictures))


def get_event(session: Session, event_id: int) -> Event | None:
    row = session.get(EventRow, int(event_id))
    return None if row is None else _event(row)


def _filtered(statement: Select[Any], query: EventQuery) -> Select[Any]:
    if query.camera_ids is not None:
        statement = statement.where(EventRow.camera_id.in_(sorted(query.camera_ids)))
    if query.zone_ids is not None:
        statement = statement.where(EventRow.zone_id.in_(sorted(query.zone_ids)))
    if query.kinds is not None:
        statement = statement.where(EventRow.kind.in_(sorted(query.kinds)))
    if query.states is not None:
        statement = statement.where(EventRow.state.in_(sorted(query.states)))
    if query.start is not None:
        statement = statement.where(EventRow.last_seen_at >= query.start)
    if query.end is not None:
        statement = statement.where(EventRow.started_at < query.end)
    return statement


def list_events(
    session: Session, query: EventQuery, limit: int = 100, offset: int = 0
) -> list[Event]:
    """Events matching `query`, newest start first."""
    if query.matches_nothing():
        return []
    statement = _filtered(select(EventRow), query).order_by(
        EventRow.started_at.desc(), EventRow.id.desc()
    )
    rows = session.scalars(statement.limit(int(limit)).offset(int(offset)))
    return [_event(row) for row in rows]


def count_events(session: Session, query: EventQuery) -> int:
    if query.matches_nothing():
        return 0
    return int(session.scalar(_filtered(select(func.count(EventRow.id)), query)) or 0)


def review_event(
    session: Session,
    event_id: int,
    state: str,
    reviewer: str,
    note: str | None = None,
    at: datetime | None = None,
) -> Event:
    """Confirm, dismiss or resolve an event (again, if a reviewer changes their mind) and
    write its "violation.reviewed" outbox row. ValueError naming the field for a state outside
    REVIEW_STATES or an over-long note; UnknownEventError when there is no such event."""
    if state not in REVIEW_STATES:
        raise ValueError(f"state: must be one of {list(REVIEW_STATES)}, got {state!r}")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"note: at most {MAX_NOTE_CHARS} characters, got {len(note)}")
    row = session.get(EventRow, int(event_id))
    if row is None:
        raise UnknownEventError(f"event {event_id} is not in the catalog")
    row.state, row.reviewer, row.review_note = state, reviewer, note
    row.reviewed_at = ensure_utc(at, "review time") if at is not None else utc_now()
    row.updated_at = utc_now()
    session.flush()
    event = _event(row)
    append_outbox(session, TOPIC_REVIEWED, event.as_json())
    return event


def event_stats(
    session: Session, query: EventQuery, group: StatsGroup, default_timezone: str
) -> list[EventStat]:
    """Events matching `query` counted per zone, camera or camera-local day (a camera without
    a time zone of its own is in `default_timezone`), by state and total duration, ordered by
    group, with the camera's and zone's names. Grouped here rather than in SQL: days depend on
    each camera's zone."""
    if group not in ("zone", "camera", "day"):
        raise ValueError(f"group: must be zone, camera or day, got {group!r}")
    if query.matches_nothing():
        return []
    columns = cast(Select[Any], select(
        EventRow.camera_id, EventRow.zone_id, EventRow.state, EventRow.started_at,
        EventRow.last_seen_at, EventRow.ended_at, CameraRow.timezone, CameraRow.name,
        ZoneRow.name,
    ).join(CameraRow, CameraRow.id == EventRow.camera_id)
     .outerjoin(ZoneRow, ZoneRow.id == EventRow.zone_id))  # fmt: skip
    statement = _filtered(columns, query)
    counts: dict[tuple[str, int | None, str | None], Counter[str]] = {}
    durations: Counter[tuple[str, int | None, str | None]] = Counter()
    names: dict[tuple[str, int | None, str | None], tuple[str | None, str | None]] = {}
    for (
        camera_id, zone_id, state, started_at, last_seen_at, ended_at, timezone, camera_name,
        zone_name,
    ) in session.execute(statement):  # fmt: skip
        if group == "day":
            day = local_day(started_at, timezone or default_timezone).isoformat()
            key: tuple[str, int | None, str | None] = ("", None, day)
        elif group == "camera":
            key = (camera_id, None, None)
        else:
            key = (camera_id, zone_id, None)
        if group != "day":
            names[key] = (camera_name, zone_name if group == "zone" else None)
        counts.setdefault(key, Counter())[state] += 1
        durations[key] += ((ended_at or last_seen_at) - started_at).total_seconds()
    stats = []
    for key in sorted(counts, key=lambda k: (k[2] or "", k[0], k[1] or 0)):
        group_camera, group_zone, group_day = key
        zone_label = f"zone:{group_zone if group_zone is not None else 'removed'}"
        label = group_day if group == "day" else group_camera if group == "camera" else zone_label
        camera_name, zone_name = names.get(key, (None, None))
        stats.append(
            EventStat(
                group=str(label), camera_id=group_camera or None, zone_id=group_zone, day=group_day,
                events=sum(counts[key].values()),
                by_state={state: counts[key][state] for state in EVENT_STATES},
                duration_s=round(durations[key], 3), camera_name=camera_name, zone_name=zone_name,
            )
        )  # fmt: skip
    return stats
