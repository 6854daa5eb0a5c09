"""The events outbox: every change to publish, written in the transaction of the change.

A repository that changes something the command center hears about (events, camera links)
calls `append_outbox` in the same session before the caller commits, so a change is committed
with its outbox row or not at all, and a process that dies before the push loses nothing. The
delivery side (webhooks, server-sent events) reads the rows in id order, in its own module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from index.catalog.rows import OutboxRow

MAX_TOPIC_CHARS = 64


def append_outbox(session: Session, topic: str, payload: Mapping[str, Any]) -> int:
    """Add one outbox row (flushed, not committed) and return its id; ids only grow."""
    if not topic or len(topic) > MAX_TOPIC_CHARS:
        raise ValueError(f"outbox topic must have 1-{MAX_TOPIC_CHARS} characters, got {topic!r}")
    row = OutboxRow(topic=topic, payload=dict(payload))
    session.add(row)
    session.flush()
    return row.id
