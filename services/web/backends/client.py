"""One pooled connection set per backend (backends.transport), called as the signed-in person.

Every call carries a short-lived HS256 JWT minted for that person (same role, branch and
subject), so each backend applies its own scope rules unchanged: a branch user asking for
another branch's waybill gets the backend's 404, not a filtered copy. Only idempotent GETs
are retried (a refused connection, a timeout, 502/503/504), and a POST that only reads, marked
`idempotent` (the public page's grouped look-ups); any other POST is sent once, and its
failure is reported to the user with what they typed kept.

Requests go straight to the transport as `httpx.Request`s, not through an `httpx.AsyncClient`:
the client's layers (base-URL merging, a cookie jar, auth and redirect handling, event hooks)
did nothing web needs — it follows no redirect, and a cookie one backend answer set must never
ride on another person's call — and cost a look-up on the public page more CPU than the
connection's own work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import Counter, Histogram

from services.web.backends.transport import PooledTransport
from shared.auth import issue_token

log = logging.getLogger("lcs.web.backends")

BACKEND_CALLS = Counter("lcs_web_backend_requests_total", "Calls from web to a backend, by outcome",
                        ["backend", "method", "outcome"])  # ok | client_error | server_error | unavailable
BACKEND_DURATION = Histogram("lcs_web_backend_request_duration_seconds", "Duration of web's calls to a backend",
                             ["backend", "method"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

RETRY_STATUSES = frozenset({502, 503, 504})
BACKOFF_SECONDS = (0.1, 0.3, 0.9, 2.0, 4.0)


@dataclass(frozen=True)
class Caller:
    """Who a backend call is made for: the signed-in person's claims."""

    sub: str
    role: str
    branch: str | None = None
    customer: str | None = None


class BackendError(Exception):
    """A backend answered with an error (4xx/5xx, in the contract's error shape)."""

    def __init__(self, backend: str, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{backend}: {status} {code}: {message}")
        self.backend = backend
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class BackendDown(BackendError):
    """A backend could not be reached or could not serve (timeout, refused, 5xx)."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(backend, 503, "unavailable", reason)


class Backend:
    def __init__(self, name: str, base_url: str, *, secret: str, token_ttl: int, timeout: float,
                 connect_timeout: float, retries: int, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.secret = secret
        self.token_ttl = token_ttl
        self.retries = retries
        # at most 64 connections, each kept idle for 4 s, within the backends' own 5 s
        # (`LCS_HTTP_KEEP_ALIVE_SECONDS`): see backends.transport for why not httpx's pool
        self.transport = transport or PooledTransport(max_connections=64, keepalive_expiry=4.0)
        self.base_url = base_url.rstrip("/")
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout).as_dict()
        self._tokens: dict[Caller, tuple[str, float]] = {}
        self._urls: dict[str, httpx.URL] = {}

    def url(self, path: str) -> httpx.URL:
        """The backend's URL of `path`, parsed once: httpx parses a URL given as text on every
        request (about 40 µs of the 70 a request's `httpx.Request` cost here), and the public page's
        grouped look-ups ask the same path all day."""
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) > 1_000:  # paths with ids in them: bounded, as the tokens are
                self._urls.clear()
            url = self._urls[path] = httpx.URL(self.base_url + path)
        return url

    def token(self, caller: Caller) -> str:
        """The caller's token, reused until half its lifetime has passed."""
        now = time.monotonic()
        cached = self._tokens.get(caller)
        if cached is not None and cached[1] > now:
            return cached[0]
        if caller.role not in ("admin", "supervisor", "staff", "branch", "customer", "public"):
            raise BackendError(self.name, 403, "role_not_supported", f"role {caller.role} has no backend access")
        token = issue_token(self.secret, sub=caller.sub, role=caller.role,  # type: ignore[arg-type]
                            branch=caller.branch, customer=caller.customer, ttl_seconds=self.token_ttl)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[caller] = (token, now + self.token_ttl / 2)
        return token

    async def get(self, caller: Caller, path: str, params: Mapping[str, Any] | None = None, *,
                  headers: Mapping[str, str] | None = None) -> Any:
        response = await self.request(caller, "GET", path, params=params, headers=headers)
        return response.json()

    async def post(self, caller: Caller, path: str, json: Any = None, *,
                   files: Any = None, idempotent: bool = False) -> Any:
        """`idempotent`: a POST that only reads (a body where a query string would not do), sent again
        as a GET would be when the backend cannot answer."""
        response = await self.request(caller, "POST", path, json=json, files=files, idempotent=idempotent)
        return response.json() if response.content else None

    async def request(self, caller: Caller, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                      json: Any = None, files: Any = None, accept: str = "application/json",
                      headers: Mapping[str, str] | None = None, idempotent: bool = False) -> httpx.Response:
        headers = {**(headers or {}), "Authorization": f"Bearer {self.token(caller)}", "Accept": accept,
                   "User-Agent": "lcs-web"}
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        idempotent = idempotent or method == "GET"
        attempts = 1 + (self.retries if idempotent else 0)
        reason = ""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)])
            started = time.perf_counter()
            try:
                response = await self._send(httpx.Request(
                    method, self.url(path), params=clean or None, json=json, files=files, headers=headers,
                    extensions={"timeout": self.timeout, "idempotent": idempotent}))
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}"
                BACKEND_CALLS.labels(self.name, method, "unavailable").inc()
                continue
            finally:
                BACKEND_DURATION.labels(self.name, method).observe(time.perf_counter() - started)
            if response.status_code in RETRY_STATUSES:
                reason = f"HTTP {response.status_code}"
                BACKEND_CALLS.labels(self.name, method, "unavailable").inc()
                continue
            if response.status_code >= 400:
                BACKEND_CALLS.labels(self.name, method,
                                     "client_error" if response.status_code < 500 else "server_error").inc()
                raise _error_of(self.name, response)
            BACKEND_CALLS.labels(self.name, method, "ok").inc()
            return response
        log.warning("backend unavailable", extra={"backend": self.name, "path": path, "error": reason})
        raise BackendDown(self.name, reason)

    async def get_unsigned(self, path: str) -> httpx.Response:
        """A GET without a caller's token (a backend's published OpenAPI), answered as it comes:
        no retry, no error mapping; raises httpx's errors."""
        return await self._send(httpx.Request("GET", self.url(path), headers={"User-Agent": "lcs-web"},
                                              extensions={"timeout": self.timeout}))

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self.transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def aclose(self) -> None:
        await self.transport.aclose()


def _error_of(name: str, response: httpx.Response) -> BackendError:
    code, message, details = "error", response.reason_phrase, None
    try:
        body = response.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            code = str(err.get("code") or code)
            message = str(err.get("message") or message)
            details = err.get("details")
        elif isinstance(body, dict) and "detail" in body:
            message = str(body["detail"])
    except ValueError:
        pass
    if response.status_code >= 500:
        return BackendDown(name, f"HTTP {response.status_code}: {message}")
    return BackendError(name, response.status_code, code, message, details)


@dataclass
class Backends:
    tracking: Backend
    receipts: Backend
    complaints: Backend
    notifier: Backend

    async def aclose(self) -> None:
        for b in (self.tracking, self.receipts, self.complaints, self.notifier):
            await b.aclose()
