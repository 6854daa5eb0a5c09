"""The server-sent events stream of published events (violations, camera online/offline, ...).

`/event-stream` rather than `/events/stream`: `/events` is the review API's collection, whose
`/events/{id}` would otherwise shadow it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from search_api.access import EVENTS_VIEW
from search_api.deps import ContextDep, PrincipalDep, requires
from search_api.event_stream import event_stream, start_after
from search_api.openapi import AUTH_RESPONSES, MAX_CATALOG_ID

router = APIRouter(prefix="/event-stream", tags=["events"], responses=AUTH_RESPONSES)

# One event of the stream (OpenAPI 3.1: the schema of a text/event-stream describes each event):
#   id: 42
#   event: camera.offline
#   data: {"id":42,"topic":"camera.offline","at":"2026-12-06T08:00:00+00:00","data":{...}}
SSE_EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "the outbox id; send it back as Last-Event-ID"},
        "event": {"type": "string", "description": "the topic, e.g. camera.offline"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "JSON {id, topic, at, data}: the body a webhook receives",
        },
        "retry": {"type": "integer", "description": "reconnect delay (ms)"},
    },
}


@router.get(
    "",
    response_class=StreamingResponse,
    summary="Server-sent events: every published event, resumable with Last-Event-ID",
    responses={
        200: {
            "description": "text/event-stream: `id:` outbox id, `event:` topic, `data:` JSON "
            "{id, topic, at, data}; `: keep-alive` comments; ends after a while (reconnect)",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        }
    },
    dependencies=[requires(EVENTS_VIEW)],
)
async def read_event_stream(
    principal: PrincipalDep,
    context: ContextDep,
    last_event_id: Annotated[
        int | None,
        Header(alias="Last-Event-ID", ge=0, le=MAX_CATALOG_ID, description="resume after this id"),
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_CATALOG_ID, description="resume after this id (Last-Event-ID wins)"),
    ] = None,
) -> StreamingResponse:
    """Events published after `Last-Event-ID` (or `after`; neither: from now on). Camera-limited
    keys receive only events about their cameras."""
    resume = last_event_id if last_event_id is not None else after
    first = start_after(context.sessions, resume)
    body = event_stream(context.sessions, principal, first, context.event_stream)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)
