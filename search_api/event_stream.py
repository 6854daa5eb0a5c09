"""The server-sent events stream of the outbox (the command center's pull side of the channel).

Each stream reads the catalog's outbox itself, after the last id it sent: the outbox is the
source of truth, so a client that reconnects with `Last-Event-ID` gets exactly what it missed,
whichever process it reaches. `id:` is the outbox id, `event:` the topic, `data:` the same JSON
body a webhook receives. A comment line every `heartbeat_s` keeps idle connections open; the
stream ends after `max_s` (the `retry:` field tells EventSource to reconnect after 2 s).
Camera-limited keys see only rows about their cameras (rows naming no camera are withheld).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio

from index.catalog import Principal, SessionFactory
from index.catalog.webhook_deliveries import OutboxMessage, outbox_after
from index.catalog.webhooks import latest_outbox_id
from search_api.webhook_dispatcher import event_body

RECONNECT_MS = 2000
BATCH_ROWS = 200


@dataclass(frozen=True)
class EventStreamPolicy:
    """Settings.outbox_poll_s, event_stream_heartbeat_s, event_stream_max_s."""

    poll_s: float = 0.5
    heartbeat_s: float = 15.0
    max_s: float = 600.0


def sse_message(message: OutboxMessage) -> bytes:
    """One SSE message: id, event (the topic) and one data line of JSON."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        message.id,
        message.topic.encode(),
        event_body(message),
    )


def may_receive(principal: Principal, message: OutboxMessage) -> bool:
    if principal.camera_ids is None:
        return True
    camera = message.camera_id
    return camera is not None and principal.can_see(camera)


def _read(sessions: SessionFactory, after_id: int) -> list[OutboxMessage]:
    with sessions() as session:
        return outbox_after(session, after_id, BATCH_ROWS)


def start_after(sessions: SessionFactory, last_event_id: int | None) -> int:
    """Where a stream starts: after the client's last id, or after the newest row (a new client
    receives what happens from now on). An id ahead of the newest row never came from this
    outbox (ids only grow): resuming after it would skip the events up to it, so the stream
    starts after the newest instead."""
    with sessions() as session:
        newest = latest_outbox_id(session)
    return newest if last_event_id is None else min(last_event_id, newest)


async def event_stream(
    sessions: SessionFactory, principal: Principal, after_id: int, policy: EventStreamPolicy
) -> AsyncIterator[bytes]:
    """The SSE body: rows after `after_id` the principal may see, heartbeats, until `max_s`."""
    yield b"retry: %d\n: stream after %d\n\n" % (RECONNECT_MS, after_id)
    started = last_sent = time.monotonic()
    cursor = after_id
    while time.monotonic() - started < policy.max_s:
        messages = await anyio.to_thread.run_sync(_read, sessions, cursor)
        for message in messages:
            cursor = message.id
            if may_receive(principal, message):
                yield sse_message(message)
                last_sent = time.monotonic()
        if len(messages) == BATCH_ROWS:
            continue
        if time.monotonic() - last_sent >= policy.heartbeat_s:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
        remaining_s = policy.max_s - (time.monotonic() - started)
        await anyio.sleep(max(0.0, min(policy.poll_s, remaining_s)))
