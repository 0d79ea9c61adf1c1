"""Security headers on every answer of web, and the HTML error pages.

The CSP allows scripts and styles from this origin only: no inline script, no `on*`
attribute, no `eval` (htmx is configured without it). Images may also come from the
optional tile server. Pages are never framed and never cached by shared caches.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(tile_url: str | None) -> str:
    img = "'self' data:"
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        if parts.scheme and parts.netloc:
            host = parts.netloc.replace("a.", "*.", 1) if "{s}" in tile_url else parts.netloc
            img += f" {parts.scheme}://{host}"
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src {img}; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """Adds the security headers (and `Cache-Control: no-store` outside /static/) to every HTTP answer that
    does not set them itself, as Starlette's `MutableHeaders.setdefault` would one by one.

    Why not `setdefault`: each call encodes its name and value and scans the answer's headers,
    seven times per answer; the names here are encoded once, and an answer's headers are read
    once (6.6 → 1.8 µs an answer measured alone, 1 to 2% of web's CPU per public look-up)."""

    def __init__(self, app: ASGIApp, *, csp: str) -> None:
        self.app = app
        headers = {
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
            "Cross-Origin-Opener-Policy": "same-origin",
        }
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self._static = tuple(raw)
        self._pages = (*raw, (b"cache-control", b"no-store"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = self._static if scope["path"].startswith("/static/") else self._pages

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_defaults(message.get("headers", ()), defaults)
            await send(message)

        await self.app(scope, receive, with_headers)


def with_defaults(headers: Iterable[tuple[bytes, bytes]],
                  defaults: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` (raw ASGI pairs) followed by each of `defaults` (lower-case names) whose name none
    of them has: what `MutableHeaders.setdefault` gives, called for each default in turn."""
    headers = list(headers)
    present = {name for name, _ in headers}
    headers += [(name, value) for name, value in defaults if name not in present]
    return headers
