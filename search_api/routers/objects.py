"""Serves objects of the local object store through signed, expiring links (with HTTP Range).

These are the object store's own links (what S3 presigned URLs are for an S3 store): the API
hands out picture and clip links (routers/pictures.py, routers/clips.py), which check the key
they were handed to, audit, and redirect here with a link that lives a minute.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response, status

from search_api.deps import ContextDep
from search_api.errors import Forbidden, NotFound
from search_api.openapi import LINK_RESPONSES
from storage.local import verify_signature
from storage.objectstore import ObjectNotFoundError

router = APIRouter(prefix="/objects", tags=["objects"], responses=LINK_RESPONSES)

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@router.get("/{key:path}", summary="Fetch a stored object by signed link")
def read_object(
    key: str,
    context: ContextDep,
    expires: Annotated[int, Query()],
    sig: Annotated[str, Query(max_length=128)],
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> Response:
    """The signature is the credential here (links are handed out by authenticated calls)."""
    if not verify_signature(key, expires, sig, context.signing_key):
        raise Forbidden("link is invalid or has expired")
    try:
        info = context.store.stat(key)
        if range_header is None:
            return Response(
                context.store.get(key),
                media_type=info.content_type,
                headers={"Accept-Ranges": "bytes"},
            )
        start, end = parse_range(range_header, info.size_bytes)
        body = context.store.get_range(key, start, end - start + 1)
    except ObjectNotFoundError as error:
        raise NotFound(str(error)) from error
    return Response(
        body,
        status_code=status.HTTP_206_PARTIAL_CONTENT,
        media_type=info.content_type,
        headers={
            "Accept-Ranges": "bytes",
            "Content-Range": f"bytes {start}-{end}/{info.size_bytes}",
        },
    )


def parse_range(header: str, size_bytes: int) -> tuple[int, int]:
    """First byte and last byte (inclusive) of a single `bytes=` range; 416 when unsatisfiable."""
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        raise HTTPException(status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE, "bad Range header")
    first, last = match.groups()
    if not first:
        start, end = max(0, size_bytes - int(last)), size_bytes - 1
    else:
        start, end = int(first), min(int(last) if last else size_bytes - 1, size_bytes - 1)
    if start >= size_bytes or start > end:
        raise HTTPException(
            status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE,
            "range outside the object",
            headers={"Content-Range": f"bytes */{size_bytes}"},
        )
    return start, end
