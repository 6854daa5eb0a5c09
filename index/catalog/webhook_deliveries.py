"""Catalog repository for pushing the outbox: reading it in id order (webhooks and the SSE
stream), each subscriber's delivery cursor, failed attempts and its dead letters.

Delivery is at least once and in order per subscriber: the cursor moves past an outbox row
only when the subscriber answered 2xx (`record_delivered`) or the row was dead-lettered
(`dead_letter`), each in the caller's transaction. A crash between the POST and that commit
sends the row again after the restart; receivers dedupe on the outbox id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from index.catalog.rows import OutboxRow, WebhookCursorRow, WebhookDeadLetterRow, utc_now
from index.catalog.webhooks import UnknownWebhookError, get_webhook

# A row whose id follows a gap is held back this long: on PostgreSQL ids are taken when a
# transaction inserts but become visible when it commits, so a gap may be a row still being
# committed (a reader that moved past it would never see it). Older gaps are rolled-back ids.
OUTBOX_SETTLE_S = 5.0
MAX_ERROR_CHARS = 500


class UnknownDeadLetterError(LookupError):
    """The subscriber has no dead letter with this id."""


@dataclass(frozen=True)
class OutboxMessage:
    """One outbox row as it is published: `id` orders and identifies it (`X-Skynet-Event-Id`,
    the SSE `id:`), `data` is the payload."""

    id: int
    topic: str
    at: datetime
    data: dict[str, Any]

    @property
    def camera_id(self) -> str | None:
        camera = self.data.get("camera_id")
        return camera if isinstance(camera, str) else None


@dataclass(frozen=True)
class DeadLetter:
    """An outbox row a subscriber refused `attempts` times; `retry_requested_at` is set while
    an admin's retry waits for the dispatcher."""

    id: int
    webhook_id: int
    message: OutboxMessage
    attempts: int
    last_error: str
    dead_at: datetime
    retry_requested_at: datetime | None


def _message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(row.id, row.topic, row.created_at, dict(row.payload))


def outbox_after(
    session: Session, after_id: int, limit: int = 100, settle_s: float = OUTBOX_SETTLE_S
) -> list[OutboxMessage]:
    """Up to `limit` outbox rows with id > `after_id`, in id order, stopping before a row that
    follows a gap in the ids and is younger than `settle_s` (see OUTBOX_SETTLE_S)."""
    rows = session.scalars(
        select(OutboxRow).where(OutboxRow.id > after_id).order_by(OutboxRow.id).limit(limit)
    ).all()
    settled_before = utc_now() - timedelta(seconds=settle_s)
    messages: list[OutboxMessage] = []
    previous = after_id
    for row in rows:
        if row.id != previous + 1 and row.created_at > settled_before and previous > 0:
            break
        messages.append(_message(row))
        previous = row.id
    return messages


def outbox_message(session: Session, outbox_id: int) -> OutboxMessage | None:
    row = session.get(OutboxRow, outbox_id)
    return None if row is None else _message(row)


def _cursor(session: Session, webhook_id: int) -> WebhookCursorRow:
    cursor = session.get(WebhookCursorRow, webhook_id)
    if cursor is None:
        raise UnknownWebhookError(f"webhook {webhook_id} not found")
    return cursor


def record_delivered(session: Session, webhook_id: int, through_id: int) -> None:
    """The subscriber took every row up to `through_id` (2xx, or filtered out by its topics):
    move its cursor there and clear the failure count. Never moves a cursor backwards."""
    cursor = _cursor(session, webhook_id)
    cursor.delivered_through_id = max(cursor.delivered_through_id, through_id)
    cursor.attempts, cursor.next_attempt_at, cursor.last_error = 0, None, None
    session.flush()


def record_failure(session: Session, webhook_id: int, error: str, next_attempt_at: datetime) -> int:
    """One more failed attempt at the subscriber's next row; returns the attempts so far."""
    cursor = _cursor(session, webhook_id)
    cursor.attempts += 1
    cursor.next_attempt_at = next_attempt_at
    cursor.last_error = error[:MAX_ERROR_CHARS]
    session.flush()
    return cursor.attempts


def dead_letter(session: Session, webhook_id: int, outbox_id: int, error: str) -> None:
    """Give up on `outbox_id` for this subscriber: keep it in the dead-letter list and move the
    cursor past it, so later rows flow again."""
    cursor = _cursor(session, webhook_id)
    attempts = cursor.attempts + 1
    existing = session.scalar(
        select(WebhookDeadLetterRow).where(
            WebhookDeadLetterRow.webhook_id == webhook_id,
            WebhookDeadLetterRow.outbox_id == outbox_id,
        )
    )
    if existing is None:
        session.add(
            WebhookDeadLetterRow(
                webhook_id=webhook_id, outbox_id=outbox_id, attempts=attempts,
                last_error=error[:MAX_ERROR_CHARS],
            )
        )  # fmt: skip
    record_delivered(session, webhook_id, outbox_id)


def _dead_letter(row: WebhookDeadLetterRow, outbox: OutboxRow) -> DeadLetter:
    return DeadLetter(
        row.id, row.webhook_id, _message(outbox), row.attempts, row.last_error, row.dead_at,
        row.retry_requested_at,
    )  # fmt: skip


def dead_letters(session: Session, webhook_id: int, limit: int = 100) -> list[DeadLetter]:
    """The subscriber's dead letters, oldest outbox row first; UnknownWebhookError if none."""
    get_webhook(session, webhook_id)
    rows = session.execute(
        select(WebhookDeadLetterRow, OutboxRow)
        .join(OutboxRow, OutboxRow.id == WebhookDeadLetterRow.outbox_id)
        .where(WebhookDeadLetterRow.webhook_id == webhook_id)
        .order_by(WebhookDeadLetterRow.outbox_id)
        .limit(limit)
    ).all()
    return [_dead_letter(letter, outbox) for letter, outbox in rows]


def request_retry(session: Session, webhook_id: int, dead_letter_id: int) -> DeadLetter:
    """Mark a dead letter for one more delivery by the dispatcher (it stays listed until the
    subscriber answers 2xx)."""
    found = session.execute(
        select(WebhookDeadLetterRow, OutboxRow)
        .join(OutboxRow, OutboxRow.id == WebhookDeadLetterRow.outbox_id)
        .where(
            WebhookDeadLetterRow.id == dead_letter_id,
            WebhookDeadLetterRow.webhook_id == webhook_id,
        )
    ).first()
    if found is None:
        raise UnknownDeadLetterError(f"webhook {webhook_id} has no dead letter {dead_letter_id}")
    letter, outbox = found
    letter.retry_requested_at = utc_now()
    session.flush()
    return _dead_letter(letter, outbox)


def retries_requested(session: Session, webhook_id: int, limit: int = 20) -> list[DeadLetter]:
    """The subscriber's dead letters an admin asked to send again, oldest request first."""
    rows = session.execute(
        select(WebhookDeadLetterRow, OutboxRow)
        .join(OutboxRow, OutboxRow.id == WebhookDeadLetterRow.outbox_id)
        .where(
            WebhookDeadLetterRow.webhook_id == webhook_id,
            WebhookDeadLetterRow.retry_requested_at.is_not(None),
        )
        .order_by(WebhookDeadLetterRow.retry_requested_at, WebhookDeadLetterRow.id)
        .limit(limit)
    ).all()
    return [_dead_letter(letter, outbox) for letter, outbox in rows]


def retry_delivered(session: Session, dead_letter_id: int) -> None:
    """The subscriber took a retried dead letter: it leaves the list."""
    session.execute(delete(WebhookDeadLetterRow).where(WebhookDeadLetterRow.id == dead_letter_id))
    session.flush()


def retry_failed(session: Session, dead_letter_id: int, error: str) -> None:
    """A retried dead letter failed again: it stays dead (until the next request)."""
    session.execute(
        update(WebhookDeadLetterRow)
        .where(WebhookDeadLetterRow.id == dead_letter_id)
        .values(
            attempts=WebhookDeadLetterRow.attempts + 1,
            last_error=error[:MAX_ERROR_CHARS],
            retry_requested_at=None,
        )
    )
    session.flush()
