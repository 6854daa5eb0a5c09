"""A watchlist hit reaches the events channel within 5 s of the read (issue #14 item 5): a
vehicle track with a watched plate is indexed by the real TrackIndexer over a real catalog, and
the real WebhookDispatcher (production delivery policy: 0.5 s polls) posts the signed
`watchlist.hit` to an http.server receiver on 127.0.0.1. The measured delay is printed; the
plate benchmark (bench/plates.py) reports the same path as watchlist_alert_s."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from detect.plate_match import parse_plate_pattern
from detect.plate_values import TrackPlate
from detect.track_record import TrackRecord
from index.catalog import create_case, upsert_camera
from index.catalog.values import CameraSpec
from index.catalog.watchlists import TOPIC_HIT, add_plate_entry, create_watchlist
from index.catalog.webhooks import create_webhook
from index.track_indexer import TrackIndexer
from search_api.webhook_dispatcher import DeliveryPolicy, WebhookDispatcher, signature_valid
from tests.api_support import empty_context
from tests.waiting import wait_for
from tests.webhook_support import Receiver

ALERT_LIMIT_S = 5.0


def test_a_watched_plate_is_on_the_webhook_within_5_s_of_indexing(tmp_path: Path) -> None:
    context = empty_context(tmp_path)
    receiver = Receiver().start()
    with context.sessions() as session:
        upsert_camera(session, CameraSpec("cam1", "Gate 1", "rtsp://10.0.0.5/main"))
        _hook, secret = create_webhook(session, "cc", receiver.url, ("127.0.0.1",))
        case_id = create_case(session, "stolen car", "ana")
        expires = datetime.now(UTC) + timedelta(days=1)
        watchlist = create_watchlist(session, "stolen", case_id, "theft", expires, "ana")
        entry = add_plate_entry(session, watchlist.id, parse_plate_pattern("吉A*23?5", "wildcard"))
        session.commit()
    dispatcher = WebhookDispatcher(context.sessions, DeliveryPolicy(allow=("127.0.0.1",)))
    dispatcher.start()
    indexer = TrackIndexer(context.sessions, context.store, context.vectors, tmp_path / "vec")
    try:
        seen = datetime.now(UTC)
        embedding = np.zeros(context.vectors.dim, np.float32)
        embedding[0] = 1.0
        record = TrackRecord(
            camera_id="cam1", local_track_id=7, class_name="car", confidence=0.9,
            start_at=seen - timedelta(seconds=4), end_at=seen, best_shot_at=seen,
            best_box=(0.0, 0.0, 100.0, 80.0), thumbnail_jpeg=b"\xff\xd8jpeg",
            embedding=embedding, embedding_version=context.embedder.embedding_version,
            trajectory=[(0.0, 0.0, 0.0, 100.0, 80.0)],
        )  # fmt: skip
        record = dataclasses.replace(
            record, plate=TrackPlate("吉A72395", 0.93, (("吉A72385", 0.4),))
        )
        started = time.monotonic()
        (track_id,) = indexer.index([record])
        assert wait_for(lambda: receiver.received, timeout_s=ALERT_LIMIT_S, poll_s=0.01)
        alert_s = time.monotonic() - started
    finally:
        dispatcher.stop()
        receiver.stop()
    print(f"watchlist_alert_s={alert_s:.3f}")
    assert alert_s <= ALERT_LIMIT_S
    (delivered,) = receiver.received
    headers = delivered.headers
    assert signature_valid(
        secret, headers["x-skynet-timestamp"], delivered.body, headers["x-skynet-signature"]
    )
    document = delivered.document
    assert document["topic"] == TOPIC_HIT
    assert document["data"] == {
        "watchlist_id": watchlist.id, "watchlist": "stolen", "case_id": case_id,
        "entry_id": entry.id, "entry_kind": "plate", "track_id": track_id, "camera_id": "cam1",
        "at": seen.isoformat(), "plate_text": "吉A72395", "score": 1.0,
    }  # fmt: skip
