"""Violation events, zone rules and the outbox in the catalog on SQLite and a real PostgreSQL:
a continuing violation is one event, same-day openings merge within the gap, every change has
its outbox row in the same transaction, review, filters and statistics; rule checks name the
field."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from detect.zone_rules import Schedule, Snapshot, TimeWindow, ViolationUpdate
from index import catalog
from index.catalog import (
    CameraSpec,
    EventQuery,
    RuleError,
    ZoneRuleSpec,
    parse_schedule_text,
    schedule_from_document,
    session_factory,
)
from index.catalog.rows import EventRow, OutboxRow

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Asia/Shanghai
SQUARE = [(0.1, 0.1), (0.6, 0.1), (0.6, 0.6), (0.1, 0.6)]
TZ = "Asia/Shanghai"


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    sessions = session_factory(engine)
    with sessions() as session:
        catalog.upsert_camera(session, CameraSpec("cam-1", "cam-1", "rtsp://h/main", timezone=TZ))
        catalog.upsert_camera(session, CameraSpec("cam-2", "cam-2", "rtsp://h/main"))
        catalog.create_zone(session, "cam-1", "market", SQUARE)
        catalog.create_zone(session, "cam-2", "lane", SQUARE)
        session.commit()
    return sessions


def key_of(camera_id: str, event_id: int, n: int, at: datetime) -> str:
    return f"events/{camera_id}/{at:%Y-%m-%d}/{event_id}-{n}.jpg"


def update(
    phase: str,
    start_min: float,
    seen_min: float,
    zone_id: int = 1,
    camera_id: str = "cam-1",
    tracks: tuple[int, ...] = (),
    snapshots: int = 0,
    severity: str = "medium",
) -> ViolationUpdate:
    return ViolationUpdate(
        camera_id=camera_id,
        zone_id=zone_id,
        kind="street_vending",
        phase=phase,  # type: ignore[arg-type]
        started_at=T0 + timedelta(minutes=start_min),
        last_seen_at=T0 + timedelta(minutes=seen_min),
        severity=severity,  # type: ignore[arg-type]
        local_track_ids=tracks,
        snapshots=tuple(
            Snapshot(T0 + timedelta(minutes=seen_min, seconds=i), b"jpeg%d" % i)
            for i in range(snapshots)
        ),
    )


def record(
    session: Session, change: ViolationUpdate, gap_s: float = 900
) -> catalog.RecordedViolation:
    return catalog.record_violation(
        session, change, timezone=TZ, merge_gap_s=gap_s, evidence_key=key_of
    )


def outbox(session: Session) -> list[tuple[str, int]]:
    rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id))
    return [(row.topic, row.payload["id"]) for row in rows]


def test_a_continuing_violation_is_one_event_with_its_outbox_rows(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        opened = record(session, update("opened", 0, 5, tracks=(3, 4), snapshots=1))
        assert opened.topics == ("violation.opened",)
        assert opened.pictures == ((f"events/cam-1/2026-03-02/{opened.event.id}-1.jpg", b"jpeg0"),)
        record(session, update("updated", 0, 8, tracks=(4, 9), snapshots=1, severity="high"))
        ended = record(session, update("ended", 0, 12, snapshots=1))
        session.commit()
    event = ended.event
    assert ended.topics == ("violation.ended",)
    assert event.started_at == T0 and event.last_seen_at == T0 + timedelta(minutes=12)
    assert event.ended_at == event.last_seen_at
    assert event.local_track_ids == (3, 4, 9) and event.severity == "high"
    assert [p.key.rsplit("/", 1)[1] for p in event.evidence] == [
        f"{event.id}-1.jpg",
        f"{event.id}-2.jpg",
        f"{event.id}-3.jpg",
    ]
    with sessions() as session:
        assert session.scalar(select(EventRow.id).where(EventRow.id != event.id)) is None
        assert outbox(session) == [
            ("violation.opened", event.id), ("violation.updated", event.id),
            ("violation.ended", event.id),
        ]  # fmt: skip


def test_the_event_and_its_outbox_row_commit_or_roll_back_together(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        record(session, update("opened", 0, 5))
        session.rollback()
    with sessions() as session:
        assert session.scalar(select(EventRow.id)) is None and outbox(session) == []


def test_same_day_openings_merge_within_the_gap_and_not_beyond(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        first = record(session, update("opened", 0, 5))
        record(session, update("ended", 0, 10))
        again = record(session, update("opened", 20, 25))  # 10 min later: the same stall
        assert again.event.id == first.event.id and again.topics == ("violation.updated",)
        assert again.event.ended_at is None and again.event.started_at == T0
        record(session, update("ended", 20, 30))
        later = record(session, update("opened", 60, 65))  # 30 min later: a new event
        other_zone = record(session, update("opened", 62, 65, zone_id=2, camera_id="cam-2"))
        session.commit()
    assert later.event.id != first.event.id and later.topics == ("violation.opened",)
    assert other_zone.event.id not in (first.event.id, later.event.id)


def test_openings_do_not_merge_across_local_midnight_or_into_dismissed_events(
    sessions: sessionmaker[Session],
) -> None:
    # 15:50 UTC is 23:50 in Shanghai; 16:05 UTC is 00:05 the next local day.
    with sessions() as session:
        night = record(session, update("opened", 13 * 60 + 50, 13 * 60 + 58)).event
        next_day = record(session, update("opened", 14 * 60 + 5, 14 * 60 + 9)).event
        assert next_day.id != night.id
        catalog.review_event(session, next_day.id, "dismissed", "alice", "a delivery")
        after = record(session, update("opened", 14 * 60 + 12, 14 * 60 + 15)).event
        session.commit()
    assert after.id != next_day.id
    with sessions() as session:
        events = {e.id: e for e in catalog.list_events(session, EventQuery())}
    # the event a new one replaced without an end (a crashed detector) ended at its last sighting
    assert events[night.id].ended_at == night.last_seen_at


def test_review_writes_reviewer_note_and_an_outbox_row(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        event = record(session, update("opened", 0, 5)).event
        reviewed = catalog.review_event(session, event.id, "confirmed", "key:7", "stall seen")
        session.commit()
        assert (reviewed.state, reviewed.reviewer, reviewed.review_note) == (
            "confirmed", "key:7", "stall seen"
        )  # fmt: skip
        assert reviewed.reviewed_at is not None
        assert outbox(session)[-1] == ("violation.reviewed", event.id)
        with pytest.raises(ValueError, match=r"^state:"):
            catalog.review_event(session, event.id, "open", "key:7")
        with pytest.raises(catalog.UnknownEventError):
            catalog.review_event(session, 999, "confirmed", "key:7")
        # a confirmed event still merges a same-day return of the stall
        assert record(session, update("opened", 8, 9)).event.id == event.id


def test_listing_filters_and_statistics(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        a = record(session, update("opened", 0, 10)).event
        record(session, update("ended", 0, 10))
        b = record(session, update("opened", 0, 30, zone_id=2, camera_id="cam-2")).event
        c = record(session, update("opened", 24 * 60, 24 * 60 + 5)).event  # the next day
        catalog.review_event(session, b.id, "confirmed", "bob")
        session.commit()
        ids = lambda q: [e.id for e in catalog.list_events(session, q)]  # noqa: E731
        assert ids(EventQuery()) == [c.id, b.id, a.id]
        assert ids(EventQuery(camera_ids=("cam-2",))) == [b.id]
        assert ids(EventQuery(zone_ids=(1,), states=("open",))) == [c.id, a.id]
        assert ids(EventQuery(states=("confirmed",))) == [b.id]
        assert ids(EventQuery(kinds=("fire_lane_occupation",))) == []
        assert ids(EventQuery(camera_ids=())) == []
        assert ids(EventQuery(start=T0 + timedelta(minutes=20), end=T0 + timedelta(hours=2))) == [
            b.id
        ]
        assert catalog.count_events(session, EventQuery(zone_ids=(1,))) == 2
        assert [e.id for e in catalog.list_events(session, EventQuery(), limit=1, offset=1)] == [
            b.id
        ]
        by_zone = catalog.event_stats(session, EventQuery(), "zone", TZ)
        by_camera = catalog.event_stats(session, EventQuery(), "camera", TZ)
        by_day = catalog.event_stats(session, EventQuery(), "day", "UTC")
    assert [(s.group, s.events, s.by_state["open"], s.by_state["confirmed"]) for s in by_zone] == [
        ("zone:1", 2, 2, 0), ("zone:2", 1, 0, 1)
    ]  # fmt: skip
    assert [(s.camera_name, s.zone_name) for s in by_zone] == [
        ("cam-1", "market"),
        ("cam-2", "lane"),
    ]
    assert [(s.camera_name, s.zone_name) for s in by_camera] == [("cam-1", None), ("cam-2", None)]
    assert [(s.group, s.events, s.duration_s) for s in by_camera] == [
        ("cam-1", 2, 900.0), ("cam-2", 1, 1800.0)
    ]  # fmt: skip
    # cam-1 has Asia/Shanghai, cam-2 none (the default given, UTC): all on 2026-03-02 but c
    assert [(s.group, s.events) for s in by_day] == [("2026-03-02", 2), ("2026-03-03", 1)]
    with pytest.raises(ValueError, match=r"^state:"):
        EventQuery(states=("closed",))


def test_a_removed_zone_leaves_its_events(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        event = record(session, update("opened", 0, 5)).event
        catalog.delete_zone(session, 1)
        session.commit()
        assert catalog.get_event(session, event.id).zone_id is None  # type: ignore[union-attr]
        (stat,) = catalog.event_stats(session, EventQuery(), "zone", TZ)
    assert (stat.group, stat.zone_name, stat.camera_name) == ("zone:removed", None, "cam-1")


# ---- zone rules --------------------------------------------------------------------------------


def test_zone_rules_round_trip_and_convert_to_the_detectors_rule(
    sessions: sessionmaker[Session],
) -> None:
    schedule = parse_schedule_text("mon-fri 07:00-22:00")
    spec = ZoneRuleSpec.checked("no_vending", schedule, 600, 0.7, ["umbrella", "person"])
    with sessions() as session:
        zone = catalog.set_zone_rule(session, 1, spec)
        session.commit()
    with sessions() as session:
        stored = catalog.get_zone(session, 1)
        rules = catalog.camera_zone_rules(session, "cam-1", "UTC")
        assert catalog.camera_zone_rules(session, "cam-2", "UTC") == []  # generic zones only
    assert stored is not None and stored.rule == spec == zone.rule
    (rule,) = rules
    assert (rule.kind, rule.min_dwell_s, rule.sensitivity, rule.timezone) == (
        "no_vending", 600.0, 0.7, TZ
    )  # fmt: skip
    assert rule.classes == frozenset({"umbrella", "person"}) and rule.polygon == zone.polygon
    assert rule.schedule.days == frozenset(range(5))
    assert rule.schedule.active_at(T0, rule.timezone)  # Monday 10:00 local
    assert not rule.schedule.active_at(T0 + timedelta(hours=13), rule.timezone)  # 23:00


def test_camera_without_timezone_uses_the_default(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        catalog.set_zone_rule(session, 2, ZoneRuleSpec.checked("fire_lane"))
        (rule,) = catalog.camera_zone_rules(session, "cam-2", "Europe/Berlin")
    assert rule.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "schedule"),
        ("mon-fri 07:00-22:00 21:00-23:00", "schedule"),
        ("22:00-06:00 05:00-07:00", "schedule"),
        ("mon-fri 7-22", "schedule"),
        ("funday 07:00-22:00", "schedule"),
        ("mon 08:00-08:00", "schedule"),
    ],
)
def test_bad_schedules_name_the_field(text: str, field: str) -> None:
    with pytest.raises(RuleError) as raised:
        parse_schedule_text(text)
    assert raised.value.field == field and str(raised.value).startswith("schedule:")


def test_schedule_text_and_documents() -> None:
    weekend = parse_schedule_text("sat,sun 09:00-12:00 14:00-18:00")
    assert weekend == Schedule(
        frozenset({5, 6}),
        (TimeWindow(time(9), time(12)), TimeWindow(time(14), time(18))),
    )
    assert parse_schedule_text("always").always
    assert parse_schedule_text("fri-mon").days == frozenset({4, 5, 6, 0})
    assert parse_schedule_text("22:00-06:00").windows == (TimeWindow(time(22), time(6)),)
    assert catalog.schedule_text(weekend) == "sat,sun 09:00-12:00 14:00-18:00"
    doc = catalog.schedule_to_document(weekend)
    assert doc == {"days": [5, 6], "windows": ["09:00-12:00", "14:00-18:00"]}
    assert schedule_from_document(doc) == weekend
    bad: dict[str, Any]
    for bad in ({"days": []}, {"days": [7]}, {"windows": ["7-9"]}, {"day": [1]}):
        with pytest.raises(RuleError, match=r"^schedule:"):
            schedule_from_document(bad)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "no_parking"}, "kind"),
        ({"min_dwell_s": -1}, "min_dwell_s"),
        ({"min_dwell_s": 90000}, "min_dwell_s"),
        ({"sensitivity": 1.5}, "sensitivity"),
        ({"classes": ["stall"]}, "classes"),
    ],
)
def test_bad_rule_fields_are_named(fields: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"kind": "no_vending", **fields}
    with pytest.raises(RuleError) as raised:
        ZoneRuleSpec.checked(**arguments)  # type: ignore[arg-type]
    assert raised.value.field == field


def test_self_intersecting_polygons_are_refused(sessions: sessionmaker[Session]) -> None:
    bow_tie = [(0.1, 0.1), (0.8, 0.6), (0.8, 0.1), (0.1, 0.3)]  # encloses an area, crossed
    with sessions() as session, pytest.raises(ValueError, match="intersects itself"):
        catalog.create_zone(session, "cam-1", "bow tie", bow_tie)
