"""The events channel (issue #13) against a real HTTP receiver on 127.0.0.1 and a real API
server: signed in-order deliveries, a receiver down for a while, dead letters and their retry,
a hanging receiver beside a fast API, subscriber CRUD and its 422s, and SSE resume."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from index.catalog import create_api_key, upsert_camera
from index.catalog.values import CameraSpec
from index.catalog.webhooks import create_webhook, delivery_target
from search_api.app import API_PREFIX, create_app
from search_api.context import ApiContext
from search_api.event_stream import EventStreamPolicy
from search_api.webhook_dispatcher import DeliveryPolicy, WebhookDispatcher, signature_valid
from tests.api_support import empty_context
from tests.waiting import wait_for
from tests.webhook_support import Receiver, free_port, publish

pytestmark = pytest.mark.slow  # real servers and processes: not in the quick subset

ALLOW = ("127.0.0.1",)
FAST = DeliveryPolicy(
    allow=ALLOW, timeout_s=2.0, max_attempts=50, backoff_base_s=0.1, backoff_max_s=0.4,
    jitter=0.5, poll_s=0.1,
)  # fmt: skip


@dataclass
class LiveApi:
    base_url: str
    context: ApiContext
    keys: dict[str, str]

    def headers(self, key: str = "admin") -> dict[str, str]:
        return {"X-API-Key": self.keys[key]}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """A real API server (uvicorn on a thread) over a fresh catalog with two cameras."""
    root = tmp_path_factory.mktemp("webhooks")
    context = dataclasses.replace(
        empty_context(root), webhook_url_allow=ALLOW,
        event_stream=EventStreamPolicy(poll_s=0.1, heartbeat_s=0.5, max_s=2.0),
    )  # fmt: skip
    with context.sessions() as session:
        for camera in ("cam1", "cam2"):
            upsert_camera(session, CameraSpec(camera, camera, f"rtsp://10.0.0.5/{camera}"))
        keys = {
            "admin": create_api_key(session, "admin", "admin"),
            "viewer": create_api_key(session, "viewer", "viewer"),
            "cam1": create_api_key(session, "cam1-only", "viewer", ["cam1"]),
        }
        session.commit()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(context), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started, timeout_s=30)
    yield LiveApi(f"http://127.0.0.1:{port}{API_PREFIX}", context, keys)
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.release.set()
    receiver.stop()


@pytest.fixture
def dispatcher(live: LiveApi) -> Iterator[WebhookDispatcher]:
    dispatcher = WebhookDispatcher(live.context.sessions, FAST)
    dispatcher.start()
    yield dispatcher
    dispatcher.stop()


def subscribe(live: LiveApi, url: str, **fields: object) -> dict:
    reply = httpx.post(
        f"{live.base_url}/webhooks", json={"name": "cc", "url": url, **fields},
        headers=live.headers(),
    )  # fmt: skip
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def publish_committed(
    live: LiveApi, count: int, topic: str = "test.event", **data: object
) -> list[int]:
    with live.context.sessions.begin() as session:
        return publish(session, count, topic, **data)


def test_deliveries_are_signed_in_order_and_filtered_by_topic(
    live: LiveApi, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    hook = subscribe(live, receiver.url, topics=["test.*"])
    ids = publish_committed(live, 3) + publish_committed(live, 2, "other.thing")
    ids += publish_committed(live, 3, camera_id="cam1")
    wanted = ids[:3] + ids[5:]
    assert wait_for(lambda: len(receiver.ids()) >= 6, timeout_s=20), receiver.ids()
    time.sleep(0.5)
    assert receiver.ids() == wanted  # in order, once each, topics filtered
    for got in receiver.received:
        headers = got.headers
        assert signature_valid(
            hook["secret"], headers["x-skynet-timestamp"], got.body, headers["x-skynet-signature"]
        )
        assert not signature_valid(
            "whsec_wrong", headers["x-skynet-timestamp"], got.body, headers["x-skynet-signature"]
        )
        assert got.document["id"] == got.event_id and got.document["topic"] == "test.event"
        assert set(got.document) == {"id", "topic", "at", "data"}
        assert headers["content-type"] == "application/json"
    assert receiver.received[-1].document["data"] == {"n": 2, "camera_id": "cam1"}
    with live.context.sessions() as session:  # the filtered-out rows moved the cursor too
        target = delivery_target(session, hook["id"])
        assert target is not None and target.delivered_through_id == ids[-1]


def test_openapi_documents_what_a_subscriber_receives(
    live: LiveApi, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    """/openapi.json (read without a key, as /docs) describes the delivery a real receiver
    gets: every header it documents arrives, and the body has exactly its fields."""
    document = httpx.get(live.base_url.removesuffix(API_PREFIX) + "/openapi.json").json()
    delivery = document["webhooks"]["skynet-event"]["post"]
    headers = {p["name"].lower() for p in delivery["parameters"] if p["in"] == "header"}
    assert headers == {
        "x-skynet-event-id", "x-skynet-topic", "x-skynet-timestamp", "x-skynet-signature"
    }  # fmt: skip
    schema_ref = delivery["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body_schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    subscribe(live, receiver.url, topics=["openapi.check"])
    publish_committed(live, 1, "openapi.check")
    assert wait_for(lambda: len(receiver.ids()) >= 1, timeout_s=20)
    got = receiver.received[0]
    assert headers <= set(got.headers)
    assert set(got.document) == set(body_schema["properties"]) == set(body_schema["required"])


def test_a_receiver_down_for_a_while_gets_everything_in_order(
    live: LiveApi, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    hook = subscribe(live, receiver.url)
    receiver.stop()
    ids = publish_committed(live, 5)

    def failing() -> bool:
        with live.context.sessions() as session:
            target = delivery_target(session, hook["id"])
        return target is not None and target.attempts >= 3 and bool(target.last_error)

    assert wait_for(failing, timeout_s=20)
    receiver.start()  # back, on the same port
    ids += publish_committed(live, 2)
    assert wait_for(lambda: len(receiver.ids()) >= 7, timeout_s=20), receiver.ids()
    assert receiver.ids() == ids
    with live.context.sessions() as session:
        target = delivery_target(session, hook["id"])
    assert target is not None and target.attempts == 0 and target.last_error is None


def test_a_rotated_secret_signs_the_next_deliveries_and_the_old_one_none(
    live: LiveApi, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    hook = subscribe(live, receiver.url)
    before = publish_committed(live, 1)
    assert wait_for(lambda: receiver.ids() == before, timeout_s=20), receiver.ids()
    url = f"{live.base_url}/webhooks/{hook['id']}/secret"
    rotated = httpx.post(url, json={"overlap_s": 0}, headers=live.headers())  # at once
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["previous_secret_until"] is None
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != hook["secret"]
    shown = httpx.get(f"{live.base_url}/webhooks/{hook['id']}", headers=live.headers()).json()
    assert "secret" not in shown  # shown once, by the rotation only
    after = publish_committed(live, 2)
    assert wait_for(lambda: receiver.ids() == before + after, timeout_s=20), receiver.ids()
    for got in receiver.received:
        stamp, signature = got.headers["x-skynet-timestamp"], got.headers["x-skynet-signature"]
        old = got.event_id in before
        assert signature_valid(hook["secret"], stamp, got.body, signature) is old
        assert signature_valid(new_secret, stamp, got.body, signature) is not old
    viewer = httpx.post(url, headers=live.headers("viewer"))
    assert viewer.status_code == 403
    missing = httpx.post(f"{live.base_url}/webhooks/999999/secret", headers=live.headers())
    assert missing.status_code == 404


def test_during_a_rotations_overlap_either_secret_verifies_then_only_the_new_one(
    live: LiveApi, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    """A receiver mid-rollout: it holds the old secret while the overlap lasts, switches to the
    new one at some moment of it, and refuses (401) what its secret does not verify."""
    hook = subscribe(live, receiver.url)
    old_secret = hook["secret"]
    receiver.secrets = (old_secret,)
    url = f"{live.base_url}/webhooks/{hook['id']}/secret"
    for bad in (-1, 7 * 24 * 3600 + 1, "soon"):
        refused = httpx.post(url, json={"overlap_s": bad}, headers=live.headers())
        assert refused.status_code == 422 and "overlap_s" in refused.text, refused.text
    rotated = httpx.post(url, json={"overlap_s": 4}, headers=live.headers())
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    until = datetime.fromisoformat(rotated.json()["previous_secret_until"])
    shown = httpx.get(f"{live.base_url}/webhooks/{hook['id']}", headers=live.headers()).json()
    assert shown["previous_secret_until"] == rotated.json()["previous_secret_until"]
    during = publish_committed(live, 2)  # the receiver still holds the old secret only
    assert wait_for(lambda: receiver.ids() == during, timeout_s=20), receiver.ids()
    receiver.secrets = (new_secret,)  # it switches within the overlap
    during += publish_committed(live, 1)
    assert wait_for(lambda: receiver.ids() == during, timeout_s=20), receiver.ids()
    assert receiver.refused == []
    for got in receiver.received:  # both signatures, the new secret's first
        stamp, header = got.headers["x-skynet-timestamp"], got.headers["x-skynet-signature"]
        first, second = header.split(", ")
        assert signature_valid(new_secret, stamp, got.body, first)
        assert signature_valid(old_secret, stamp, got.body, second)
        assert not signature_valid(old_secret, stamp, got.body, first)
    remaining_s = (until - datetime.now(UTC)).total_seconds()
    time.sleep(max(0.0, remaining_s) + 0.3)  # the overlap is over
    after = publish_committed(live, 1)
    assert wait_for(lambda: receiver.ids() == during + after, timeout_s=20), receiver.ids()
    last = receiver.received[-1]
    stamp, header = last.headers["x-skynet-timestamp"], last.headers["x-skynet-signature"]
    assert "," not in header and signature_valid(new_secret, stamp, last.body, header)
    assert not signature_valid(old_secret, stamp, last.body, header)
    receiver.secrets = (old_secret,)  # a receiver still on the old secret now refuses
    late = publish_committed(live, 1)
    assert wait_for(lambda: late[0] in receiver.refused, timeout_s=20), receiver.refused
    receiver.secrets = (new_secret,)  # retried, and taken once it switches
    assert wait_for(lambda: receiver.ids() == during + after + late, timeout_s=20)


def test_dead_letters_are_listed_and_retried_through_the_api(
    live: LiveApi, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    hook = subscribe(live, receiver.url)
    with live.context.sessions.begin() as session:
        poisoned = publish(session, 1, "test.poison")[0]
    receiver.fail_ids.add(poisoned)
    later = publish_committed(live, 2)
    # FAST allows 50 attempts: a policy of 3 for this subscriber's dispatcher is faster
    dispatcher.stop()
    strict = WebhookDispatcher(live.context.sessions, dataclasses.replace(FAST, max_attempts=3))
    strict.start()
    try:
        assert wait_for(lambda: receiver.ids()[-2:] == later, timeout_s=20), receiver.ids()
        assert receiver.attempts.count(poisoned) == 3
        letters_url = f"{live.base_url}/webhooks/{hook['id']}/dead-letters"
        letters = httpx.get(letters_url, headers=live.headers()).json()
        assert [(d["outbox_id"], d["attempts"], d["last_error"]) for d in letters] == [
            (poisoned, 3, "HTTP 500")
        ]
        assert letters[0]["topic"] == "test.poison" and letters[0]["data"] == {"n": 0}
        receiver.fail_ids.clear()
        retry = httpx.post(f"{letters_url}/{letters[0]['id']}/retry", headers=live.headers())
        assert retry.status_code == 202 and retry.json()["retry_requested_at"] is not None
        assert wait_for(lambda: poisoned in receiver.ids(), timeout_s=20)
        assert wait_for(
            lambda: httpx.get(letters_url, headers=live.headers()).json() == [], timeout_s=10
        )
        missing = httpx.post(f"{letters_url}/999999/retry", headers=live.headers())
        assert missing.status_code == 404
    finally:
        strict.stop()


def test_a_hanging_receiver_slows_neither_the_api_nor_other_subscribers(
    live: LiveApi, receiver: Receiver, dispatcher: WebhookDispatcher
) -> None:
    healthy = Receiver().start()
    try:
        subscribe(live, receiver.url)
        subscribe(live, healthy.url)
        receiver.mode = "hang"
        ids = publish_committed(live, 3)
        assert wait_for(lambda: receiver.attempts, timeout_s=10)  # a POST is now held open
        started = time.monotonic()
        for _ in range(10):
            reply = httpx.get(f"{live.base_url}/webhooks", headers=live.headers())
            assert reply.status_code == 200
        per_request_s = (time.monotonic() - started) / 10
        assert per_request_s < 0.25, per_request_s
        assert wait_for(lambda: healthy.ids() == ids, timeout_s=10), healthy.ids()
    finally:
        healthy.stop()


def test_subscriber_crud_refuses_forged_targets_and_shows_the_secret_once(
    live: LiveApi,
) -> None:
    url = f"{live.base_url}/webhooks"
    refused = {
        "ftp://127.0.0.1/x": "http:// or https://",
        "file:///etc/passwd": "http:// or https://",
        "http://169.254.169.254/latest/meta-data": "not in the webhook allow-list",
        "http://127.0.0.1.evil.example/": "not in the webhook allow-list",
        "http://user:pw@127.0.0.1/": "user info",
    }
    for bad, reason in refused.items():
        reply = httpx.post(url, json={"name": "x", "url": bad}, headers=live.headers())
        assert reply.status_code == 422, (bad, reply.text)
        assert reply.json()["detail"].startswith("url:") and reason in reply.json()["detail"]
    viewer = httpx.post(
        url, json={"name": "x", "url": "http://127.0.0.1/"}, headers=live.headers("viewer")
    )
    assert viewer.status_code == 403
    assert httpx.get(url, headers=live.headers("viewer")).status_code == 403
    assert httpx.get(url).status_code == 401

    created = subscribe(live, "http://127.0.0.1:9/hook", topics=["camera.*"])
    assert created["secret"].startswith("whsec_")
    one = httpx.get(f"{url}/{created['id']}", headers=live.headers()).json()
    assert "secret" not in one and one["topics"] == ["camera.*"]
    assert all("secret" not in hook for hook in httpx.get(url, headers=live.headers()).json())
    patched = httpx.patch(
        f"{url}/{created['id']}", json={"topics": None, "active": False}, headers=live.headers()
    ).json()
    assert patched["topics"] is None and patched["active"] is False
    bad_patch = httpx.patch(
        f"{url}/{created['id']}", json={"url": "gopher://127.0.0.1/"}, headers=live.headers()
    )
    assert bad_patch.status_code == 422 and bad_patch.json()["detail"].startswith("url:")
    assert httpx.delete(f"{url}/{created['id']}", headers=live.headers()).status_code == 204
    assert httpx.get(f"{url}/{created['id']}", headers=live.headers()).status_code == 404


def read_stream(live: LiveApi, key: str, **headers: str) -> tuple[list[int], list[str]]:
    """The ids and raw lines of one stream (it ends after the policy's max_s)."""
    ids, lines = [], []
    with httpx.stream(
        "GET", f"{live.base_url}/event-stream", headers={**live.headers(key), **headers},
        timeout=10,
    ) as reply:  # fmt: skip
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        for line in reply.iter_lines():
            lines.append(line)
            if line.startswith("id: "):
                ids.append(int(line.removeprefix("id: ")))
    return ids, lines


def test_sse_resumes_after_last_event_id_and_keeps_to_the_key_cameras(live: LiveApi) -> None:
    first = publish_committed(live, 2, camera_id="cam1")
    later = publish_committed(live, 2, camera_id="cam2") + publish_committed(
        live, 2, camera_id="cam1"
    )
    ids, lines = read_stream(live, "viewer", **{"Last-Event-ID": str(first[-1])})
    assert ids == later
    assert ": keep-alive" in lines and "retry: 2000" in lines
    assert any(line.startswith("event: test.event") for line in lines)
    data = [line for line in lines if line.startswith("data: ")]
    assert '"camera_id":"cam2"' in data[0] and f'"id":{later[0]}' in data[0]

    scoped, _ = read_stream(live, "cam1", **{"Last-Event-ID": str(first[0] - 1)})
    assert scoped == [first[0], first[1], later[2], later[3]]

    fresh: list[int] = []
    reader = threading.Thread(target=lambda: fresh.extend(read_stream(live, "admin")[0]))
    reader.start()
    time.sleep(0.8)  # the stream has started after the newest row
    newest = publish_committed(live, 1, camera_id="cam2")
    reader.join(10)
    assert fresh == newest

    bad = httpx.get(
        f"{live.base_url}/event-stream", headers={**live.headers(), "Last-Event-ID": "abc"}
    )
    assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["detail"]
    assert httpx.get(f"{live.base_url}/event-stream").status_code == 401


def test_a_last_event_id_ahead_of_the_outbox_misses_nothing_published_later(
    live: LiveApi,
) -> None:
    """An id this outbox never handed out (README's example 41 on a young catalog, an id from
    another site) resumes after the newest row: the next event arrives, none is skipped."""
    newest = publish_committed(live, 1)[-1]
    later = threading.Timer(0.5, publish_committed, (live, 1))
    later.start()
    ids, lines = read_stream(live, "viewer", **{"Last-Event-ID": str(newest + 1000)})
    later.join()
    assert f": stream after {newest}" in lines
    assert ids == [newest + 1]


def test_backoff_doubles_up_to_its_cap_with_jitter_below() -> None:
    policy = DeliveryPolicy(backoff_base_s=2.0, backoff_max_s=60.0, jitter=0.5)
    assert [policy.backoff_s(n, 0.0) for n in range(1, 7)] == [2, 4, 8, 16, 32, 60]
    assert policy.backoff_s(3, 0.999) == pytest.approx(8 * 0.5005)
    assert policy.backoff_s(1000, 0.0) == 60.0


def test_allow_list_entries(tmp_path: Path) -> None:
    from index.catalog.webhooks import webhook_url_refusal

    allow = ("hooks.city.example", "*.cc.example", "10.20.0.0/16", "127.0.0.1:8443")
    admitted = [
        "https://hooks.city.example/x", "https://a.cc.example/", "http://10.20.3.4:9000/",
        "http://127.0.0.1:8443/",
    ]  # fmt: skip
    refused = [
        "https://hooks.city.example.evil.net/", "https://cc.example/", "http://10.21.0.1/",
        "http://127.0.0.1:8444/", "http://127.0.0.1/",
    ]  # fmt: skip
    assert [webhook_url_refusal(u, allow) for u in admitted] == [None] * len(admitted)
    assert all(webhook_url_refusal(u, allow) for u in refused)
    assert "is empty" in str(webhook_url_refusal("https://hooks.city.example/", ()))
    with pytest.raises(ValueError, match="url: "):
        from index.catalog.engine import init_catalog, session_factory

        sessions = session_factory(init_catalog(f"sqlite:///{tmp_path / 'c.db'}"))
        with sessions() as session:
            create_webhook(session, "x", "http://10.0.0.1/", allow)
