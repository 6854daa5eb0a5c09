"""Request and response schemas of zone rules and violation events (issue #13)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, Field, field_validator

from detect.detections import COCO_CLASSES
from detect.zone_rules import DEFAULT_RULE_CLASSES, VIOLATION_KINDS, ZoneKind
from index.catalog import (
    Event,
    EventStat,
    ZoneRuleSpec,
    schedule_from_document,
    schedule_text,
    schedule_to_document,
)
from index.catalog.rules import MAX_WINDOWS

ReviewState = Literal["confirmed", "dismissed", "resolved"]
EventState = Literal["open", "confirmed", "dismissed", "resolved"]
EventType = Literal["street_vending", "fire_lane_occupation", "restricted_vehicle"]
assert set(get_args(EventType)) == set(VIOLATION_KINDS)  # one vocabulary with detect's


class ScheduleIn(BaseModel):
    """Days of the week (0 = Monday) and time windows in the camera's local time zone."""

    model_config = {"extra": "forbid"}

    days: list[int] = Field(
        default=[0, 1, 2, 3, 4, 5, 6], min_length=1, max_length=7, examples=[[0, 1, 2, 3, 4]]
    )
    windows: list[str] = Field(
        default=[],
        max_length=MAX_WINDOWS,
        description="HH:MM-HH:MM; one ending at or before its start runs past midnight; none: all"
        " day. Windows may not overlap.",
        examples=[["07:00-22:00"]],
    )


class ZoneRuleIn(BaseModel):
    """What a zone forbids, when, after how long and for which classes."""

    model_config = {"extra": "forbid"}

    kind: ZoneKind = Field(
        description="generic: no violation rule (a plain zone for search filters)",
        examples=["no_vending"],
    )
    schedule: ScheduleIn | None = Field(default=None, description="null: always")
    min_dwell_s: float = Field(default=300.0, ge=0, le=86400, description="seconds")
    sensitivity: float = Field(default=0.5, ge=0, le=1)
    classes: list[str] = Field(
        default=[], max_length=len(COCO_CLASSES), description="COCO class names; []: the kind's"
    )

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: ScheduleIn | None) -> ScheduleIn | None:
        if value is not None:
            schedule_from_document(value.model_dump())  # RuleError: "schedule: ..."
        return value

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(COCO_CLASSES))
        if unknown:
            raise ValueError(f"unknown class name(s) {unknown}")
        return value

    def spec(self) -> ZoneRuleSpec:
        document = None if self.schedule is None else self.schedule.model_dump()
        return ZoneRuleSpec.checked(
            self.kind, schedule_from_document(document), self.min_dwell_s, self.sensitivity,
            self.classes,
        )  # fmt: skip


class ScheduleOut(BaseModel):
    days: list[int]
    windows: list[str]
    text: str = Field(examples=["mon,tue,wed,thu,fri 07:00-22:00"])


class ZoneRuleOut(BaseModel):
    zone_id: int
    camera_id: str
    kind: ZoneKind
    schedule: ScheduleOut | None = Field(description="null: always")
    min_dwell_s: float
    sensitivity: float
    classes: list[str] = Field(description="as set; []: the kind's defaults")
    counted_classes: list[str] = Field(description="the classes that take part")

    @classmethod
    def of(cls, zone_id: int, camera_id: str, rule: ZoneRuleSpec) -> ZoneRuleOut:
        document = schedule_to_document(rule.schedule)
        schedule = None
        if document is not None:
            schedule = ScheduleOut(**document, text=schedule_text(rule.schedule))
        counted = rule.classes or DEFAULT_RULE_CLASSES[rule.kind]
        return cls(
            zone_id=zone_id, camera_id=camera_id, kind=rule.kind, schedule=schedule,
            min_dwell_s=rule.min_dwell_s, sensitivity=rule.sensitivity,
            classes=sorted(rule.classes), counted_classes=sorted(counted),
        )  # fmt: skip


class EventOut(BaseModel):
    """A violation event; `local_track_ids` are the tracker's ids on the camera."""

    id: int
    type: EventType
    camera_id: str
    zone_id: int | None = Field(description="null once the zone was removed")
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None = Field(description="null while it goes on")
    severity: Literal["low", "medium", "high"]
    local_track_ids: list[int]
    snapshot_count: int
    state: EventState
    reviewer: str | None
    review_note: str | None
    reviewed_at: datetime | None

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            id=event.id, type=event.kind, camera_id=event.camera_id,  # type: ignore[arg-type]
            zone_id=event.zone_id, started_at=event.started_at,
            last_seen_at=event.last_seen_at, ended_at=event.ended_at,
            severity=event.severity, local_track_ids=list(event.local_track_ids),  # type: ignore[arg-type]
            snapshot_count=len(event.evidence), state=event.state,  # type: ignore[arg-type]
            reviewer=event.reviewer, review_note=event.review_note,
            reviewed_at=event.reviewed_at,
        )  # fmt: skip


class SnapshotOut(BaseModel):
    at: datetime
    url: str = Field(description="signed, expiring link to the picture (zone and boxes drawn)")


class EventDetailOut(EventOut):
    snapshots: list[SnapshotOut]
    clip_url: str | None = Field(
        description="signed, expiring link to the recording of the event; null when gone"
    )
    clip_available: bool = Field(
        default=True,
        description=(
            "false: no recording covers the event — retention deleted it, or the event lies in a"
            " recording gap (clip_url is null)"
        ),
    )


class EventsPage(BaseModel):
    items: list[EventOut]
    total: int
    limit: int
    offset: int


class ReviewIn(BaseModel):
    model_config = {"extra": "forbid"}

    state: ReviewState
    note: str | None = Field(default=None, max_length=2000)


class EventStatOut(BaseModel):
    group: str = Field(description="zone:<id>, a camera id, or a camera-local day (YYYY-MM-DD)")
    camera_id: str | None
    zone_id: int | None
    day: str | None
    events: int
    open: int
    confirmed: int
    dismissed: int
    resolved: int
    duration_s: float = Field(description="total, to each end (or last sighting while open)")
    # appended last so that CSV readers by column position keep working
    camera_name: str | None = Field(default=None, description="zone and camera groups")
    zone_name: str | None = Field(default=None, description="zone groups; null once removed")

    @classmethod
    def of(cls, stat: EventStat) -> EventStatOut:
        return cls(
            group=stat.group, camera_id=stat.camera_id, zone_id=stat.zone_id, day=stat.day,
            events=stat.events, open=stat.by_state.get("open", 0),
            confirmed=stat.by_state.get("confirmed", 0),
            dismissed=stat.by_state.get("dismissed", 0),
            resolved=stat.by_state.get("resolved", 0), duration_s=stat.duration_s,
            camera_name=stat.camera_name, zone_name=stat.zone_name,
        )  # fmt: skip
