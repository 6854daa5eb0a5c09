"""The interactive API docs at /docs, with Swagger UI's script and style served by the API itself
from the files the build step fetched from npm (models/manifest.json: swagger-ui-js and
swagger-ui-css, into `<models dir>/docs`) instead of a CDN: the page works where the servers
and the browsers have no internet, like the web interface. Readable without a key, as the
OpenAPI document it shows."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
ASSET_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
# Swagger UI starts from an inline script and sets inline styles; everything else is ours.
DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
    b" img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PATH = re.compile(r"/docs(/assets/[^/]+)?$")  # DOCS_URL and the files under ASSETS_URL


def is_docs_path(path: str) -> bool:
    """The docs page or one of its files."""
    return DOCS_PATH.match(path) is not None


def install_docs(app: FastAPI, assets_dir: Path | None) -> None:
    """Serve the docs page and its files (`assets_dir` None or not built: the files are 503)."""

    async def page(_request: Request) -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API docs",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url="data:,",  # no icon rather than one from the internet
        )

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        media_type = ASSET_TYPES.get(name)
        if media_type is None:
            return JSONResponse({"detail": f"no docs file {name!r}"}, status_code=404)
        path = assets_dir / name if assets_dir is not None else None
        if path is None or not path.is_file():
            detail = "the docs page's files are not built: run `python -m models.build`"
            return JSONResponse({"detail": detail}, status_code=503)
        return FileResponse(path, media_type=media_type)

    app.add_route(DOCS_URL, page, methods=["GET"], include_in_schema=False)
    app.add_route(ASSETS_URL + "/{name}", asset, methods=["GET"], include_in_schema=False)
