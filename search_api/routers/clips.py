"""Clip links: resolve a signed camera + time span to its recording, audit, redirect; 410 Gone
once retention deleted that recording (404 when there never was one)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, status
from fastapi.responses import FileResponse, RedirectResponse
from starlette.background import BackgroundTask

from index.catalog import Session, append_audit, segments_between
from index.catalog.retention_plan import recording_deleted_days
from index.retention import JOB_KIND as RETENTION_JOB
from search_api.clip_playback import build_playback, new_work_dir, playback_window
from search_api.context import ApiContext
from search_api.deps import ContextDep, ExpiresParam, HolderParam, SessionDep, SigParam
from search_api.errors import DomainError, Gone, NotFound
from search_api.links import link_holder, store_url
from search_api.openapi import LINK_RESPONSES, ErrorOut

GONE: dict[int | str, dict[str, object]] = {
    410: {"model": ErrorOut, "description": "retention deleted the recording of this span"}
}
router = APIRouter(prefix="/clips", tags=["clips"], responses={**LINK_RESPONSES, **GONE})


def no_recording(
    session: Session, context: ApiContext, camera_id: str, start_at: datetime, end_at: datetime
) -> DomainError:
    """Why no segment covers the span: Gone when retention deleted it, else NotFound."""
    days = recording_deleted_days(
        session, context.retention.defaults, camera_id, start_at, end_at, RETENTION_JOB
    )
    if days is None:
        return NotFound("no recording covers this sighting")
    return Gone(
        f"retention keeps camera {camera_id!r}'s recordings {days} days: this sighting's"
        " recording is older and was deleted"
    )


@router.get("/{camera_id}/{start_ms}-{end_ms}", summary="Recording of a sighting (signed link)")
def read_clip(
    camera_id: str,
    start_ms: int,
    end_ms: int,
    session: SessionDep,
    context: ContextDep,
    holder: HolderParam,
    expires: ExpiresParam,
    sig: SigParam,
) -> RedirectResponse:
    """Redirects to the segment holding the start (seeking to it with `#t=`) while the key the
    link was handed to is active; every fetch is audited under that key's name."""
    span = f"{camera_id}/{start_ms}-{end_ms}"
    key = link_holder(context, session, "clip", span, holder, expires, sig)
    start_at = datetime.fromtimestamp(start_ms / 1000, UTC)
    end_at = max(datetime.fromtimestamp(end_ms / 1000, UTC), start_at) + timedelta(milliseconds=1)
    segments = segments_between(session, camera_id, start_at, end_at)
    if not segments:
        raise no_recording(session, context, camera_id, start_at, end_at)
    segment = segments[0]  # recording may begin after the sighting did: then from its start
    offset_s = max(0.0, (start_at - segment.start_at).total_seconds() - 2.0)
    append_audit(
        session, principal=key.name, role=key.role, action="clip_access",
        target=f"clip:{span}", filters={"segment": segment.object_key},
    )  # fmt: skip
    session.commit()
    return RedirectResponse(
        f"{store_url(context, segment.object_key)}#t={offset_s:.1f}",
        status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    )


@router.get(
    "/{camera_id}/{start_ms}-{end_ms}/video.mp4",
    summary="The whole sighting as one video, across its segments (signed link)",
    response_class=FileResponse,
    responses={200: {"content": {"video/mp4": {}}}},
)
def play_clip(
    camera_id: str,
    start_ms: int,
    end_ms: int,
    session: SessionDep,
    context: ContextDep,
    holder: HolderParam,
    expires: ExpiresParam,
    sig: SigParam,
    range_header: Annotated[str | None, Header(alias="range")] = None,
) -> FileResponse:
    """The same signed link as the clip's (same signature), answered with one MP4
    stream-copied over every recorded segment of the span (from the keyframe before a 2 s
    pre-roll to a 2 s post-roll). `X-Clip-Seek-S`: where the sighting begins in it;
    `X-Clip-Start`: the wall-clock time of its first frame; `X-Clip-Fps`. Byte ranges are
    served; a play is audited once (the request that starts at byte 0)."""
    span = f"{camera_id}/{start_ms}-{end_ms}"
    key = link_holder(context, session, "clip", span, holder, expires, sig)
    start_at = datetime.fromtimestamp(start_ms / 1000, UTC)
    end_at = datetime.fromtimestamp(end_ms / 1000, UTC)
    window = playback_window(start_at, end_at)
    segments = segments_between(session, camera_id, *window)
    if not segments:
        raise no_recording(session, context, camera_id, *window)
    work_dir = new_work_dir()
    try:
        played = build_playback(context.store, segments, start_at, window, work_dir)
    except Exception:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    if range_header is None or range_header.replace(" ", "").startswith("bytes=0-"):
        append_audit(
            session, principal=key.name, role=key.role, action="clip_play",
            target=f"clip:{span}",
            filters={"segments": list(played.segment_keys), "seek_s": round(played.seek_s, 2)},
        )  # fmt: skip
        session.commit()
    return FileResponse(
        played.path,
        media_type="video/mp4",
        headers={
            "X-Clip-Seek-S": f"{played.seek_s:.3f}",
            "X-Clip-Start": played.starts_at.isoformat(),
            "X-Clip-Fps": f"{played.fps:.3f}",
        },
        background=BackgroundTask(shutil.rmtree, work_dir, ignore_errors=True),
    )
