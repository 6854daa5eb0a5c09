"""Watchlists in the catalog (issue #14): validation naming the field, plate and exemplar
matching on indexing with a hit row and a `watchlist.hit` outbox row in one transaction, no
second hit on re-indexing, expiry, and a closed case ending its watchlists."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from detect.plate_match import parse_plate_pattern
from detect.plate_values import TrackPlate
from detect.track_record import TrackRecord
from index import catalog
from index.catalog import CameraSpec, NewTrack, add_tracks, close_case, create_case, session_factory
from index.catalog.rows import OutboxRow
from index.catalog.watchlists import (
    TOPIC_HIT,
    WatchlistError,
    add_exemplar_entry,
    add_plate_entry,
    create_watchlist,
    get_watchlist,
    list_hits,
    match_watchlists,
)

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
DIM = 8


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    sessions = session_factory(engine)
    with sessions() as session:
        catalog.upsert_camera(session, CameraSpec("cam-1", "cam-1", "rtsp://h/main"))
        session.commit()
    return sessions


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def vehicle(
    n: int, plate: str | None, embedding: np.ndarray, alternatives: tuple[str, ...] = ()
) -> TrackRecord:
    record = TrackRecord(
        camera_id="cam-1", local_track_id=n, class_name="car", confidence=0.9,
        start_at=NOW + timedelta(seconds=n), end_at=NOW + timedelta(seconds=n + 5),
        best_shot_at=NOW + timedelta(seconds=n + 1), best_box=(0.0, 0.0, 10.0, 10.0),
        thumbnail_jpeg=b"jpeg", embedding=embedding, embedding_version="v1",
        trajectory=[(0.0, 0.0, 0.0, 10.0, 10.0)],
    )  # fmt: skip
    if plate is None:
        return record
    track_plate = TrackPlate(plate, 0.9, tuple((text, 0.5) for text in alternatives))
    return dataclasses.replace(record, plate=track_plate)


def index(session: Session, records: list[TrackRecord], now: datetime = NOW) -> list[int]:
    ids = add_tracks(session, [NewTrack.from_record(r, f"t/{r.local_track_id}") for r in records])
    match_watchlists(session, ids, records, now=now)
    return ids


def make_watchlist(session: Session, case_id: str, hours: float = 24) -> int:
    return create_watchlist(
        session, "stolen cars", case_id, "theft 12/05", NOW + timedelta(hours=hours), "ana",
        now=NOW,
    ).id  # fmt: skip


def test_refusals_name_the_field(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        case_id = create_case(session, "theft", "ana")
        closed = create_case(session, "old", "ana")
        close_case(session, closed)
        tomorrow = NOW + timedelta(days=1)
        cases = [
            (("x", "nope", "p", tomorrow), "case_id"),
            (("x", closed, "p", tomorrow), "case_id"),
            (("x", case_id, " ", tomorrow), "purpose"),
            (("x", case_id, "p", NOW - timedelta(seconds=1)), "expires_at"),
            (("", case_id, "p", tomorrow), "name"),
        ]
        for (name, case, purpose, expires), field in cases:
            with pytest.raises(WatchlistError, match=rf"^{field}:"):
                create_watchlist(session, name, case, purpose, expires, "ana", now=NOW)
        watchlist_id = make_watchlist(session, case_id)
        with pytest.raises(WatchlistError, match=r"^min_similarity:"):
            add_exemplar_entry(session, watchlist_id, unit(1), "v1", 1.5)


def test_plate_and_exemplar_hits_are_written_with_their_outbox_rows(
    sessions: sessionmaker[Session],
) -> None:
    wanted = unit(7)
    with sessions() as session:
        case_id = create_case(session, "theft", "ana")
        watchlist_id = make_watchlist(session, case_id)
        exact = add_plate_entry(session, watchlist_id, parse_plate_pattern("吉A12345")).id
        wild = add_plate_entry(session, watchlist_id, parse_plate_pattern("京B*9?", "wildcard")).id
        fuzzy = add_plate_entry(
            session, watchlist_id, parse_plate_pattern("沪C0D888", "fuzzy", 0.5)
        ).id
        look = add_exemplar_entry(session, watchlist_id, wanted, "v1", 0.9, label="white van").id
        records = [
            vehicle(1, "吉A12345", unit(1)),  # exact
            vehicle(2, "粤Z00000", unit(2), alternatives=("京B7791",)),  # wildcard: alternative
            vehicle(3, "沪C0O888", unit(3)),  # fuzzy: D read as O (look-alike, 0.3)
            vehicle(4, None, wanted),  # no plate, the exemplar's look
            vehicle(5, "沪C12888", unit(5)),  # too far for the fuzzy entry
        ]
        ids = index(session, records)
        session.commit()
    with sessions() as session:
        hits = {(h.entry_id, h.track_id): h for h in list_hits(session, watchlist_id)}
        assert set(hits) == {(exact, ids[0]), (wild, ids[1]), (fuzzy, ids[2]), (look, ids[3])}
        assert hits[(wild, ids[1])].plate_text == "京B7791"
        assert hits[(fuzzy, ids[2])].score == pytest.approx(1 - 0.3 / 7)
        assert hits[(look, ids[3])].score == pytest.approx(1.0, abs=1e-5)
        outbox = session.scalars(select(OutboxRow).where(OutboxRow.topic == TOPIC_HIT)).all()
        assert sorted(row.payload["track_id"] for row in outbox) == ids[:4]
        first = next(row.payload for row in outbox if row.payload["entry_id"] == exact)
        assert first == {
            "watchlist_id": watchlist_id, "watchlist": "stolen cars", "case_id": case_id,
            "entry_id": exact, "entry_kind": "plate", "track_id": ids[0], "camera_id": "cam-1",
            "at": (NOW + timedelta(seconds=2)).isoformat(), "plate_text": "吉A12345",
            "score": 1.0,
        }  # fmt: skip
        # Re-indexing the same tracks (idempotent add_tracks) raises no second hit.
        assert index(session, records) == ids
        assert len(list_hits(session, watchlist_id)) == 4


def test_expired_ended_and_closed_case_watchlists_match_nothing(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        case_id = create_case(session, "theft", "ana")
        short = make_watchlist(session, case_id, hours=1)
        add_plate_entry(session, short, parse_plate_pattern("吉A12345"))
        assert index(session, [vehicle(1, "吉A12345", unit(1))], now=NOW + timedelta(hours=2))
        assert list_hits(session, short) == []
        other_case = create_case(session, "robbery", "ana")
        kept = make_watchlist(session, other_case)
        add_plate_entry(session, kept, parse_plate_pattern("吉A12345"))
        close_case(session, other_case, NOW + timedelta(minutes=5))
        assert get_watchlist(session, kept).ended_reason == "case closed"
        index(session, [vehicle(2, "吉A12345", unit(1))])
        assert list_hits(session, kept) == []
