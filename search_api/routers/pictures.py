"""Picture links: resolve a signed thumbnail or context-frame link, audit, redirect."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import RedirectResponse

from index.catalog import append_audit
from search_api.deps import ContextDep, ExpiresParam, HolderParam, SessionDep, SigParam
from search_api.links import link_holder, store_url
from search_api.openapi import LINK_RESPONSES

router = APIRouter(prefix="/pictures", tags=["pictures"], responses=LINK_RESPONSES)


@router.get("/{key:path}", summary="Picture of a sighting (signed link)")
def read_picture(
    key: str,
    session: SessionDep,
    context: ContextDep,
    holder: HolderParam,
    expires: ExpiresParam,
    sig: SigParam,
) -> RedirectResponse:
    """Pictures of sightings can show a face or a plate: every fetch is audited under the key
    the link was handed to, and resolves only while that key is active."""
    holder_key = link_holder(context, session, "picture", key, holder, expires, sig)
    append_audit(
        session, principal=holder_key.name, role=holder_key.role, action="object_access",
        target=f"object:{key}",
    )  # fmt: skip
    session.commit()
    return RedirectResponse(store_url(context, key), status_code=status.HTTP_307_TEMPORARY_REDIRECT)
