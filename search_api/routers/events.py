"""Violation event endpoints (issue #13): list and filter, one event with its evidence links,
review (confirm, dismiss, resolve), and statistics per zone, camera or day as JSON or CSV.

Events follow camera scopes like everything else: an event on a camera the key may not see is
not found. city_manager reads and reviews events; reviews are audited and published (outbox
topic "violation.reviewed") in the same transaction.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from index.catalog import (
    Event,
    EventQuery,
    Principal,
    Session,
    UnknownEventError,
    append_audit,
    count_events,
    event_stats,
    get_event,
    list_events,
    review_event,
)
from index.catalog.retention_plan import recording_deleted_days, span_never_recorded
from index.retention import JOB_KIND as RETENTION_JOB
from search_api.access import EVENT_REVIEW, EVENTS_VIEW, visible_cameras
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import InvalidInput, NotFound
from search_api.event_schemas import (
    EventDetailOut,
    EventOut,
    EventsPage,
    EventState,
    EventStatOut,
    EventType,
    ReviewIn,
    SnapshotOut,
)
from search_api.links import clip_url, picture_url
from search_api.openapi import AUTH_RESPONSES, CatalogId, SearchTime

router = APIRouter(prefix="/events", tags=["events"], responses=AUTH_RESPONSES)
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}
MAX_PAGE = 500


def event_query(
    principal: Principal,
    camera_id: str | None,
    zone_id: int | None,
    event_type: str | None,
    state: str | None,
    start: SearchTime | None,
    end: SearchTime | None,
) -> EventQuery:
    """The filters, cut to the caller's cameras (403 naming a camera outside them)."""
    if start is not None and end is not None and end < start:
        raise InvalidInput("end: is before start")
    return EventQuery(
        camera_ids=visible_cameras(principal, None if camera_id is None else [camera_id]),
        zone_ids=None if zone_id is None else (zone_id,),
        kinds=None if event_type is None else (event_type,),
        states=None if state is None else (state,),
        start=start,
        end=end,
    )


def visible_event(session: Session, principal: Principal, event_id: int) -> Event:
    event = get_event(session, event_id)
    if event is None or not principal.can_see(event.camera_id):
        raise NotFound(f"event {event_id} not found")
    return event


CameraFilter = Annotated[str | None, Query(max_length=64, description="camera id")]
ZoneFilter = Annotated[CatalogId | None, Query(description="zone id")]
TypeFilter = Annotated[EventType | None, Query(alias="type", description="violation type")]
StateFilter = Annotated[EventState | None, Query()]
TimeFilter = Annotated[SearchTime | None, Query(description="seen within [start, end)")]


@router.get(
    "",
    response_model=EventsPage,
    summary="Violation events, newest first",
    dependencies=[requires(EVENTS_VIEW)],
)
def read_events(
    principal: PrincipalDep,
    session: SessionDep,
    camera_id: CameraFilter = None,
    zone_id: ZoneFilter = None,
    event_type: TypeFilter = None,
    state: StateFilter = None,
    start: TimeFilter = None,
    end: TimeFilter = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> EventsPage:
    query = event_query(principal, camera_id, zone_id, event_type, state, start, end)
    items = [EventOut.of(e) for e in list_events(session, query, limit, offset)]
    return EventsPage(items=items, total=count_events(session, query), limit=limit, offset=offset)


@router.get(
    "/stats",
    response_model=list[EventStatOut],
    summary="Event counts per zone, camera or camera-local day (JSON or CSV)",
    responses=CSV_RESPONSE,
    dependencies=[requires(EVENTS_VIEW)],
)
def read_event_stats(
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    group: Literal["zone", "camera", "day"] = "zone",
    output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
    camera_id: CameraFilter = None,
    zone_id: ZoneFilter = None,
    event_type: TypeFilter = None,
    state: StateFilter = None,
    start: TimeFilter = None,
    end: TimeFilter = None,
) -> list[EventStatOut] | Response:
    query = event_query(principal, camera_id, zone_id, event_type, state, start, end)
    stats = [
        EventStatOut.of(s) for s in event_stats(session, query, group, context.default_timezone)
    ]
    if output == "json":
        return stats
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(EventStatOut.model_fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(stat.model_dump() for stat in stats)
    filename = f"event-stats-{group}.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/{event_id}",
    response_model=EventDetailOut,
    summary="One event and its evidence",
    dependencies=[requires(EVENTS_VIEW, scope="event")],
)
def read_event(
    event_id: CatalogId, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> EventDetailOut:
    """Snapshot and clip links are signed for the caller's key and expire; the clip covers the
    event from its start to its end (or last sighting while it goes on). Once retention has
    deleted that recording, or where the event lies in a recording gap (none was made),
    `clip_available` is false and `clip_url` null."""
    event = visible_event(session, principal, event_id)
    snapshots = [
        SnapshotOut(at=picture.at, url=str(picture_url(context, principal, picture.key)))
        for picture in event.evidence
    ]
    until = event.ended_at or event.last_seen_at
    gone = recording_deleted_days(
        session, context.retention.defaults, event.camera_id, event.started_at, until,
        RETENTION_JOB,
    )  # fmt: skip
    available = gone is None and not span_never_recorded(
        session, event.camera_id, event.started_at, until
    )
    clip = (
        clip_url(context, principal, event.camera_id, event.started_at, until)
        if available
        else None
    )
    # a result viewed (issue #17): the event's evidence links are handed out
    append_audit(
        session, principal=principal.name, role=principal.role, action="event_view",
        target=f"event:{event.id}", hit_count=len(snapshots),
    )  # fmt: skip
    session.commit()
    return EventDetailOut(
        **EventOut.of(event).model_dump(), snapshots=snapshots, clip_url=clip,
        clip_available=available,
    )  # fmt: skip


@router.post(
    "/{event_id}/review",
    response_model=EventOut,
    summary="Confirm, dismiss or resolve",
    dependencies=[requires(EVENT_REVIEW, scope="event")],
)
def post_review(
    event_id: CatalogId, body: ReviewIn, principal: PrincipalDep, session: SessionDep
) -> EventOut:
    """The reviewer is the caller's key name; the review is audited and published."""
    visible_event(session, principal, event_id)
    try:
        event = review_event(session, event_id, body.state, principal.name, body.note)
    except UnknownEventError as error:  # removed meanwhile
        raise NotFound(f"event {event_id} not found") from error
    append_audit(
        session, principal=principal.name, role=principal.role, action="event_review",
        target=f"event:{event_id}", filters={"state": body.state, "note": body.note},
    )  # fmt: skip
    session.commit()
    return EventOut.of(event)
