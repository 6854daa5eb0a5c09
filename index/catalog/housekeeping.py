"""Catalog repository for pruning the delivery and job bookkeeping (issue #13 follow-up), run
by the retention job (index/retention.py): outbox rows every subscriber has passed, old dead
letters and old finished jobs.

- An outbox row goes once every active webhook's cursor has passed it, no dead letter names
  it, and it is older than the server-sent events replay window (a client resuming with
  `Last-Event-ID` inside the window still finds its rows). An inactive webhook does not hold
  rows back: a subscriber switched off for months would keep the outbox forever; switched on
  again, it resumes after the oldest row still kept.
- A dead letter goes when it is older than `dead_letter_days` and no retry is waiting.
- A finished job (succeeded, failed, cancelled) goes when it was last updated longer ago than
  `finished_job_days`; retention runs' own jobs stay (they are the record of what went and
  when the next run is due).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from index.catalog.jobs import FINISHED_JOB_STATES
from index.catalog.rows import (
    JobRow,
    OutboxRow,
    WebhookCursorRow,
    WebhookDeadLetterRow,
    WebhookRow,
)

KEPT_JOB_KINDS = ("retention",)


@dataclass(frozen=True)
class HousekeepingPolicy:
    """How long delivery and job bookkeeping is kept."""

    outbox_replay_s: float = 24 * 3600.0
    dead_letter_days: int = 30
    finished_job_days: int = 90

    def __post_init__(self) -> None:
        if self.outbox_replay_s < 0:
            raise ValueError("outbox_replay_s must be ≥ 0")
        if self.dead_letter_days < 1 or self.finished_job_days < 1:
            raise ValueError("dead_letter_days and finished_job_days must be ≥ 1")


@dataclass(frozen=True)
class PrunedBookkeeping:
    """How many rows of each kind went."""

    outbox: int = 0
    dead_letters: int = 0
    jobs: int = 0


def outbox_passed_through(session: Session) -> int | None:
    """The highest outbox id every active webhook's cursor has passed; None with no active
    webhook (then only the replay window holds rows)."""
    return session.scalar(
        select(func.min(WebhookCursorRow.delivered_through_id))
        .join(WebhookRow, WebhookRow.id == WebhookCursorRow.webhook_id)
        .where(WebhookRow.active.is_(True))
    )


def prune_dead_letters(session: Session, older_than: datetime) -> int:
    """Delete dead letters dead before `older_than` with no retry waiting; how many went."""
    result = session.execute(
        delete(WebhookDeadLetterRow)
        .where(WebhookDeadLetterRow.dead_at < older_than)
        .where(WebhookDeadLetterRow.retry_requested_at.is_(None))
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_outbox(session: Session, older_than: datetime) -> int:
    """Delete outbox rows created before `older_than` that every active webhook has passed and
    no dead letter names; how many went."""
    statement = (
        delete(OutboxRow)
        .where(OutboxRow.created_at < older_than)
        .where(~exists().where(WebhookDeadLetterRow.outbox_id == OutboxRow.id))
    )
    through = outbox_passed_through(session)
    if through is not None:
        statement = statement.where(OutboxRow.id <= through)
    result = session.execute(statement.execution_options(synchronize_session=False))
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_finished_jobs(session: Session, older_than: datetime) -> int:
    """Delete finished jobs last updated before `older_than`, but retention runs; how many
    went (rows that hang off a job, such as re-index progress, go with it: ON DELETE CASCADE,
    enforced on SQLite too)."""
    result = session.execute(
        delete(JobRow)
        .where(JobRow.state.in_(FINISHED_JOB_STATES))
        .where(JobRow.updated_at < older_than)
        .where(JobRow.kind.not_in(KEPT_JOB_KINDS))
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_bookkeeping(
    session: Session, policy: HousekeepingPolicy, now: datetime
) -> PrunedBookkeeping:
    """Dead letters first (they pin outbox rows), then the outbox, then finished jobs."""
    dead = prune_dead_letters(session, now - timedelta(days=policy.dead_letter_days))
    outbox = prune_outbox(session, now - timedelta(seconds=policy.outbox_replay_s))
    jobs = prune_finished_jobs(session, now - timedelta(days=policy.finished_job_days))
    return PrunedBookkeeping(outbox, dead, jobs)
