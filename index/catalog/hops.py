"""Catalog repository for hop decisions (issue #18): an investigator's confirm or reject of a
cross-camera hop under a case, one decision per case and pair of tracks.

A pair is stored earlier sighting first (by start time, then id), so deciding B→A changes the
decision on A→B. Deciding again replaces the decision and its note (an upsert, so two
sessions deciding at once both succeed, the later one standing). Confirming files nothing by
itself: the caller files both tracks under the case (`retention.file_case_material`) in the
same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.catalog.hop_rows import HopDecisionRow
from index.catalog.rows import CaseRow, TrackRow, insert_ignoring_conflict, utc_now

HopVerdict = Literal["confirmed", "rejected"]
HOP_VERDICTS: tuple[str, ...] = get_args(HopVerdict)
MAX_NOTE_CHARS = 2000


class HopDecisionError(ValueError):
    """A decision the catalog refuses; the message names the field."""


class UnknownHopTrackError(LookupError):
    """A track or case a decision names does not exist."""


@dataclass(frozen=True)
class HopPair:
    """Two tracks under a case, in either order."""

    case_id: str
    from_track_id: int
    to_track_id: int

    def __post_init__(self) -> None:
        if self.from_track_id == self.to_track_id:
            raise HopDecisionError("to_track_id: a hop joins two different tracks")


@dataclass(frozen=True)
class NewHopDecision:
    """A confirm or reject of `pair` by `decided_by`, with an optional note."""

    pair: HopPair
    decision: HopVerdict
    decided_by: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.decision not in HOP_VERDICTS:
            raise HopDecisionError(f"decision: one of {list(HOP_VERDICTS)}, not {self.decision!r}")
        if len(self.note) > MAX_NOTE_CHARS:
            raise HopDecisionError(f"note: at most {MAX_NOTE_CHARS} characters")


@dataclass(frozen=True)
class HopDecision:
    """A stored decision; `from_track_id` is the earlier sighting."""

    id: int
    case_id: str
    from_track_id: int
    to_track_id: int
    decision: HopVerdict
    note: str
    decided_by: str
    decided_at: datetime


@dataclass(frozen=True)
class HopDecisionChange:
    """The decision now stored and the one it replaced (None: the pair was undecided)."""

    decision: HopDecision
    previous: HopDecision | None


def _decision(row: HopDecisionRow) -> HopDecision:
    return HopDecision(
        row.id, row.case_id, row.from_track_id, row.to_track_id,
        cast(HopVerdict, row.decision), row.note, row.decided_by, row.decided_at,
    )  # fmt: skip


def stored_order(session: Session, pair: HopPair) -> tuple[int, int]:
    """The pair's tracks earlier sighting first; UnknownHopTrackError naming a missing one."""
    ids = (pair.from_track_id, pair.to_track_id)
    statement = select(TrackRow.id, TrackRow.start_at).where(TrackRow.id.in_(ids))
    starts = {track_id: start for track_id, start in session.execute(statement)}
    for field, track_id in zip(("from_track_id", "to_track_id"), ids, strict=True):
        if track_id not in starts:
            raise UnknownHopTrackError(f"{field}: track {track_id} not found")
    first, second = sorted(ids, key=lambda i: (starts[i], i))
    return first, second


def _find(session: Session, case_id: str, first: int, second: int) -> HopDecisionRow | None:
    statement = select(HopDecisionRow).where(
        HopDecisionRow.case_id == case_id,
        HopDecisionRow.from_track_id == first,
        HopDecisionRow.to_track_id == second,
    )
    # fresh values even for a row the session holds (the upsert below is a Core statement)
    return session.scalars(statement.execution_options(populate_existing=True)).one_or_none()


def decide_hop(session: Session, new: NewHopDecision) -> HopDecisionChange:
    """Store (or replace) the decision on the pair; UnknownHopTrackError for an unknown case or
    track."""
    pair = new.pair
    if session.get(CaseRow, pair.case_id) is None:
        raise UnknownHopTrackError(f"case {pair.case_id!r} not found")
    first, second = stored_order(session, pair)
    before = _find(session, pair.case_id, first, second)
    previous = None if before is None else _decision(before)
    values = {
        "case_id": pair.case_id, "from_track_id": first, "to_track_id": second,
        "decision": new.decision, "note": new.note, "decided_by": new.decided_by,
        "decided_at": utc_now(),
    }  # fmt: skip
    statement = insert_ignoring_conflict(session, HopDecisionRow).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["case_id", "from_track_id", "to_track_id"],
        set_={k: statement.excluded[k] for k in ("decision", "note", "decided_by", "decided_at")},
    )
    session.execute(statement)
    stored = _find(session, pair.case_id, first, second)
    assert stored is not None
    return HopDecisionChange(_decision(stored), previous)


def withdraw_hop(session: Session, pair: HopPair) -> HopDecision | None:
    """Remove the decision on the pair (either order); the removed one, None if undecided."""
    first, second = stored_order(session, pair)
    row = _find(session, pair.case_id, first, second)
    if row is None:
        return None
    removed = _decision(row)
    session.delete(row)
    session.flush()
    return removed


def case_hop_decisions(session: Session, case_id: str) -> list[HopDecision]:
    """Every decision under the case, in the order they were made."""
    statement = (
        select(HopDecisionRow)
        .where(HopDecisionRow.case_id == case_id)
        .order_by(HopDecisionRow.decided_at, HopDecisionRow.id)
    )
    return [_decision(row) for row in session.scalars(statement)]
