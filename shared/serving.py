"""How every service's HTTP server treats slow and idle clients.

uvicorn closes a keep-alive connection that stays idle after a response
(`timeout_keep_alive`), but a connection that never completes its first request's headers
(an idle socket, or a client that sends a header a minute) has no timer at all, and holds
a connection for as long as it likes. `GuardedProtocol` gives each request's headers a
deadline, counted from the connection's start or the previous response's end; once the
headers are complete the request's own handling takes over (a long response such as an
event stream is not cut). `limit_concurrency` caps connections and in-flight requests per
process: past it uvicorn answers 503 at once instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from shared.fastpath.http import CoalescingHttpToolsProtocol
from shared.settings import Settings


class GuardedProtocol(CoalescingHttpToolsProtocol):
    """uvicorn's protocol (with coalesced writes) and a deadline for each request's headers."""

    def __init__(self, *args: Any, header_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def server_config(app: Any, settings: Settings, *, port: int, grace_seconds: float) -> uvicorn.Config:
    """The uvicorn configuration every service runs with."""

    class Protocol(GuardedProtocol):
        direct = getattr(app, "direct", None)  # a service's direct routes (shared.fastpath.http)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, header_timeout=settings.http_header_timeout_seconds, **kwargs)

    return uvicorn.Config(app, host=settings.host, port=port, log_config=None, access_log=False,
                          timeout_graceful_shutdown=int(grace_seconds), lifespan="off", server_header=False,
                          http=Protocol, timeout_keep_alive=settings.http_keep_alive_seconds,
                          limit_concurrency=settings.http_max_concurrency,
                          proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)
