"""Catalog repository for retention tiers and legal holds (issue #17).

A tier says how many days a camera group's segments, tracks and events are kept; the default
tier ("*") covers cameras in no group and groups without a tier of their own. A legal hold on a
case keeps everything filed under it (see `held_material`) until an admin releases it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from index.catalog.account_rows import CameraGroupRow
from index.catalog.camera_groups import UnknownCameraGroupError, check_group_name
from index.catalog.cases import get_case
from index.catalog.retention_rows import CaseMaterialRow, LegalHoldRow, RetentionTierRow
from index.catalog.rows import AuditRow, EventRow, TrackRow, insert_ignoring_conflict, utc_now
from index.catalog.watchlist_rows import WatchlistHitRow, WatchlistRow

DEFAULT_TIER = "*"
MATERIAL_KINDS = ("track", "event")
MAX_RETENTION_DAYS = 36_500  # a century: anything larger is a typo


class RetentionPolicyError(ValueError):
    """A retention setting is out of range (below the legal floor, not a number of days)."""


class UnknownCaseError(LookupError):
    """No case has this id."""


@dataclass(frozen=True)
class RetentionTier:
    """Days a tier keeps each kind of material; `group_name` "*" is the default tier."""

    group_name: str
    segments_days: int
    tracks_days: int
    events_days: int


@dataclass(frozen=True)
class RetentionFloors:
    """The least days anyone may set (the legal floor): per kind of material and for audit."""

    segments_days: int = 1
    tracks_days: int = 1
    events_days: int = 1
    audit_days: int = 365


@dataclass(frozen=True)
class RetentionPolicy:
    """Every tier (default first) and how long audit rows are kept at least."""

    tiers: tuple[RetentionTier, ...]
    audit_days: int

    def tier_for(self, group_name: str | None) -> RetentionTier:
        """The tier of a camera in `group_name` (None: in no group)."""
        by_name = {tier.group_name: tier for tier in self.tiers}
        return by_name.get(group_name or DEFAULT_TIER, by_name[DEFAULT_TIER])


@dataclass(frozen=True)
class LegalHold:
    case_id: str
    reason: str
    held_by: str
    held_at: datetime
    released_by: str | None
    released_at: datetime | None

    @property
    def active(self) -> bool:
        return self.released_at is None


@dataclass(frozen=True)
class PlacedHold:
    """What placing a hold did: the hold as it now is and, where the case was already on hold,
    the reason it had (None: a new hold, or one placed again after a release)."""

    hold: LegalHold
    earlier_reason: str | None

    @property
    def reason_replaced(self) -> str | None:
        """The active hold's reason this one replaced (None: a new hold, or the same reason)."""
        return None if self.earlier_reason == self.hold.reason else self.earlier_reason


@dataclass(frozen=True)
class HeldMaterial:
    """What active legal holds keep: track and event ids, each with the held cases naming it."""

    tracks: dict[int, tuple[str, ...]]
    events: dict[int, tuple[str, ...]]


def check_days(value: object, field: str, floor: int) -> int:
    """`value` if it is a whole number of days in [floor, MAX_RETENTION_DAYS], else raise
    RetentionPolicyError naming the field and the floor."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RetentionPolicyError(f"{field}: {value!r} is not a whole number of days")
    if value < floor:
        raise RetentionPolicyError(
            f"{field}: {value} days is below the legal floor of {floor} days"
        )
    if value > MAX_RETENTION_DAYS:
        raise RetentionPolicyError(f"{field}: {value} days is over {MAX_RETENTION_DAYS}")
    return value


def check_tier(tier: RetentionTier, floors: RetentionFloors) -> RetentionTier:
    """The tier if every value is at or above its floor; RetentionPolicyError otherwise."""
    where = "default tier" if tier.group_name == DEFAULT_TIER else f"tier {tier.group_name!r}"
    for field in ("segments_days", "tracks_days", "events_days"):
        check_days(getattr(tier, field), f"{where} {field}", getattr(floors, field))
    return tier


def retention_policy(session: Session, defaults: RetentionPolicy) -> RetentionPolicy:
    """The stored tiers; `defaults` (from settings) fill in the default tier and audit days
    until an admin sets them."""
    rows = {row.group_name: row for row in session.scalars(select(RetentionTierRow))}
    default_row = rows.pop(DEFAULT_TIER, None)
    default = defaults.tier_for(None)
    audit_days = defaults.audit_days
    if default_row is not None:
        default = RetentionTier(
            DEFAULT_TIER, default_row.segments_days, default_row.tracks_days,
            default_row.events_days,
        )  # fmt: skip
        audit_days = default_row.audit_days or audit_days
    groups = tuple(
        RetentionTier(name, row.segments_days, row.tracks_days, row.events_days)
        for name, row in sorted(rows.items())
    )
    return RetentionPolicy((default, *groups), audit_days)


def set_retention_tier(
    session: Session,
    tier: RetentionTier,
    floors: RetentionFloors,
    updated_by: str,
    audit_days: int | None = None,
) -> RetentionTier:
    """Write a tier after checking it against the floors (nothing written when it fails);
    `audit_days` only on the default tier. UnknownCameraGroupError for an unknown group."""
    check_tier(tier, floors)
    if tier.group_name != DEFAULT_TIER:
        check_group_name(tier.group_name)
        if session.get(CameraGroupRow, tier.group_name) is None:
            raise UnknownCameraGroupError(f"group: no camera group {tier.group_name!r}")
        if audit_days is not None:
            raise RetentionPolicyError("audit_days: set on the default tier only")
    if audit_days is not None:
        check_days(audit_days, "audit_days", floors.audit_days)
    row = session.get(RetentionTierRow, tier.group_name)
    if row is None:
        row = RetentionTierRow(group_name=tier.group_name)
        session.add(row)
    row.segments_days, row.tracks_days = tier.segments_days, tier.tracks_days
    row.events_days, row.updated_by = tier.events_days, updated_by
    if audit_days is not None:
        row.audit_days = audit_days
    row.updated_at = utc_now()
    session.flush()
    return tier


def remove_retention_tier(session: Session, group_name: str) -> bool:
    """Drop a group's own tier (its cameras fall back to the default); False if it had none."""
    if group_name == DEFAULT_TIER:
        raise RetentionPolicyError("group: the default tier cannot be removed")
    row = session.get(RetentionTierRow, group_name)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


# ---- legal holds ------------------------------------------------------------------------------


def _hold(row: LegalHoldRow) -> LegalHold:
    return LegalHold(
        row.case_id, row.reason, row.held_by, row.held_at, row.released_by, row.released_at
    )


def _require_case(session: Session, case_id: str) -> None:
    if get_case(session, case_id) is None:
        raise UnknownCaseError(f"case {case_id!r} does not exist")


def place_legal_hold(session: Session, case_id: str, reason: str, held_by: str) -> PlacedHold:
    """Hold the case's material (again, if a hold was released). An active hold stays held
    since it was placed, by whom it was, and takes the new reason (the latest order's: the
    caller audits the change). UnknownCaseError, or ValueError for a blank reason."""
    reason = reason.strip()
    if not reason:
        raise ValueError("reason: a legal hold needs a reason")
    _require_case(session, case_id)
    row = session.get(LegalHoldRow, case_id)
    if row is not None and row.released_at is None:  # already on hold
        earlier, row.reason = row.reason, reason
        session.flush()
        return PlacedHold(_hold(row), earlier)
    if row is None:
        row = LegalHoldRow(case_id=case_id)
        session.add(row)
    row.reason, row.held_by, row.held_at = reason, held_by, utc_now()
    row.released_by = row.released_at = None
    session.flush()
    return PlacedHold(_hold(row), None)


def release_legal_hold(session: Session, case_id: str, released_by: str) -> LegalHold | None:
    """Release the case's active hold; None when the case has none (UnknownCaseError if the
    case does not exist)."""
    _require_case(session, case_id)
    row = session.get(LegalHoldRow, case_id)
    if row is None or row.released_at is not None:
        return None
    row.released_by, row.released_at = released_by, utc_now()
    session.flush()
    return _hold(row)


def legal_holds(session: Session, active_only: bool = True) -> list[LegalHold]:
    statement = select(LegalHoldRow).order_by(LegalHoldRow.held_at, LegalHoldRow.case_id)
    if active_only:
        statement = statement.where(LegalHoldRow.released_at.is_(None))
    return [_hold(row) for row in session.scalars(statement)]


def file_case_material(
    session: Session,
    case_id: str,
    added_by: str,
    track_ids: Iterable[int] = (),
    event_ids: Iterable[int] = (),
) -> int:
    """File tracks and events under a case (what a hold on it keeps); returns how many links
    are new. LookupError naming ids that do not exist."""
    _require_case(session, case_id)
    tracks, events = sorted(set(map(int, track_ids))), sorted(set(map(int, event_ids)))
    found_tracks = set(session.scalars(select(TrackRow.id).where(TrackRow.id.in_(tracks))))
    found_events = set(session.scalars(select(EventRow.id).where(EventRow.id.in_(events))))
    missing = [f"track {i}" for i in tracks if i not in found_tracks]
    missing += [f"event {i}" for i in events if i not in found_events]
    if missing:
        raise LookupError(f"cannot file under case {case_id!r}: no {', '.join(missing)}")
    values = [
        {"case_id": case_id, "kind": kind, "ref_id": ref, "added_by": added_by,
         "added_at": utc_now()}
        for kind, refs in (("track", tracks), ("event", events))
        for ref in refs
    ]  # fmt: skip
    if not values:
        return 0
    before = _material_count(session, case_id)
    statement = insert_ignoring_conflict(session, CaseMaterialRow).on_conflict_do_nothing()
    session.execute(statement, values)
    return _material_count(session, case_id) - before


def case_tracks(session: Session, case_id: str) -> list[int]:
    """The ids of the tracks filed under a case, in the order they were filed."""
    statement = (
        select(CaseMaterialRow.ref_id)
        .where(CaseMaterialRow.case_id == case_id, CaseMaterialRow.kind == "track")
        .order_by(CaseMaterialRow.added_at, CaseMaterialRow.ref_id)
    )
    return [int(ref) for ref in session.scalars(statement)]


def _material_count(session: Session, case_id: str) -> int:
    statement = select(func.count()).where(CaseMaterialRow.case_id == case_id)
    return int(session.scalar(statement) or 0)


def _material_of(session: Session, case_ids: list[str], kind: str) -> list[tuple[str, int]]:
    rows = session.execute(
        select(CaseMaterialRow.case_id, CaseMaterialRow.ref_id).where(
            CaseMaterialRow.case_id.in_(case_ids), CaseMaterialRow.kind == kind
        )
    )
    return [(str(case_id), int(ref)) for case_id, ref in rows]


def _viewed_tracks(session: Session, case_ids: list[str]) -> list[tuple[str, int]]:
    """Tracks looked at under the cases: the audit log's `track:ID` targets."""
    rows = session.execute(
        select(AuditRow.case_id, AuditRow.target).where(
            AuditRow.case_id.in_(case_ids), AuditRow.target.like("track:%")
        )
    )
    found = []
    for case_id, target in rows:
        ref = str(target).removeprefix("track:")
        if ref.isdigit():
            found.append((str(case_id), int(ref)))
    return found


def _watchlist_tracks(session: Session, case_ids: list[str]) -> list[tuple[str, int]]:
    """Tracks the cases' watchlists hit."""
    rows = session.execute(
        select(WatchlistRow.case_id, WatchlistHitRow.track_id)
        .join(WatchlistHitRow, WatchlistHitRow.watchlist_id == WatchlistRow.id)
        .where(WatchlistRow.case_id.in_(case_ids))
    )
    return [(str(case_id), int(track_id)) for case_id, track_id in rows]


def _grouped(pairs: Iterable[tuple[str, int]]) -> dict[int, tuple[str, ...]]:
    cases: dict[int, set[str]] = {}
    for case_id, ref in pairs:
        cases.setdefault(ref, set()).add(case_id)
    return {ref: tuple(sorted(names)) for ref, names in cases.items()}


def held_material(session: Session) -> HeldMaterial:
    """What the active holds keep: tracks filed under a held case, viewed under it (audit) or
    hit by its watchlists; events filed under it. (The segments these were seen in are kept
    too: see retention_plan.)"""
    case_ids = [hold.case_id for hold in legal_holds(session)]
    if not case_ids:
        return HeldMaterial({}, {})
    tracks = _grouped(
        [
            *_material_of(session, case_ids, "track"),
            *_viewed_tracks(session, case_ids),
            *_watchlist_tracks(session, case_ids),
        ]
    )
    return HeldMaterial(tracks, _grouped(_material_of(session, case_ids, "event")))
