"""A real HTTP webhook receiver on 127.0.0.1 for the events-channel tests (issue #13).

`http.server` on a thread; it records every POST (headers and body) and answers as told:
"ok" (204), "fail" (500), "hang" (holds the request until released or 30 s). It can be
stopped and started again on the same port, as a receiver that was down for a while. Given
`secrets`, it checks each delivery's signature as a real receiver does (`signature_valid`
against any secret it holds) and answers 401 to one that none of them verifies.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from index.catalog import Session
from index.catalog.outbox import append_outbox
from search_api.webhook_dispatcher import signature_valid


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def event_id(self) -> int:
        return int(self.headers["x-skynet-event-id"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Receiver:
    """The receiver; `mode` may change while it runs; `fail_ids` fail whatever the mode;
    `answer_delay_s` holds each accepted request (recorded on arrival) before the 204;
    `secrets` (None: no check) are those it verifies signatures with, `refused` the event ids
    it answered 401 for a signature none of them verified."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mode = "ok"
        self.fail_ids: set[int] = set()
        self.answer_delay_s = 0.0
        self.received: list[Received] = []
        self.secrets: tuple[str, ...] | None = None
        self.refused: list[int] = []
        self.attempts: list[int] = []  # event ids of every POST, answered or not
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> list[int]:
        with self._lock:
            return [r.event_id for r in self.received]

    def verified(self, headers: dict[str, str], body: bytes) -> bool:
        """The delivery's signature checks out against a secret held (always, without any)."""
        held = self.secrets
        if held is None:
            return True
        stamp = headers.get("x-skynet-timestamp", "")
        signature = headers.get("x-skynet-signature", "")
        return any(signature_valid(secret, stamp, body, signature) for secret in held)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                event_id = int(headers.get("x-skynet-event-id", "0"))
                with receiver._lock:
                    receiver.attempts.append(event_id)
                if receiver.mode == "hang":
                    receiver.release.wait(30)
                    return
                if receiver.mode == "fail" or event_id in receiver.fail_ids:
                    self.send_response(500)
                    self.end_headers()
                    return
                if not receiver.verified(headers, body):
                    with receiver._lock:
                        receiver.refused.append(event_id)
                    self.send_response(401)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver.received.append(Received(headers, body))
                time.sleep(receiver.answer_delay_s)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def publish(session: Session, count: int, topic: str = "test.event", **data: Any) -> list[int]:
    """`count` outbox rows (committed by the caller); their ids."""
    return [append_outbox(session, topic, {"n": n, **data}) for n in range(count)]
