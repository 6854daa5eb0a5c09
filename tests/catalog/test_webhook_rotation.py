"""Webhook secret rotation with an overlap (issue #13) on the catalog (SQLite and a real
PostgreSQL): which secrets sign a delivery before, during and after the overlap, a rotation
within an overlap, an overlap of 0 and one out of bounds; and the listed-signature header a
receiver verifies with either secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from index.catalog.webhooks import (
    MAX_SECRET_OVERLAP,
    create_webhook,
    delivery_target,
    get_webhook,
    rotate_webhook_secret,
)
from search_api.webhook_dispatcher import signature_header, signature_valid

ALLOW = ("hooks.example.com",)
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def _signing(sessions: sessionmaker[Session], webhook_id: int, at: datetime) -> tuple[str, ...]:
    with sessions() as session:
        target = delivery_target(session, webhook_id)
    assert target is not None
    return target.signing_secrets(at)


def test_the_replaced_secret_signs_beside_the_new_one_until_the_overlap_ends(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        hook, first = create_webhook(session, "cc", "https://hooks.example.com/x", ALLOW)
        session.commit()
    assert _signing(sessions, hook.id, NOW) == (first,)
    with sessions() as session:
        rotated, second = rotate_webhook_secret(session, hook.id, NOW, timedelta(hours=2))
        session.commit()
    assert second != first and rotated.previous_secret_until == NOW + timedelta(hours=2)
    assert _signing(sessions, hook.id, NOW + timedelta(hours=1)) == (second, first)
    assert _signing(sessions, hook.id, NOW + timedelta(hours=2)) == (second,)  # over
    with sessions() as session:  # again within the overlap: the oldest secret drops
        _, third = rotate_webhook_secret(session, hook.id, NOW + timedelta(hours=1))
        session.commit()
        assert get_webhook(session, hook.id).previous_secret_until == NOW + timedelta(hours=25)
    assert _signing(sessions, hook.id, NOW + timedelta(hours=2)) == (third, second)
    with sessions() as session:  # overlap 0: at once, the replaced secret signs nothing
        _, fourth = rotate_webhook_secret(session, hook.id, NOW, timedelta(0))
        session.commit()
        assert get_webhook(session, hook.id).previous_secret_until is None
    assert _signing(sessions, hook.id, NOW) == (fourth,)


def test_an_overlap_out_of_bounds_is_refused_and_changes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        hook, secret = create_webhook(session, "cc", "https://hooks.example.com/x", ALLOW)
        session.commit()
    for overlap in (timedelta(seconds=-1), MAX_SECRET_OVERLAP + timedelta(seconds=1)):
        with sessions() as session, pytest.raises(ValueError, match="overlap_s"):
            rotate_webhook_secret(session, hook.id, NOW, overlap)
    assert _signing(sessions, hook.id, NOW) == (secret,)


def test_a_listed_signature_header_verifies_with_either_secret_and_no_other() -> None:
    body, stamp = b'{"id":1}', str(int(NOW.timestamp()))
    header = signature_header(("whsec_new", "whsec_old"), stamp, body)
    new_value, old_value = header.split(", ")
    at = NOW.timestamp()
    assert signature_valid("whsec_new", stamp, body, header, now_unix_s=at)
    assert signature_valid("whsec_old", stamp, body, header, now_unix_s=at)
    assert not signature_valid("whsec_other", stamp, body, header, now_unix_s=at)
    assert signature_valid("whsec_new", stamp, body, new_value, now_unix_s=at)
    assert not signature_valid("whsec_new", stamp, body, old_value, now_unix_s=at)
    assert not signature_valid("whsec_old", stamp, b'{"id":2}', header, now_unix_s=at)
    assert not signature_valid("whsec_old", stamp, body, header, now_unix_s=at + 301)
