"""Hop decisions in the catalog (issue #18): one decision per case and pair (either order, stored
earlier sighting first), replaced by deciding again, withdrawn, gone with a deleted track; and
migration 0016 giving existing cases an empty trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, delete, inspect
from sqlalchemy.orm import Session, sessionmaker

from index import catalog
from index.catalog import CameraSpec, NewTrack
from index.catalog.engine import alembic_config, make_engine
from index.catalog.hops import (
    HopDecisionError,
    HopPair,
    NewHopDecision,
    UnknownHopTrackError,
    case_hop_decisions,
    decide_hop,
    withdraw_hop,
)
from index.catalog.rows import TrackRow
from tests.migration_support import upgraded_from

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _car(local_id: int, after_s: float) -> NewTrack:
    start = T0 + timedelta(seconds=after_s)
    return NewTrack(
        camera_id="gate", local_track_id=local_id, class_name="car", confidence=0.9,
        start_at=start, end_at=start + timedelta(seconds=5), best_shot_at=start,
        best_bbox_xyxy_px=(10.0, 10.0, 90.0, 60.0),
    )  # fmt: skip


def _world(session: Session) -> tuple[str, int, int, int]:
    """A case and three tracks: `late` starts after `early`, `mid` between them."""
    catalog.upsert_camera(session, CameraSpec("gate", "Gate", "rtsp://10.0.0.5/main"))
    late = catalog.add_track(session, _car(1, 60))
    early = catalog.add_track(session, _car(2, 0))
    mid = catalog.add_track(session, _car(3, 30))
    return catalog.create_case(session, "vans", "ana"), early, mid, late


def test_one_decision_per_pair_in_either_order(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        case_id, early, mid, late = _world(session)
        first = decide_hop(
            session, NewHopDecision(HopPair(case_id, late, early), "confirmed", "ana", "same van")
        )
        assert first.previous is None
        stored = first.decision
        assert (stored.from_track_id, stored.to_track_id) == (early, late)  # earlier first
        assert (stored.decision, stored.note, stored.decided_by) == ("confirmed", "same van", "ana")
        again = decide_hop(session, NewHopDecision(HopPair(case_id, early, late), "rejected", "bo"))
        assert again.previous == stored and again.decision.id == stored.id
        assert (again.decision.decision, again.decision.note) == ("rejected", "")
        decide_hop(session, NewHopDecision(HopPair(case_id, mid, early), "confirmed", "ana"))
    with sessions() as session:
        decisions = case_hop_decisions(session, case_id)
        assert [(d.from_track_id, d.to_track_id, d.decision) for d in decisions] == [
            (early, late, "rejected"),
            (early, mid, "confirmed"),
        ]
        removed = withdraw_hop(session, HopPair(case_id, late, early))
        assert removed is not None and removed.decision == "rejected"
        assert withdraw_hop(session, HopPair(case_id, late, early)) is None
        session.commit()
        assert [d.to_track_id for d in case_hop_decisions(session, case_id)] == [mid]


def test_bad_decisions_are_named_and_store_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        case_id, early, _mid, late = _world(session)
    with sessions() as session:
        with pytest.raises(HopDecisionError, match="to_track_id"):
            HopPair(case_id, early, early)
        with pytest.raises(HopDecisionError, match="decision"):
            NewHopDecision(HopPair(case_id, early, late), "maybe", "ana")  # type: ignore[arg-type]
        with pytest.raises(HopDecisionError, match="note"):
            NewHopDecision(HopPair(case_id, early, late), "confirmed", "ana", "x" * 2001)
        with pytest.raises(UnknownHopTrackError, match="to_track_id: track 987654"):
            decide_hop(session, NewHopDecision(HopPair(case_id, early, 987654), "rejected", "a"))
        with pytest.raises(UnknownHopTrackError, match="case 'nope'"):
            decide_hop(session, NewHopDecision(HopPair("nope", early, late), "rejected", "a"))
        assert case_hop_decisions(session, case_id) == []


def test_a_deleted_track_takes_its_decisions_along(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        case_id, early, mid, late = _world(session)
        decide_hop(session, NewHopDecision(HopPair(case_id, early, mid), "confirmed", "ana"))
        decide_hop(session, NewHopDecision(HopPair(case_id, mid, late), "rejected", "ana"))
    with sessions.begin() as session:
        session.execute(delete(TrackRow).where(TrackRow.id == late))  # as retention deletes
    with sessions() as session:
        assert [d.to_track_id for d in case_hop_decisions(session, case_id)] == [mid]


def test_migration_0016_gives_existing_cases_no_decisions(catalog_url: str) -> None:
    insert = (
        "INSERT INTO cases (id, title, created_by, created_at) VALUES ('old', 'Old', 'ana', :at)"
    )
    with upgraded_from(catalog_url, "0015_reindex_footage", insert, {"at": T0}) as session:
        assert case_hop_decisions(session, "old") == []
        catalog.upsert_camera(session, CameraSpec("gate", "Gate", "rtsp://10.0.0.5/main"))
        one, two = catalog.add_track(session, _car(1, 0)), catalog.add_track(session, _car(2, 9))
        decide_hop(session, NewHopDecision(HopPair("old", one, two), "confirmed", "ana"))
        session.commit()
        assert [d.decision for d in case_hop_decisions(session, "old")] == ["confirmed"]


def test_downgrading_0016_drops_the_table(engine: Engine, catalog_url: str) -> None:
    assert "hop_decisions" in inspect(engine).get_table_names()
    engine.dispose()
    downgraded = make_engine(catalog_url)
    try:
        with downgraded.begin() as connection:
            command.downgrade(alembic_config(connection), "0015_reindex_footage")
        assert "hop_decisions" not in inspect(downgraded).get_table_names()
    finally:
        downgraded.dispose()
