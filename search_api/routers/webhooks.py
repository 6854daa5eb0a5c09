"""Webhook subscriber endpoints (admins only): CRUD, dead letters and their retry.

A subscriber's URL must be http(s) with a host in `SKYNET_WEBHOOK_ALLOW` (422 naming `url`
otherwise): the server posts wherever an admin points it, so the allow-list is what keeps it
off internal services. The signing secret is returned once, by the POST that creates it or
the POST that rotates it; a rotation's overlap keeps the replaced secret signing beside the new
one for a while (search_api/webhook_dispatcher.py: the signature header format).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Response, status
from pydantic import BaseModel, Field

from index.catalog import append_audit
from index.catalog.webhook_deliveries import DeadLetter, dead_letters, request_retry
from index.catalog.webhooks import (
    DEFAULT_SECRET_OVERLAP,
    MAX_SECRET_OVERLAP,
    UNCHANGED,
    Webhook,
    create_webhook,
    delete_webhook,
    get_webhook,
    list_webhooks,
    rotate_webhook_secret,
    update_webhook,
)
from search_api.access import WEBHOOKS_ADMIN
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import InvalidInput
from search_api.openapi import AUTH_RESPONSES, MAX_CATALOG_ID

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=AUTH_RESPONSES)
# What a subscriber receives, for the OpenAPI document's `webhooks` (the app never serves it).
deliveries = APIRouter(tags=["webhooks"])
WebhookId = Annotated[int, Path(ge=1, le=MAX_CATALOG_ID)]
TopicPatterns = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(
    min_length=1, max_length=50,
    description='fnmatch patterns such as "violation.*" or "camera.offline"; null: every topic',
)]  # fmt: skip


class WebhookIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(
        min_length=1, max_length=2000, examples=["https://hooks.city.example/skynet"],
        description="http(s) only, host in the SKYNET_WEBHOOK_ALLOW allow-list",
    )  # fmt: skip
    topics: TopicPatterns | None = None


class WebhookPatch(BaseModel):
    """Fields to change; `topics: null` means every topic, an absent field stays as it is."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    topics: TopicPatterns | None = None
    active: bool | None = None


class WebhookOut(BaseModel):
    id: int
    name: str
    url: str
    topics: list[str] | None
    active: bool
    created_at: datetime
    previous_secret_until: datetime | None = Field(
        default=None,
        description="after a rotation, the replaced secret signs deliveries too until then",
    )

    @classmethod
    def of(cls, hook: Webhook) -> WebhookOut:
        topics = None if hook.topics is None else list(hook.topics)
        return cls(
            id=hook.id, name=hook.name, url=hook.url, topics=topics, active=hook.active,
            created_at=hook.created_at, previous_secret_until=hook.previous_secret_until,
        )  # fmt: skip


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="signs every delivery (X-Skynet-Signature): shown once, never again"
    )


class RotateIn(BaseModel):
    overlap_s: int = Field(
        default=int(DEFAULT_SECRET_OVERLAP.total_seconds()),
        ge=0,
        le=int(MAX_SECRET_OVERLAP.total_seconds()),
        description="seconds the replaced secret keeps signing beside the new one (each"
        " delivery then carries both signatures); 0: the new secret only, at once",
    )


class DeadLetterOut(BaseModel):
    id: int
    outbox_id: int = Field(description="the event's id (X-Skynet-Event-Id)")
    topic: str
    at: datetime
    data: dict[str, Any]
    attempts: int
    last_error: str
    dead_at: datetime
    retry_requested_at: datetime | None

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        message = letter.message
        return cls(
            id=letter.id, outbox_id=message.id, topic=message.topic, at=message.at,
            data=message.data, attempts=letter.attempts, last_error=letter.last_error,
            dead_at=letter.dead_at, retry_requested_at=letter.retry_requested_at,
        )  # fmt: skip


def _audit(session: SessionDep, principal: PrincipalDep, action: str, webhook_id: int) -> None:
    append_audit(
        session, principal=principal.name, role=principal.role, action=action,
        target=f"webhook:{webhook_id}",
    )  # fmt: skip


@router.get(
    "",
    response_model=list[WebhookOut],
    summary="Webhook subscribers (no secrets)",
    dependencies=[requires(WEBHOOKS_ADMIN)],
)
def read_webhooks(principal: PrincipalDep, session: SessionDep) -> list[WebhookOut]:
    return [WebhookOut.of(hook) for hook in list_webhooks(session)]


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Add a subscriber (its secret is shown once)",
    dependencies=[requires(WEBHOOKS_ADMIN)],
)
def add_webhook(
    body: WebhookIn, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> WebhookCreated:
    """422 naming `url` when it is not http(s) or its host is outside the allow-list. The
    subscriber receives the events published from now on."""
    try:
        hook, secret = create_webhook(
            session, body.name, body.url, context.webhook_url_allow, body.topics
        )
    except ValueError as error:
        raise InvalidInput(str(error)) from error
    _audit(session, principal, "webhook_create", hook.id)
    session.commit()
    return WebhookCreated(secret=secret, **WebhookOut.of(hook).model_dump())


@router.get(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="One subscriber (no secret)",
    dependencies=[requires(WEBHOOKS_ADMIN)],
)
def read_webhook(webhook_id: WebhookId, principal: PrincipalDep, session: SessionDep) -> WebhookOut:
    return WebhookOut.of(get_webhook(session, webhook_id))


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Change a subscriber",
    dependencies=[requires(WEBHOOKS_ADMIN)],
)
def change_webhook(
    webhook_id: WebhookId,
    body: WebhookPatch,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
) -> WebhookOut:
    """A new URL is checked like a new subscriber's; deliveries go on from where they were."""
    topics = body.topics if "topics" in body.model_fields_set else UNCHANGED
    try:
        hook = update_webhook(
            session, webhook_id, context.webhook_url_allow, name=body.name, url=body.url,
            topics=topics, active=body.active,
        )  # fmt: skip
    except ValueError as error:
        raise InvalidInput(str(error)) from error
    _audit(session, principal, "webhook_update", webhook_id)
    session.commit()
    return WebhookOut.of(hook)


@router.post(
    "/{webhook_id}/secret",
    response_model=WebhookCreated,
    summary="Rotate a subscriber's signing secret (the new one is shown once)",
    dependencies=[requires(WEBHOOKS_ADMIN)],
)
def rotate_secret(
    webhook_id: WebhookId,
    principal: PrincipalDep,
    session: SessionDep,
    body: Annotated[RotateIn | None, Body()] = None,
) -> WebhookCreated:
    """Deliveries signed from now on carry the new secret's signature and, during the overlap
    (`overlap_s`, 24 h unless given; `previous_secret_until` in the reply), the replaced
    secret's too, so the receiver can switch at any moment of it. Overlap 0: the new secret
    only, at once (a delivery the receiver refuses is retried, then dead-lettered)."""
    overlap_s = (body or RotateIn()).overlap_s
    hook, secret = rotate_webhook_secret(
        session, webhook_id, datetime.now(UTC), timedelta(seconds=overlap_s)
    )
    append_audit(
        session, principal=principal.name, role=principal.role, action="webhook_rotate_secret",
        target=f"webhook:{webhook_id}", filters={"overlap_s": overlap_s},
    )  # fmt: skip
    session.commit()
    return WebhookCreated(secret=secret, **WebhookOut.of(hook).model_dump())


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a subscriber",
    dependencies=[requires(WEBHOOKS_ADMIN)],
)
def remove_webhook(webhook_id: WebhookId, principal: PrincipalDep, session: SessionDep) -> Response:
    delete_webhook(session, webhook_id)
    _audit(session, principal, "webhook_delete", webhook_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/dead-letters",
    response_model=list[DeadLetterOut],
    summary="Events the subscriber did not accept after every attempt",
    dependencies=[requires(WEBHOOKS_ADMIN)],
)
def read_dead_letters(
    webhook_id: WebhookId,
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterOut]:
    return [DeadLetterOut.of(letter) for letter in dead_letters(session, webhook_id, limit)]


@router.post(
    "/{webhook_id}/dead-letters/{dead_letter_id}/retry",
    response_model=DeadLetterOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a dead letter again",
    dependencies=[requires(WEBHOOKS_ADMIN)],
)
def retry_dead_letter(
    webhook_id: WebhookId,
    dead_letter_id: Annotated[int, Path(ge=1, le=MAX_CATALOG_ID)],
    principal: PrincipalDep,
    session: SessionDep,
) -> DeadLetterOut:
    """The dispatcher sends it once more soon (never in this request: a hung receiver must
    not hold the API); it leaves the list when the subscriber answers 2xx."""
    letter = request_retry(session, webhook_id, dead_letter_id)
    _audit(session, principal, "webhook_retry", webhook_id)
    session.commit()
    return DeadLetterOut.of(letter)


class EventMessage(BaseModel):
    """One published event: the body of a webhook POST and the `data:` of an event-stream
    message (search_api/webhook_dispatcher.py: event_body)."""

    id: int = Field(description="only grows; X-Skynet-Event-Id and the event stream's `id:`")
    topic: str = Field(examples=["violation.opened"], description="e.g. camera.offline")
    at: datetime = Field(description="when it was published")
    data: dict[str, Any] = Field(description="what changed, e.g. the event as GET /events/{id}")


@deliveries.post(
    "skynet-event",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="skynet_event",
    response_description="accepted (any 2xx; anything else is retried)",
    summary="What a subscriber receives: one signed POST per event, in id order, at least once",
)
def skynet_event(
    body: EventMessage,
    event_id: Annotated[
        int,
        Header(
            alias="X-Skynet-Event-Id",
            description="the body's `id`: dedupe on it",
        ),
    ],
    topic: Annotated[str, Header(alias="X-Skynet-Topic", description="the body's `topic`")],
    timestamp: Annotated[
        int,
        Header(
            alias="X-Skynet-Timestamp",
            description="unix seconds when signed: refuse old ones",
        ),
    ],
    signature: Annotated[
        str,
        Header(
            alias="X-Skynet-Signature",
            description='`sha256=` + hex HMAC-SHA256(secret, timestamp + "." + raw body); during'
            ' a secret rotation\'s overlap two such values separated by ", ", the new one first',
        ),
    ],
) -> None:
    """Verify on the raw body bytes before parsing: accept when any listed signature matches
    the secret (constant-time compare) and the timestamp is recent. Answer 2xx within
    SKYNET_WEBHOOK_TIMEOUT_S (5 s); anything else is retried with backoff, later events wait
    behind it, and after SKYNET_WEBHOOK_MAX_ATTEMPTS (8) it goes to the dead letters."""
