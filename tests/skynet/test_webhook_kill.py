"""kill -9 during webhook delivery (issue #13): a process running the dispatcher is killed while
a POST is in flight, then restarted; every outbox row reaches the real receiver at least once,
in order, none lost (the one in flight may arrive twice: receivers dedupe on the event id)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from index.catalog.engine import init_catalog, session_factory
from index.catalog.webhooks import create_webhook
from tests.waiting import wait_for
from tests.webhook_support import Receiver, publish

pytestmark = pytest.mark.slow  # real servers and processes: not in the quick subset

REPO = Path(__file__).resolve().parents[2]
ROWS = 40
DISPATCHER = """
import sys, threading
from index.catalog.engine import init_catalog, session_factory
from search_api.webhook_dispatcher import DeliveryPolicy, WebhookDispatcher

policy = DeliveryPolicy(
    allow=("127.0.0.1",), timeout_s=2.0, backoff_base_s=0.1, backoff_max_s=0.3, poll_s=0.1
)
WebhookDispatcher(session_factory(init_catalog(sys.argv[1])), policy).start()
print("dispatching", flush=True)
threading.Event().wait()
"""


def start_dispatcher(catalog_url: str) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", DISPATCHER, catalog_url], cwd=REPO, env=environment
    )


def test_kill_9_mid_delivery_loses_nothing_and_keeps_order(tmp_path: Path) -> None:
    catalog_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    sessions = session_factory(init_catalog(catalog_url))
    receiver = Receiver().start()
    receiver.answer_delay_s = 0.15  # a POST is in flight most of the time
    try:
        with sessions.begin() as session:
            create_webhook(session, "cc", receiver.url, ("127.0.0.1",))
            ids = publish(session, ROWS)
        first = start_dispatcher(catalog_url)
        try:
            assert wait_for(lambda: len(receiver.ids()) >= ROWS // 3, timeout_s=60)
            first.send_signal(signal.SIGKILL)  # the receiver is holding a request open
            first.wait(10)
        finally:
            first.kill()
        killed_at = len(receiver.ids())
        assert killed_at < ROWS
        with sessions.begin() as session:  # written while no dispatcher runs
            ids += publish(session, 5)
        second = start_dispatcher(catalog_url)
        try:
            assert wait_for(lambda: set(receiver.ids()) >= set(ids), timeout_s=60)
        finally:
            second.send_signal(signal.SIGKILL)
            second.wait(10)
        received = receiver.ids()
        deduped = [i for n, i in enumerate(received) if n == 0 or received[n - 1] != i]
        assert deduped == ids  # in order, every row, a repeat only right after itself
        assert len(received) - len(ids) <= 1  # at most the row in flight came twice
    finally:
        receiver.stop()
