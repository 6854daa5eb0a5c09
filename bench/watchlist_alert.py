"""Benchmark: watchlist alert delay (issue #14 item 5) — from a vehicle track with a watched
plate handed to the real TrackIndexer (SQLite catalog, local object store) until the real
WebhookDispatcher (production delivery policy, 0.5 s polls) has posted the `watchlist.hit` to an
HTTP receiver on 127.0.0.1. The same path as tests/api/test_watchlist_alerts.py, repeated.

Run: `.venv/bin/python -m bench.watchlist_alert [--reads N]`; prints the delays and writes
`watchlist_alert_s` (the slowest of N reads) and its median into bench/results/plates.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from detect.plate_match import parse_plate_pattern
from detect.plate_values import TrackPlate
from detect.track_record import TrackRecord
from index.catalog import create_case, upsert_camera
from index.catalog.engine import init_catalog, session_factory
from index.catalog.values import CameraSpec
from index.catalog.watchlists import add_plate_entry, create_watchlist
from index.catalog.webhooks import create_webhook
from index.track_indexer import TrackIndexer
from index.vectors import VectorIndex
from search_api.webhook_dispatcher import DeliveryPolicy, WebhookDispatcher
from storage.local import LocalObjectStore

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "plates.json"
DIM = 8
VERSION = "bench-watchlist"
TIMEOUT_S = 30.0


class _Receiver:
    """Counts webhook POSTs (answers 204)."""

    def __init__(self) -> None:
        self.count = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.count += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def _record(local_id: int, text: str) -> TrackRecord:
    seen = datetime.now(UTC)
    embedding = np.zeros(DIM, np.float32)
    embedding[0] = 1.0
    return TrackRecord(
        camera_id="cam1", local_track_id=local_id, class_name="car", confidence=0.9,
        start_at=seen - timedelta(seconds=4), end_at=seen, best_shot_at=seen,
        best_box=(0.0, 0.0, 100.0, 80.0), thumbnail_jpeg=b"\xff\xd8jpeg", embedding=embedding,
        embedding_version=VERSION, trajectory=[(0.0, 0.0, 0.0, 100.0, 80.0)],
        plate=TrackPlate(text, 0.93, ()),
    )  # fmt: skip


def measure(reads: int, root: Path) -> list[float]:
    """Delays (s) of `reads` watched plates, one after the other."""
    sessions = session_factory(init_catalog(f"sqlite:///{root / 'catalog.db'}"))
    store = LocalObjectStore(root / "objects", "http://127.0.0.1/objects", b"k" * 32)
    receiver = _Receiver()
    with sessions() as session:
        upsert_camera(session, CameraSpec("cam1", "Gate 1", "rtsp://10.0.0.5/main"))
        create_webhook(session, "bench", receiver.url, ("127.0.0.1",))
        case_id = create_case(session, "bench", "bench")
        expires = datetime.now(UTC) + timedelta(days=1)
        watchlist = create_watchlist(session, "bench", case_id, "bench", expires, "bench")
        add_plate_entry(session, watchlist.id, parse_plate_pattern("吉A*23?5", "wildcard"))
        session.commit()
    dispatcher = WebhookDispatcher(sessions, DeliveryPolicy(allow=("127.0.0.1",)))
    dispatcher.start()
    indexer = TrackIndexer(sessions, store, VectorIndex(DIM, VERSION), root / "vectors")
    delays: list[float] = []
    try:
        for k in range(reads):
            started = time.monotonic()
            indexer.index([_record(k + 1, f"吉A{k % 10}23{k % 10}5")])
            while receiver.count <= k and time.monotonic() - started < TIMEOUT_S:
                time.sleep(0.005)
            delays.append(time.monotonic() - started if receiver.count > k else float("inf"))
    finally:
        dispatcher.stop()
        receiver.server.shutdown()
    return delays


def main(argv: list[str]) -> int:
    reads = int(argv[argv.index("--reads") + 1]) if "--reads" in argv else 10
    with tempfile.TemporaryDirectory() as tmp:
        delays = measure(reads, Path(tmp))
    print("delays s:", [round(d, 3) for d in delays])
    results = json.loads(RESULTS_PATH.read_text())
    results["watchlist_alert_s"] = round(max(delays), 3)
    results["watchlist_alert"] = {
        "max_s": round(max(delays), 3), "median_s": round(statistics.median(delays), 3),
        "reads": reads, "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "path": "TrackIndexer.index -> watchlist match -> webhook POST received (0.5 s polls)",
    }  # fmt: skip
    RESULTS_PATH.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    print(json.dumps(results["watchlist_alert"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
