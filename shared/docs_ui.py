"""The API documentation pages every service serves: `/openapi.json`, `/docs` (Swagger UI) and
`/redoc` (ReDoc), with their scripts and styles from the service itself
(`shared/static/docs`, see its README), never from a CDN: the pages work without the internet,
and nothing a page loads leaves the service. Their Content-Security-Policy says so to the
browser as well (ReDoc's footer, for one, would fetch a logo from its vendor's CDN).

The routes are Starlette routes that name themselves in `scope["route"]`, as FastAPI's own
routes do, so the request metrics count them under their path (`shared.guard`), not `unmatched`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from shared.errors import NotFound

ASSETS_DIR = Path(__file__).resolve().parent / "static" / "docs"
ASSET_ROUTE = "/docs/assets/{name}"
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-init.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
DOCS_PATHS = ("/openapi.json", "/docs", "/redoc", ASSET_ROUTE)


class DocsRoute(Route):
    """A Starlette route that puts itself in `scope["route"]` (FastAPI's APIRoute does the same),
    so the guard labels its requests with the route's path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def content_security_policy(server_url: str = "") -> str:
    """Scripts, styles, images, fonts and workers from the service only (inline styles and `blob:`
    workers, which both viewers create, excepted); requests from Swagger UI's "Try it out" to the
    service, or to the API server the document names."""
    connect = "'self'"
    parts = urlsplit(server_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        connect += f" {parts.scheme}://{parts.netloc}"
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
            f"connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _page(*, title: str, viewer: str, root: str, head: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} – API reference ({viewer})</title>
<link rel="icon" type="image/png" href="{root}/docs/assets/favicon.png">
{head}
</head>
<body>
{body}
</body>
</html>
"""


def swagger_page(*, title: str, root: str) -> str:
    r = html.escape(root)
    return _page(title=title, viewer="Swagger UI", root=r,
                 head=f'<link rel="stylesheet" href="{r}/docs/assets/swagger-ui.css">',
                 body=f'<div id="swagger-ui" data-openapi-url="{r}/openapi.json"></div>\n'
                      f'<script src="{r}/docs/assets/swagger-ui-bundle.js"></script>\n'
                      f'<script src="{r}/docs/assets/swagger-init.js"></script>')


def redoc_page(*, title: str, root: str) -> str:
    r = html.escape(root)
    return _page(title=title, viewer="ReDoc", root=r, head="<style>body { margin: 0; padding: 0; }</style>",
                 body=f'<redoc spec-url="{r}/openapi.json"></redoc>\n'
                      f'<script src="{r}/docs/assets/redoc.standalone.js"></script>')


def install(app: FastAPI, *, server_url: str = "") -> None:
    """Add the documentation routes (create the app with `openapi_url`, `docs_url` and `redoc_url`
    None, so FastAPI adds none of its own)."""
    page_headers = {"Content-Security-Policy": content_security_policy(server_url),
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "Cache-Control": "no-cache"}

    async def openapi(request: Request) -> Response:
        doc = app.openapi()
        root = _root(request)
        if root and app.root_path_in_servers and root not in {s.get("url") for s in doc.get("servers", [])}:
            doc = {**doc, "servers": [{"url": root}, *doc.get("servers", [])]}
        return JSONResponse(doc)

    def page(render: Callable[..., str]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return HTMLResponse(render(title=app.title, root=_root(request)), headers=page_headers)
        return endpoint

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        media_type = ASSET_TYPES.get(name)
        if media_type is None:
            raise NotFound.of("documentation asset", name)
        return FileResponse(ASSETS_DIR / name, media_type=media_type,
                            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})

    for path, endpoint in (("/openapi.json", openapi), ("/docs", page(swagger_page)),
                           ("/redoc", page(redoc_page)), (ASSET_ROUTE, asset)):
        app.router.routes.append(DocsRoute(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False))
