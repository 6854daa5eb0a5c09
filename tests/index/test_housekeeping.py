"""Pruning of the delivery and job bookkeeping in the retention run (issue #13): outbox rows
only once every active webhook passed them and the SSE replay window no longer covers them,
old dead letters without a retry waiting, old finished jobs (not retention runs), audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from index.catalog import create_job, finish_held_job, start_held_job
from index.catalog.housekeeping import HousekeepingPolicy
from index.catalog.outbox import append_outbox
from index.catalog.rows import (
    AuditRow,
    JobRow,
    OutboxRow,
    WebhookDeadLetterRow,
    WebhookRow,
    utc_now,
)
from index.catalog.webhook_deliveries import dead_letter, record_delivered
from index.catalog.webhooks import create_webhook
from index.retention import prune_delivery_and_jobs

POLICY = HousekeepingPolicy(outbox_replay_s=3600.0, dead_letter_days=7, finished_job_days=30)
ALLOW = ("127.0.0.1",)


def _age(session: Session, row: Any, column: str, ids: list[Any], days: float) -> None:
    at = utc_now() - timedelta(days=days)
    session.execute(update(row).where(row.id.in_(ids)).values({column: at}))


def _job(session: Session, kind: str, state: str) -> str:
    job_id = create_job(session, kind, {}, owner="u", runner_id="r")
    start_held_job(session, job_id, "r")
    if state != "running":
        finish_held_job(session, job_id, "r", state)
    return job_id


def test_outbox_kept_until_every_active_webhook_passed_it_and_the_window(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        fast, _ = create_webhook(session, "fast", "http://127.0.0.1:9/a", ALLOW)
        slow, _ = create_webhook(session, "slow", "http://127.0.0.1:9/b", ALLOW)
        off, _ = create_webhook(session, "off", "http://127.0.0.1:9/c", ALLOW)
        ids = [append_outbox(session, "violation.opened", {"n": n}) for n in range(6)]
        _age(session, OutboxRow, "created_at", ids[:5], days=1)  # ids[5]: inside the window
        record_delivered(session, fast.id, ids[5])
        record_delivered(session, slow.id, ids[3])
        dead_letter(session, slow.id, ids[1], "HTTP 500")  # pins ids[1] while it lives
        session.execute(update(WebhookRow).where(WebhookRow.id == off.id).values(active=False))
        session.commit()
    pruned = prune_delivery_and_jobs(sessions, POLICY, utc_now())
    assert (pruned.outbox, pruned.dead_letters) == (3, 0)  # ids 0, 2, 3
    with sessions() as session:
        left = session.scalars(select(OutboxRow.id).order_by(OutboxRow.id)).all()
        assert left == [ids[1], ids[4], ids[5]]
        entry = session.scalars(
            select(AuditRow).where(AuditRow.action == "retention_prune")
        ).one()
        assert entry.principal == "system:retention"
        session.execute(
            update(WebhookDeadLetterRow).values(dead_at=utc_now() - timedelta(days=8))
        )
        record_delivered(session, slow.id, ids[5])
        session.commit()
    again = prune_delivery_and_jobs(sessions, POLICY, utc_now())
    assert (again.outbox, again.dead_letters) == (2, 1)  # ids 1 and 4; ids 5 is too young
    with sessions() as session:
        assert session.scalars(select(OutboxRow.id)).all() == [ids[5]]
    nothing = prune_delivery_and_jobs(sessions, POLICY, utc_now())
    assert (nothing.outbox, nothing.dead_letters, nothing.jobs) == (0, 0, 0)
    with sessions() as session:  # an empty run writes no audit entry
        count = len(session.scalars(
            select(AuditRow).where(AuditRow.action == "retention_prune")
        ).all())  # fmt: skip
        assert count == 2


def test_a_waiting_retry_keeps_its_dead_letter(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        hook, _ = create_webhook(session, "cc", "http://127.0.0.1:9/a", ALLOW)
        outbox_id = append_outbox(session, "camera.offline", {"camera_id": "c"})
        dead_letter(session, hook.id, outbox_id, "timeout")
        session.execute(update(WebhookDeadLetterRow).values(
            dead_at=utc_now() - timedelta(days=9), retry_requested_at=utc_now()
        ))  # fmt: skip
        session.commit()
    assert prune_delivery_and_jobs(sessions, POLICY, utc_now()).dead_letters == 0


def test_old_finished_jobs_go_running_and_retention_jobs_stay(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        old_done = _job(session, "export", "succeeded")
        old_failed = _job(session, "search", "failed")
        old_running = _job(session, "reindex", "running")
        old_retention = _job(session, "retention", "succeeded")
        new_done = _job(session, "export", "succeeded")
        aged = [old_done, old_failed, old_running, old_retention]
        _age(session, JobRow, "updated_at", aged, days=31)
        session.commit()
    assert prune_delivery_and_jobs(sessions, POLICY, utc_now()).jobs == 2
    with sessions() as session:
        left = set(session.scalars(select(JobRow.id)).all())
        assert left == {old_running, old_retention, new_done}
