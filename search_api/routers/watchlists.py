"""Watchlist endpoints (issue #14): investigators (under an open case of theirs) and admins
create watchlists of plate patterns and vehicle exemplars, list them and their hits (cut to the
caller's cameras), and end them; every change and every read of hits is audited. Matching runs
on live ingest (index/catalog/watchlists.py, match_watchlists)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, UploadFile

from detect.plate_match import PlatePatternError, parse_plate_pattern
from detect.query import (
    MAX_IMAGE_BYTES,
    ImageTooLarge,
    QueryImageError,
    check_image_size,
    decode_image,
)
from index.catalog import Principal, Session, append_audit
from index.catalog.watchlists import (
    Watchlist,
    WatchlistEntry,
    add_exemplar_entry,
    add_plate_entry,
    create_watchlist,
    end_watchlist,
    get_watchlist,
    list_entries,
    list_hits,
    list_watchlists,
    remove_entry,
    track_embedding,
)
from search_api.access import WATCHLISTS, require_case, visible_track
from search_api.deps import ContextDep, PrincipalDep, SessionDep, requires
from search_api.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from search_api.openapi import AUTH_RESPONSES, MAX_CATALOG_ID
from search_api.watchlist_schemas import (
    EntryIn,
    ExemplarEntryIn,
    PlateEntryIn,
    WatchlistCreate,
    WatchlistEntryOut,
    WatchlistHitOut,
    WatchlistOut,
)

router = APIRouter(prefix="/watchlists", tags=["watchlists"], responses=AUTH_RESPONSES)
WatchlistId = Annotated[int, Path(ge=1, le=MAX_CATALOG_ID)]
EntryId = Annotated[int, Path(ge=1, le=MAX_CATALOG_ID)]


def entry_out(entry: WatchlistEntry) -> WatchlistEntryOut:
    plate = entry.plate
    return WatchlistEntryOut(
        id=entry.id, kind=entry.kind, label=entry.label,
        pattern=None if plate is None else plate.text,
        match=None if plate is None else plate.mode,
        max_distance=None if plate is None or plate.mode != "fuzzy" else plate.max_distance,
        exemplar_track_id=entry.exemplar_track_id, min_similarity=entry.min_similarity,
        created_at=entry.created_at,
    )  # fmt: skip


def watchlist_out(session: Session, watchlist: Watchlist) -> WatchlistOut:
    return WatchlistOut(
        id=watchlist.id, name=watchlist.name, case_id=watchlist.case_id,
        purpose=watchlist.purpose, created_by=watchlist.created_by,
        created_at=watchlist.created_at, expires_at=watchlist.expires_at,
        ended_at=watchlist.ended_at, ended_reason=watchlist.ended_reason,
        active=watchlist.active(datetime.now(UTC)),
        entries=[entry_out(e) for e in list_entries(session, watchlist.id)],
    )  # fmt: skip


def own_watchlist(session: Session, principal: Principal, watchlist_id: int) -> Watchlist:
    """The watchlist, if the caller created it or is an admin (NotFound otherwise)."""
    try:
        watchlist = get_watchlist(session, watchlist_id)
    except LookupError as error:
        raise NotFound(str(error)) from error
    if principal.role != "admin" and watchlist.created_by != principal.name:
        raise NotFound(f"watchlist {watchlist_id} not found")
    return watchlist


def audit(
    session: Session,
    principal: Principal,
    action: str,
    watchlist: Watchlist,
    hit_count: int | None = None,
) -> None:
    append_audit(
        session, principal=principal.name, role=principal.role, action=action,
        case_id=watchlist.case_id, purpose=watchlist.purpose, hit_count=hit_count,
        target=f"watchlist:{watchlist.id}",
    )  # fmt: skip


def add_entry(
    session: Session, principal: Principal, watchlist_id: int, entry: EntryIn, field: str
) -> WatchlistEntry:
    """Store one entry; InvalidInput naming `field` when its pattern or exemplar is unusable."""
    if isinstance(entry, PlateEntryIn):
        try:
            pattern = parse_plate_pattern(entry.pattern, entry.match, entry.max_distance)
        except PlatePatternError as error:
            raise InvalidInput(f"{field}.pattern: {error}") from error
        return add_plate_entry(session, watchlist_id, pattern, entry.label)
    assert isinstance(entry, ExemplarEntryIn)
    try:
        track = visible_track(session, principal, entry.track_id)
    except NotFound as error:
        raise InvalidInput(f"{field}.track_id: {error.detail}") from error
    stored = track_embedding(session, track.id)
    if stored is None:
        raise InvalidInput(f"{field}.track_id: track {track.id} has no appearance embedding")
    embedding, version = stored
    return add_exemplar_entry(
        session, watchlist_id, embedding, version, entry.min_similarity, track.id, entry.label
    )


def checked_case(session: Session, principal: Principal, case_id: str, purpose: str) -> None:
    """A watchlist's case must exist, be open (422 naming case_id) and be the caller's (403)."""
    try:
        require_case(session, principal, case_id, purpose, "watchlists")
    except Forbidden as error:
        if error.detail.startswith("case_id:") and "opened by someone else" not in error.detail:
            raise InvalidInput(error.detail) from error
        raise


@router.post(
    "",
    response_model=WatchlistOut,
    status_code=201,
    summary="Create a watchlist",
    dependencies=[requires(WATCHLISTS)],
)
def create(body: WatchlistCreate, principal: PrincipalDep, session: SessionDep) -> WatchlistOut:
    """Needs an open case of the caller's, a purpose and an expiry in the future (422 naming
    the field otherwise); entries may be given here or added later."""
    if body.expires_at <= datetime.now(UTC):
        raise InvalidInput("expires_at: must be in the future")
    checked_case(session, principal, body.case_id, body.purpose)
    try:
        watchlist = create_watchlist(
            session, body.name, body.case_id, body.purpose, body.expires_at, principal.name
        )
    except ValueError as error:
        raise InvalidInput(str(error)) from error
    for n, entry in enumerate(body.entries):
        add_entry(session, principal, watchlist.id, entry, f"entries[{n}]")
    audit(session, principal, "create_watchlist", watchlist)
    session.commit()
    return watchlist_out(session, watchlist)


@router.get(
    "",
    response_model=list[WatchlistOut],
    summary="Watchlists, newest first",
    dependencies=[requires(WATCHLISTS)],
)
def read_all(principal: PrincipalDep, session: SessionDep) -> list[WatchlistOut]:
    """An admin sees every watchlist, an investigator the ones they created."""
    mine = None if principal.role == "admin" else principal.name
    return [watchlist_out(session, w) for w in list_watchlists(session, mine)]


@router.get(
    "/{watchlist_id}",
    response_model=WatchlistOut,
    summary="One watchlist",
    dependencies=[requires(WATCHLISTS)],
)
def read_one(
    watchlist_id: WatchlistId, principal: PrincipalDep, session: SessionDep
) -> WatchlistOut:
    return watchlist_out(session, own_watchlist(session, principal, watchlist_id))


@router.delete(
    "/{watchlist_id}",
    response_model=WatchlistOut,
    summary="End a watchlist",
    dependencies=[requires(WATCHLISTS)],
)
def end(watchlist_id: WatchlistId, principal: PrincipalDep, session: SessionDep) -> WatchlistOut:
    """It stops matching at once; its hits stay listed."""
    watchlist = own_watchlist(session, principal, watchlist_id)
    watchlist = end_watchlist(session, watchlist.id, f"ended by {principal.name}")
    audit(session, principal, "end_watchlist", watchlist)
    session.commit()
    return watchlist_out(session, watchlist)


def open_watchlist(session: Session, principal: Principal, watchlist_id: int) -> Watchlist:
    watchlist = own_watchlist(session, principal, watchlist_id)
    if not watchlist.active(datetime.now(UTC)):
        raise InvalidInput(f"watchlist_id: watchlist {watchlist_id} has ended or expired")
    return watchlist


@router.post(
    "/{watchlist_id}/entries",
    response_model=WatchlistEntryOut,
    status_code=201,
    summary="Add a plate or exemplar-track entry",
    dependencies=[requires(WATCHLISTS)],
)
def create_entry(
    watchlist_id: WatchlistId, body: EntryIn, principal: PrincipalDep, session: SessionDep
) -> WatchlistEntryOut:
    watchlist = open_watchlist(session, principal, watchlist_id)
    entry = add_entry(session, principal, watchlist.id, body, "body")
    audit(session, principal, "add_watchlist_entry", watchlist)
    session.commit()
    return entry_out(entry)


@router.post(
    "/{watchlist_id}/entries/image",
    response_model=WatchlistEntryOut,
    status_code=201,
    summary="Add an exemplar entry from an uploaded vehicle picture",
    dependencies=[requires(WATCHLISTS)],
)
def create_image_entry(
    watchlist_id: WatchlistId,
    principal: PrincipalDep,
    session: SessionDep,
    context: ContextDep,
    image: Annotated[UploadFile, File(description="JPEG/PNG showing just the vehicle")],
    min_similarity: Annotated[float, Form(gt=0.0, le=1.0)] = 0.85,
    vehicle_class: Annotated[str, Form(pattern="^(car|bus|truck|motorcycle)$")] = "car",
    label: Annotated[str, Form(max_length=200)] = "",
) -> WatchlistEntryOut:
    """Embedded with the API's appearance embedder (the one live tracks are embedded with)."""
    watchlist = open_watchlist(session, principal, watchlist_id)
    data = image.file.read(MAX_IMAGE_BYTES + 1)
    try:
        check_image_size(data, context.limits.max_image_pixels)
        picture = decode_image(data, context.limits.max_image_pixels)
    except ImageTooLarge as error:
        raise PayloadTooLarge(f"image: {error}") from error
    except QueryImageError as error:
        raise InvalidInput(f"image: {error}") from error
    embedding = context.embedder.embed([picture], [vehicle_class])[0]
    version = context.embedder.embedding_version
    entry = add_exemplar_entry(
        session, watchlist.id, embedding, version, min_similarity, None, label
    )
    audit(session, principal, "add_watchlist_entry", watchlist)
    session.commit()
    return entry_out(entry)


@router.delete(
    "/{watchlist_id}/entries/{entry_id}",
    status_code=204,
    summary="Remove an entry",
    dependencies=[requires(WATCHLISTS)],
)
def delete_entry(
    watchlist_id: WatchlistId, entry_id: EntryId, principal: PrincipalDep, session: SessionDep
) -> None:
    watchlist = own_watchlist(session, principal, watchlist_id)
    try:
        remove_entry(session, watchlist.id, entry_id)
    except LookupError as error:
        raise NotFound(str(error)) from error
    audit(session, principal, "remove_watchlist_entry", watchlist)
    session.commit()


@router.get(
    "/{watchlist_id}/hits",
    response_model=list[WatchlistHitOut],
    summary="A watchlist's hits",
    dependencies=[requires(WATCHLISTS)],
)
def read_hits(
    watchlist_id: WatchlistId,
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[WatchlistHitOut]:
    """Newest first; only hits on cameras the caller's key may see. Audited."""
    watchlist = own_watchlist(session, principal, watchlist_id)
    hits = list_hits(session, watchlist.id, principal.camera_ids, limit, offset)
    audit(session, principal, "read_watchlist_hits", watchlist, len(hits))
    session.commit()
    return [WatchlistHitOut(**h.__dict__) for h in hits]
