"""Pushes the catalog's outbox to the webhook subscribers: signed POSTs, in order, at least once.

Why here: webhooks are the API's outward half (the command center's channel, beside the SSE
stream in routers/event_stream.py); the application shell only starts and stops it.

Each active subscriber has a thread of its own, so a receiver that hangs costs only its own
deliveries: never ingest, the API or the other subscribers. A POST is bounded by
`DeliveryPolicy.timeout_s` (connect, and each read/write); redirects are not followed (they
could lead past the allow-list). Per subscriber the rows go one at a time in outbox order; the
cursor moves past a row only after a 2xx (catalog: webhook_deliveries.record_delivered), so a
crash resends at most the row in flight. A failed row is retried with exponential backoff and
jitter; after `max_attempts` it goes to the subscriber's dead-letter list and later rows flow on.

Signature: `X-Skynet-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>` with
`X-Skynet-Timestamp` (unix seconds) — the Stripe-style scheme, so a receiver can refuse replays
of old bodies; `X-Skynet-Event-Id` is the outbox id to dedupe on. While a rotated secret's
overlap lasts the header lists two values separated by ", ", the new secret's first:
`sha256=<hex under the new secret>, sha256=<hex under the replaced one>`; a receiver accepts
the delivery when any listed value matches the secret it holds (`signature_valid`), so it may
switch secrets at any moment of the overlap. After it, one value again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from index.catalog import SessionFactory
from index.catalog.webhook_deliveries import (
    OutboxMessage,
    dead_letter,
    outbox_after,
    record_delivered,
    record_failure,
    retries_requested,
    retry_delivered,
    retry_failed,
)
from index.catalog.webhooks import (
    WebhookTarget,
    delivery_target,
    delivery_targets,
    webhook_url_refusal,
)

log = logging.getLogger(__name__)

BATCH_ROWS = 20  # rows read per look; the subscriber's settings are re-read between batches
USER_AGENT = "skynet-webhooks/1"


@dataclass(frozen=True)
class DeliveryPolicy:
    """How webhooks are delivered (Settings.webhook_*)."""

    allow: tuple[str, ...] = ()
    timeout_s: float = 5.0
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0
    jitter: float = 0.5
    poll_s: float = 0.5

    def backoff_s(self, failures: int, uniform: float) -> float:
        """The wait after the `failures`-th failure in a row; `uniform` in [0, 1) draws the
        jitter (a share of the wait, so receivers coming back are not hit all at once)."""
        exponent = min(max(failures - 1, 0), 60)
        wait = min(self.backoff_max_s, self.backoff_base_s * 2.0**exponent)
        return wait * (1.0 - self.jitter * uniform)


def event_body(message: OutboxMessage) -> bytes:
    """The JSON body of a webhook POST and of an SSE `data:` line: {id, topic, at, data}."""
    document = {
        "id": message.id,
        "topic": message.topic,
        "at": message.at.isoformat(),
        "data": message.data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 of `timestamp + "." + body` under the subscriber's secret."""
    message = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: str, body: bytes) -> str:
    """The X-Skynet-Signature value: one signature per secret, in the given order, joined by
    ", " (two during a rotation's overlap, the new secret first)."""
    return ", ".join(webhook_signature(secret, timestamp, body) for secret in secrets)


def signature_valid(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now_unix_s: float | None = None,
    tolerance_s: float = 300.0,
) -> bool:
    """What a receiver checks: one of the signatures listed in the header (`signature`, values
    separated by commas) matches its secret (constant time), and the timestamp is within
    `tolerance_s` of now (an old body replayed is refused)."""
    try:
        age_s = abs((time.time() if now_unix_s is None else now_unix_s) - int(timestamp))
    except ValueError:
        return False
    expected = webhook_signature(secret, timestamp, body).encode()
    matches = [
        hmac.compare_digest(expected, value.strip().encode("utf-8", "replace"))
        for value in signature.split(",")
    ]
    return age_s <= tolerance_s and any(matches)


def signed_headers(
    secrets: Sequence[str], message: OutboxMessage, body: bytes, now_unix_s: float
) -> dict[str, str]:
    timestamp = str(int(now_unix_s))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Skynet-Event-Id": str(message.id),
        "X-Skynet-Topic": message.topic,
        "X-Skynet-Timestamp": timestamp,
        "X-Skynet-Signature": signature_header(secrets, timestamp, body),
    }


class WebhookDispatcher:
    """Starts a delivery thread per active subscriber and stops those of removed or
    deactivated ones (looked up every `poll_s`)."""

    def __init__(
        self,
        sessions: SessionFactory,
        policy: DeliveryPolicy,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._uniform = uniform
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._workers: dict[int, _SubscriberWorker] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop every delivery thread; a POST in flight gets its timeout to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._policy.poll_s + 5)
        for worker in list(self._workers.values()):
            worker.stop()
        for worker in list(self._workers.values()):
            worker.join(self._policy.timeout_s * 2 + 1)
        self._workers.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._reconcile()
            except Exception:  # the catalog may be briefly unavailable: try again next poll
                log.exception("webhook dispatcher could not read the subscribers")
            self._stop.wait(self._policy.poll_s)

    def _reconcile(self) -> None:
        with self._sessions() as session:
            wanted = {target.webhook.id for target in delivery_targets(session)}
        for webhook_id, worker in list(self._workers.items()):
            if webhook_id not in wanted or not worker.is_alive():
                worker.stop()
                del self._workers[webhook_id]
        for webhook_id in wanted - self._workers.keys():
            worker = _SubscriberWorker(webhook_id, self._sessions, self._policy, self._uniform)
            self._workers[webhook_id] = worker
            worker.start()


class _SubscriberWorker(threading.Thread):
    """Delivers one subscriber's rows in order until it is stopped, deleted or deactivated."""

    def __init__(
        self,
        webhook_id: int,
        sessions: SessionFactory,
        policy: DeliveryPolicy,
        uniform: Callable[[], float],
    ) -> None:
        super().__init__(name=f"webhook-{webhook_id}", daemon=True)
        self._webhook_id = webhook_id
        self._sessions = sessions
        self._policy = policy
        self._uniform = uniform
        self._halt = threading.Event()
        timeout = httpx.Timeout(policy.timeout_s)
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                try:
                    wait_s = self._deliver_some()
                except Exception:  # keep delivering after a catalog hiccup
                    log.exception("webhook %s delivery failed", self._webhook_id)
                    wait_s = self._policy.poll_s
                if wait_s is None:
                    return
                if wait_s > 0:
                    self._halt.wait(wait_s)
        finally:
            self._client.close()

    def _post(self, target: WebhookTarget, message: OutboxMessage) -> str | None:
        """POST one row; None on 2xx, else what went wrong."""
        refusal = webhook_url_refusal(target.webhook.url, self._policy.allow)
        if refusal is not None:
            return f"not sent: {refusal}"
        body = event_body(message)
        now_unix_s = time.time()
        secrets = target.signing_secrets(datetime.fromtimestamp(now_unix_s, UTC))
        headers = signed_headers(secrets, message, body, now_unix_s)
        try:
            with self._client.stream(
                "POST", target.webhook.url, content=body, headers=headers
            ) as response:
                if 200 <= response.status_code < 300:
                    return None
                return f"HTTP {response.status_code}"
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"[:300]

    def _deliver_some(self) -> float | None:
        """One round: requested retries, then a batch of rows. Returns how long to wait before
        the next round (None: the subscriber is gone, the thread ends)."""
        with self._sessions() as session:
            target = delivery_target(session, self._webhook_id)
            retries = [] if target is None else retries_requested(session, self._webhook_id)
        if target is None:
            return None
        for letter in retries:
            error = self._post(target, letter.message)
            with self._sessions.begin() as session:
                if error is None:
                    retry_delivered(session, letter.id)
                else:
                    retry_failed(session, letter.id, error)
        now = datetime.now(UTC)
        if target.next_attempt_at is not None and target.next_attempt_at > now:
            remaining_s = (target.next_attempt_at - now).total_seconds()
            return min(remaining_s, self._policy.poll_s)
        with self._sessions() as session:
            messages = outbox_after(session, target.delivered_through_id, BATCH_ROWS)
        if not messages:
            return self._policy.poll_s
        skipped_through, attempts = 0, target.attempts
        for message in messages:
            if self._halt.is_set():
                break
            if not target.webhook.wants(message.topic):
                skipped_through = message.id
                continue
            error = self._post(target, message)
            with self._sessions.begin() as session:
                if error is None:
                    record_delivered(session, self._webhook_id, message.id)
                    skipped_through, attempts = 0, 0
                    continue
                if skipped_through:  # rows filtered out before this one are done
                    record_delivered(session, self._webhook_id, skipped_through)
                if attempts + 1 >= self._policy.max_attempts:
                    log.warning("webhook %s: row %s dead-lettered: %s", self._webhook_id,
                                message.id, error)  # fmt: skip
                    dead_letter(session, self._webhook_id, message.id, error)
                    return 0.0
                wait_s = self._policy.backoff_s(attempts + 1, self._uniform())
                record_failure(
                    session, self._webhook_id, error, datetime.now(UTC) + timedelta(seconds=wait_s)
                )
            return min(wait_s, self._policy.poll_s)
        if skipped_through:
            with self._sessions.begin() as session:
                record_delivered(session, self._webhook_id, skipped_through)
        return 0.0
