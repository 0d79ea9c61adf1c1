"""uvicorn's httptools protocol, answering each response with one socket write, and answering
a service's direct routes itself.

Why the one write: uvicorn writes a response's status line and headers when the app sends
`http.response.start`, and its body with a second write when it sends
`http.response.body`. Each write is a `send` call and a TCP segment, and each wakes the
client, which finds half a response and goes back to waiting. For small answers
requested often (a device feed: one fix in, a few bytes out, a request a second per
device) the second write is most of what the server spends sending, and it costs the
client a wakeup per request.

`CoalescingHttpToolsProtocol` gives uvicorn's protocol a transport whose writes made in
one turn of the event loop are joined and sent at the start of the next turn, or at once
when the connection closes (`shared.fastpath.coalescing`). Reading, flow control (pause / resume)
and everything else go to the real transport.

Why the direct routes: for such a request (a device's GPS fix: the request line is the whole
request), uvicorn's cycle around the app (a `RequestResponseCycle`, an `asyncio.Event`, a task
stepped twice, the ASGI messages and their header checks) costs more CPU than the route's own
work. A `DirectRoute` is answered from the method and query string, its outcome a future whose
completion writes the response: no cycle, no task. It takes only a request uvicorn would hand
the app as is, on a connection with nothing else in flight (no body, GET or POST, not an
upgrade); anything else, or what the route declines, goes the usual way. The bytes are
uvicorn's: the status line, uvicorn's default headers, the route's, `connection: close` when
the connection ends. `tests/integration/test_http_protocol.py` holds it to the ASGI path.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from shared.context import Runtime
from shared.errors import error_response
from shared.fastpath.coalescing import CoalescingTransport
from shared.fastpath.routes import json_headers
from shared.metrics import RouteMetrics


class DirectRoute(NamedTuple):
    """A path the protocol answers itself (see module doc).

    `start(rt, method, query)`: None to decline (the request goes to the app), else a future of
    the outcome; what it raises is answered in the contract's error shape (`error_response`).
    `body(future)`: once the future is done, the 200 answer's JSON body; what it raises (the
    future's exception, or one it maps that to) is answered in the error shape."""

    start: Callable[[Runtime[Any, Any], str, bytes], asyncio.Future[Any] | None]
    body: Callable[[asyncio.Future[Any]], bytes]


class DirectRoutes:
    """A service's direct routes, bound to its runtime, with their request metrics."""

    def __init__(self, rt: Runtime[Any, Any], routes: Mapping[str, DirectRoute]) -> None:
        self.rt = rt
        self.routes = {path.encode("ascii"): route for path, route in routes.items()}
        self.prefixes = tuple(self.routes)  # what a request's target starts with, if it is one of them
        self.metrics = RouteMetrics(rt.service)


class _Event:
    """What the protocol's parser callbacks `set()` on a cycle: nothing waits on a direct one."""

    __slots__ = ()

    def set(self) -> None:
        pass


_NO_EVENT = _Event()


class _DirectCycle:
    """The request a direct route answers, as uvicorn's protocol sees its cycle: whether the
    response is complete, the connection to be kept, the client gone."""

    __slots__ = ("body", "disconnected", "keep_alive", "message_event", "more_body", "response_complete")

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.response_complete = False
        self.disconnected = False
        self.more_body = True
        self.body = bytearray()
        self.message_event = _NO_EVENT


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a `CoalescingTransport`, and answering the
    direct routes (`direct`) itself (see module doc)."""

    direct: DirectRoutes | None = None
    in_flight: ClassVar[int] = 0  # direct requests not answered yet, in this process

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # flow control and addresses keep the real transport
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]

    def on_headers_complete(self) -> None:
        if self.direct is None or not self._answer_directly(self.direct):
            super().on_headers_complete()

    def _answer_directly(self, direct: DirectRoutes) -> bool:
        """Whether the request is a direct route's, started (True) or to go the usual way."""
        if not self.url.startswith(direct.prefixes):  # every other request: no second parse of its URL
            return False
        cycle = self.cycle
        if (cycle is not None and not cycle.response_complete) or self.pipeline:
            return False  # pipelined behind a response still to come: answered in order, by uvicorn
        url = httptools.parse_url(self.url)
        route = direct.routes.get(url.path)
        if route is None:
            return False
        method = self.parser.get_method()
        if method not in (b"GET", b"POST") or self.parser.should_upgrade():
            return False
        for name, value in self.headers:
            if (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding":
                return False
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) >= limit
                                  or len(self.tasks) + CoalescingHttpToolsProtocol.in_flight >= limit):
            return False  # uvicorn answers 503 when it is over the limit too
        started = time.perf_counter()
        path, verb = url.path.decode("ascii"), method.decode("ascii")
        try:
            future = route.start(direct.rt, verb, url.query or b"")
        except Exception as exc:  # noqa: BLE001 - answered in the contract's shape (error_response logs a 500)
            future = asyncio.get_running_loop().create_future()
            future.set_exception(exc)
        if future is None:
            return False
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        answering = _DirectCycle(keep_alive)
        self.cycle = answering  # type: ignore[assignment]  # what the protocol's callbacks read of it
        CoalescingHttpToolsProtocol.in_flight += 1
        future.add_done_callback(functools.partial(self._direct_done, answering, route, verb, path, started))
        return True

    def _direct_done(self, cycle: _DirectCycle, route: DirectRoute, method: str, path: str, started: float,
                     future: asyncio.Future[Any]) -> None:
        CoalescingHttpToolsProtocol.in_flight -= 1
        try:
            body = route.body(future)
            status, headers = 200, json_headers(body)
        except Exception as exc:  # noqa: BLE001 - answered in the contract's shape (error_response logs a 500)
            response = error_response(exc, path=path)
            status, headers, body = response.status_code, response.raw_headers, bytes(response.body)
        assert self.direct is not None
        self.direct.metrics.observe(method, path, status, time.perf_counter() - started)
        if cycle.disconnected:
            return
        self._write_response(cycle, status, headers, body)

    def _write_response(self, cycle: _DirectCycle, status: int, headers: list[tuple[bytes, bytes]],
                        body: bytes) -> None:
        """The response as uvicorn's cycle writes it (`RequestResponseCycle.send`), then what it
        does once a response is complete."""
        content = [STATUS_LINE[status]]
        has_connection_close = False
        for name, value in (*self.server_state.default_headers, *headers):
            if name == b"connection" and b"close" in [t.lower().strip() for t in value.split(b",")]:
                cycle.keep_alive = False
                has_connection_close = True
            content += [name, b": ", value, b"\r\n"]
        if not cycle.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        content += [b"\r\n", body]
        self.transport.write(b"".join(content))
        cycle.response_complete = True
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()
