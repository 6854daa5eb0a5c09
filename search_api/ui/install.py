"""Serving the interface from the API application: the shell's and the operations pages'
routers, and what a page answers when its user is not signed in or may not open it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from search_api.openapi import ErrorOut
from search_api.ui import ops_pages, pages
from search_api.ui.session import PageForbidden, SignInRequired

FRONT_DOOR_RESPONSES: dict[int | str, dict[str, Any]] = {
    302: {"description": "a browser (Accept: text/html): to the web interface, /ui"},
    404: {"model": ErrorOut, "description": "any other client: the API is under /api/v1"},
}


def install_ui(app: FastAPI) -> None:
    """Serve the interface from `app`: its routes, and the sign-in page (or a refusal page)
    for a page whose user is not signed in (or whose role may not open it)."""
    app.include_router(pages.router)  # the shell, Search and Track view (UI-1)
    app.include_router(ops_pages.router)  # cameras, events, jobs, cases, audit (UI-2)

    @app.get(
        "/",
        summary="The server's address: browsers are sent to the web interface",
        tags=["interface"],
        status_code=302,
        response_class=RedirectResponse,
        responses=FRONT_DOOR_RESPONSES,
    )
    def front_door(request: Request) -> Response:
        """A browser opening the server's address goes to the interface; other clients are
        told where the API is (404: "/" is no API resource)."""
        # public like the other operations the document lists without credentials: the request
        # guard (search_api/limits.py) reads that from this declaration
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(pages.router.prefix, 302)
        detail = "no resource here: the API is under /api/v1 (see /docs), the web interface at /ui"
        return JSONResponse({"detail": detail}, status_code=404)

    def sign_in_again(request: Request, error: Exception) -> Response:
        assert isinstance(error, SignInRequired)
        ended = "&ended=1" if error.reason else ""  # a session there was: say it ended
        target = f"/ui/login?next={pages.quote_path(error.next_path)}{ended}"
        return RedirectResponse(target, 303)

    def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, PageForbidden)
        needed = sorted(error.needed)
        return pages.render(request, "forbidden.html", error.user, 403, needed=needed)

    app.add_exception_handler(SignInRequired, sign_in_again)
    app.add_exception_handler(PageForbidden, refused)
