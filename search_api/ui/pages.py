"""The interface's shell: sign-in and sign-out, the session refresh, static files, rendering a
page in the base template, and the Search and Track pages (issue #18)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import iter_route_contexts
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from index.catalog.attributes import COLOURS, DIRECTIONS, VEHICLE_TYPES
from search_api.access import OBJECT_SEARCH, TRACKS_VIEW
from search_api.browser_session import CSRF_HEADER, SESSION_COOKIE, csrf_matches, parse_cookies
from search_api.deps import ContextDep, SessionDep, api_context
from search_api.errors import InvalidInput, NotFound
from search_api.login_throttle import client_address
from search_api.logins import log_in, log_out, rotate
from search_api.openapi import CatalogId
from search_api.tokens import Unauthenticated, authenticate
from search_api.ui.i18n import LANG_COOKIE, LANGUAGES, language_of, strings, translator
from search_api.ui.nav import NAV
from search_api.ui.session import (
    PageUser,
    clear_session_cookies,
    page_requires,
    set_session_cookies,
)

UI_DIR = Path(__file__).parent
STATIC_DIR = UI_DIR / "static"
STATIC_NAME = re.compile(r"^[a-z0-9_-]{1,64}\.(js|css|svg)$")
MEDIA_TYPES = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
templates = Jinja2Templates(directory=str(UI_DIR / "templates"))
router = APIRouter(prefix="/ui", include_in_schema=False)


def render(
    request: Request, template: str, user: PageUser | None, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    """`template` (which extends base.html) in the user's language, with the top bar's links
    to the pages that exist and that the user's role may open."""
    language = language_of(request)
    served = {str(c.path) for c in iter_route_contexts(request.app.routes)}  # included too
    nav = [i for i in NAV if i.path in served and user is not None and user.can(*i.capabilities)]
    page = {
        "lang": language,
        "user": None
        if user is None
        else {
            "name": user.principal.name,
            "role": user.principal.role,
            "capabilities": sorted(user.capabilities),
            "expires_at": None if user.expires_at is None else user.expires_at.isoformat(),
        },
        **extra.pop("page_data", {}),
    }
    context = {
        "request": request, "t": translator(language), "lang": language, "languages": LANGUAGES,
        "user": user, "nav": nav, "here": request.url.path,
        "strings_json": json.dumps(strings(language), ensure_ascii=False),
        "page_json": json.dumps(page, ensure_ascii=False), **extra,
    }  # fmt: skip
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this interface only (no open redirect)."""
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/search"


def require_csrf(request: Request) -> None:
    """InvalidInput (422) unless the X-CSRF-Token header matches the CSRF cookie."""
    cookies = parse_cookies(request.headers.get("cookie", ""))
    if not csrf_matches(cookies, request.headers.get(CSRF_HEADER)):
        raise InvalidInput(
            "X-CSRF-Token: missing or not this browser's; reload the page and sign in again"
        )


def quote_path(path: str) -> str:
    return quote(path, safe="/")


# ---- the shell -------------------------------------------------------------------------------


@router.get("")
def home() -> RedirectResponse:
    return RedirectResponse("/ui/search", 303)


@router.get("/static/{name}")
def static_file(name: Annotated[str, PathParam(max_length=70)]) -> FileResponse:
    """The interface's own scripts and styles (no third-party files, nothing from a CDN)."""
    match = STATIC_NAME.match(name)
    if match is None or not (STATIC_DIR / name).is_file():
        raise NotFound(f"no static file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=MEDIA_TYPES[match.group(1)])


@router.get("/login")
def login_page(request: Request, next: str | None = None, ended: bool = False) -> HTMLResponse:
    return render(request, "login.html", None, next_path=safe_next(next), ended=ended)


class SignIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


@router.post("/session")
def sign_in(body: SignIn, request: Request, session: SessionDep, context: ContextDep) -> Response:
    """Check the name and password like POST /api/v1/auth/login (lock-out, audit) and keep the
    session token in the browser's cookies; 401/403 with `detail` otherwise."""
    issued = log_in(session, context.accounts, body.name, body.password, client_address(request))
    response = JSONResponse({"expires_at": issued.expires_at.isoformat()})
    set_session_cookies(response, issued, request.url.scheme == "https")
    return response


@router.post("/session/refresh")
def refresh(request: Request, session: SessionDep, context: ContextDep) -> Response:
    """A new session token for the cookie's (which is revoked): the page calls it while its
    user is active; 401 once the session is over."""
    require_csrf(request)
    token = parse_cookies(request.headers.get("cookie", "")).get(SESSION_COOKIE, "")
    principal = authenticate(session, context.accounts, token)
    issued = rotate(session, context.accounts, principal)
    response = JSONResponse({"expires_at": issued.expires_at.isoformat()})
    set_session_cookies(response, issued, request.url.scheme == "https")
    return response


@router.post("/session/logout")
def sign_out(request: Request, session: SessionDep) -> Response:
    """Revoke the cookie's session token (if still valid) and clear the cookies."""
    require_csrf(request)
    token = parse_cookies(request.headers.get("cookie", "")).get(SESSION_COOKIE, "")
    try:
        principal = authenticate(session, api_context(request).accounts, token)
    except Unauthenticated:
        principal = None  # already over: only the cookies to clear
    if principal is not None and principal.kind == "user":
        log_out(session, principal)
    response = Response(status_code=204)
    clear_session_cookies(response)
    return response


@router.get("/lang/{language}")
def switch_language(language: str, request: Request, next: str | None = None) -> Response:
    """Remember the chosen language (zh or en) and go back to the page."""
    if language not in LANGUAGES:
        raise NotFound(f"no language {language!r}: one of {', '.join(LANGUAGES)}")
    response = RedirectResponse(safe_next(next), 303)
    response.set_cookie(LANG_COOKIE, language, path="/", samesite="strict", max_age=365 * 86400)
    return response


# ---- pages -----------------------------------------------------------------------------------


@router.get("/search")
def search_page(
    request: Request, user: Annotated[PageUser, page_requires(OBJECT_SEARCH)]
) -> Response:
    vocab = {"colours": COLOURS, "directions": DIRECTIONS, "vehicle_types": VEHICLE_TYPES}
    return render(request, "search.html", user, vocab=vocab)


@router.get("/tracks/{track_id}")
def track_page(
    track_id: CatalogId, request: Request, user: Annotated[PageUser, page_requires(TRACKS_VIEW)]
) -> Response:
    return render(request, "track.html", user, page_data={"track_id": track_id})
