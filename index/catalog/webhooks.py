"""Catalog repository for webhook subscribers: create, list, change, delete, and the URL check
that keeps subscribers inside the admin's allow-list (server-side request forgery).

A subscriber's secret is generated here and returned once by `create_webhook`; the listing
values (`Webhook`) never carry it, only the dispatcher's `WebhookTarget` does.
A new subscriber starts after the outbox's newest row: it receives what happens from then on.
A rotated secret may overlap: the replaced one keeps signing (beside the new one) until the
overlap ends, so a receiver switching secrets mid-rollout refuses nothing.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from index.catalog.rows import OutboxRow, WebhookCursorRow, WebhookRow

WEBHOOK_SECRET_PREFIX = "whsec_"
MAX_TOPIC_PATTERNS = 50
DEFAULT_SECRET_OVERLAP = timedelta(hours=24)
MAX_SECRET_OVERLAP = timedelta(days=7)


class Unchanged:
    """The type of UNCHANGED: "leave this field as it is" where None is a value of its own."""


UNCHANGED = Unchanged()


class UnknownWebhookError(LookupError):
    """No webhook subscriber has this id."""


class WebhookUrlRefusedError(ValueError):
    """The URL is not http(s) or its host is outside the allow-list (message names `url`)."""


@dataclass(frozen=True)
class Webhook:
    """A subscriber as the API lists it (never its secret)."""

    id: int
    name: str
    url: str
    topics: tuple[str, ...] | None  # fnmatch patterns; None: every topic
    active: bool
    created_at: datetime
    previous_secret_until: datetime | None = None  # the replaced secret signs too until then

    def wants(self, topic: str) -> bool:
        return self.topics is None or any(fnmatch.fnmatchcase(topic, p) for p in self.topics)


@dataclass(frozen=True)
class WebhookTarget:
    """What the dispatcher needs to deliver to one subscriber: where, how to sign, and how far
    it got (every outbox id ≤ `delivered_through_id` is done)."""

    webhook: Webhook
    secret: str = field(repr=False)
    delivered_through_id: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    previous_secret: str | None = field(default=None, repr=False)

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets a delivery made at `now` is signed with: the current one first, then
        the replaced one while the rotation's overlap lasts."""
        until = self.webhook.previous_secret_until
        if self.previous_secret is None or until is None or until <= now:
            return (self.secret,)
        return (self.secret, self.previous_secret)


def _host_allowed(host: str, port: int | None, entry: str) -> bool:
    """One allow-list entry: a host name (`hooks.example.com`), a wildcard domain
    (`*.example.com`: its subdomains), an IP address or network (`10.20.0.0/16`, matching
    IP-literal hosts only), each optionally with `:port`."""
    entry = entry.strip().lower()
    entry_port: int | None = None
    if entry.count(":") == 1 or entry.startswith("["):  # host:port or [v6]:port
        head, _, tail = entry.rpartition(":")
        if tail.isdigit():
            entry, entry_port = head.strip("[]"), int(tail)
    if entry_port is not None and entry_port != port:
        return False
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        network = None
    if network is not None:
        try:
            return ipaddress.ip_address(host) in network
        except ValueError:
            return False
    if entry.startswith("*."):
        return host.endswith(entry[1:]) and host != entry[2:]
    return bool(entry) and host == entry


def webhook_url_refusal(url: str, allow: Sequence[str]) -> str | None:
    """Why `url` may not be a webhook target (None: it may): only http(s) URLs whose host an
    `allow` entry admits (Settings.webhook_allow; an empty list admits nothing). Hosts compare
    exactly, so `example.com` does not admit `example.com.evil.net`; no user info is taken."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError as error:
        return f"url: {error}"
    if parts.scheme.lower() not in ("http", "https") or not host:
        return "url: must be an http:// or https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return "url: must not carry user info (the signature authenticates the sender)"
    if not any(_host_allowed(host, port, entry) for entry in allow if entry.strip()):
        return (
            f"url: host {host!r} is not in the webhook allow-list (SKYNET_WEBHOOK_ALLOW"
            f"{' is empty' if not any(e.strip() for e in allow) else ''})"
        )
    return None


def check_topics(topics: Sequence[str] | None) -> tuple[str, ...] | None:
    """The topic patterns, stripped; ValueError naming `topics` when one is blank or too many."""
    if topics is None:
        return None
    cleaned = tuple(t.strip() for t in topics)
    if not cleaned or any(not t or len(t) > 64 for t in cleaned):
        raise ValueError("topics: each pattern must be 1-64 characters; omit topics for all")
    if len(cleaned) > MAX_TOPIC_PATTERNS:
        raise ValueError(f"topics: at most {MAX_TOPIC_PATTERNS} patterns")
    return cleaned


def _check_name(name: str) -> str:
    stripped = name.strip() if isinstance(name, str) else ""
    if not stripped or len(stripped) > 200:
        raise ValueError("name: must be 1-200 characters")
    return stripped


def _webhook(row: WebhookRow) -> Webhook:
    topics = None if row.topics is None else tuple(row.topics)
    return Webhook(
        row.id, row.name, row.url, topics, row.active, row.created_at, row.previous_secret_until
    )


def latest_outbox_id(session: Session) -> int:
    """The newest outbox row's id (0 for an empty outbox)."""
    return int(session.scalar(select(func.max(OutboxRow.id))) or 0)


def create_webhook(
    session: Session,
    name: str,
    url: str,
    allow: Sequence[str],
    topics: Sequence[str] | None = None,
) -> tuple[Webhook, str]:
    """Add a subscriber and return it with its secret (shown once). It receives the outbox
    rows written after this call. WebhookUrlRefusedError / ValueError name the field."""
    refusal = webhook_url_refusal(url, allow)
    if refusal is not None:
        raise WebhookUrlRefusedError(refusal)
    patterns = check_topics(topics)
    row = WebhookRow(
        name=_check_name(name), url=url, topics=None if patterns is None else list(patterns),
        secret=WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32), active=True,
    )  # fmt: skip
    session.add(row)
    session.flush()
    session.add(WebhookCursorRow(webhook_id=row.id, delivered_through_id=latest_outbox_id(session)))
    session.flush()
    return _webhook(row), row.secret


def _row(session: Session, webhook_id: int) -> WebhookRow:
    row = session.get(WebhookRow, webhook_id)
    if row is None:
        raise UnknownWebhookError(f"webhook {webhook_id} not found")
    return row


def get_webhook(session: Session, webhook_id: int) -> Webhook:
    """The subscriber; UnknownWebhookError when there is none."""
    return _webhook(_row(session, webhook_id))


def list_webhooks(session: Session) -> list[Webhook]:
    return [_webhook(r) for r in session.scalars(select(WebhookRow).order_by(WebhookRow.id))]


def update_webhook(
    session: Session,
    webhook_id: int,
    allow: Sequence[str],
    *,
    name: str | None = None,
    url: str | None = None,
    topics: Sequence[str] | Unchanged | None = UNCHANGED,
    active: bool | None = None,
) -> Webhook:
    """Change the given fields (None keeps a field, except `topics`: None there means every
    topic, UNCHANGED keeps it). A changed URL is checked against `allow` like a new one; the
    delivery cursor stays where it is."""
    row = _row(session, webhook_id)
    if url is not None:
        refusal = webhook_url_refusal(url, allow)
        if refusal is not None:
            raise WebhookUrlRefusedError(refusal)
        row.url = url
    if name is not None:
        row.name = _check_name(name)
    if not isinstance(topics, Unchanged):
        patterns = check_topics(topics)
        row.topics = None if patterns is None else list(patterns)
    if active is not None:
        row.active = active
    session.flush()
    return _webhook(row)


def check_secret_overlap(overlap: timedelta) -> timedelta:
    """The overlap, or ValueError naming `overlap_s` when it is negative or over the bound."""
    if overlap < timedelta(0) or overlap > MAX_SECRET_OVERLAP:
        raise ValueError(
            f"overlap_s: must be 0 (switch at once) to {MAX_SECRET_OVERLAP.total_seconds():.0f}"
            " seconds"
        )
    return overlap


def rotate_webhook_secret(
    session: Session,
    webhook_id: int,
    now: datetime,
    overlap: timedelta = DEFAULT_SECRET_OVERLAP,
) -> tuple[Webhook, str]:
    """Give the subscriber a new secret and return it (shown once). Deliveries signed after
    this commits carry it and, until `now + overlap`, the replaced secret's signature too
    (overlap 0: the new one only, at once). A rotation within an overlap replaces the secret
    that was current, so at most two secrets sign. UnknownWebhookError when there is none;
    ValueError naming `overlap_s` for an overlap out of bounds."""
    check_secret_overlap(overlap)
    row = _row(session, webhook_id)
    if overlap > timedelta(0):
        row.previous_secret, row.previous_secret_until = row.secret, now + overlap
    else:
        row.previous_secret = row.previous_secret_until = None
    row.secret = WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)
    session.flush()
    return _webhook(row), row.secret


def delete_webhook(session: Session, webhook_id: int) -> None:
    """Remove the subscriber, its cursor and its dead letters."""
    session.delete(_row(session, webhook_id))
    session.flush()


def _targets(session: Session, *conditions: ColumnElement[bool]) -> list[WebhookTarget]:
    rows = session.execute(
        select(WebhookRow, WebhookCursorRow)
        .join(WebhookCursorRow, WebhookCursorRow.webhook_id == WebhookRow.id)
        .where(WebhookRow.active.is_(True), *conditions)
        .order_by(WebhookRow.id)
    ).all()
    return [
        WebhookTarget(
            _webhook(hook),
            hook.secret,
            cursor.delivered_through_id,
            cursor.attempts,
            cursor.next_attempt_at,
            cursor.last_error,
            hook.previous_secret,
        )
        for hook, cursor in rows
    ]


def delivery_targets(session: Session) -> list[WebhookTarget]:
    """Every active subscriber with its secret and delivery state (for the dispatcher)."""
    return _targets(session)


def delivery_target(session: Session, webhook_id: int) -> WebhookTarget | None:
    """One active subscriber's delivery state; None when it was deleted or deactivated."""
    found = _targets(session, WebhookRow.id == webhook_id)
    return found[0] if found else None
