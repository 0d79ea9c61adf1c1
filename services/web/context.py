"""What web's request handlers, event handlers and workers share (`Runtime.context`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from argon2 import PasswordHasher
from fastapi import Depends, Request, Response

from services.web.backends.capabilities import Capabilities
from services.web.backends.client import Backends
from services.web.domain.public import DigitLock
from services.web.live.hub import LiveHub
from services.web.public.repository import LookupRow
from services.web.settings import WebSettings
from services.web.templating import Templates
from shared.context import Runtime, runtime
from shared.grouped import GroupCall, GroupWriter
from shared.ratelimit import SharedWindows


@dataclass
class WebContext:
    backends: Backends
    capabilities: Capabilities
    hub: LiveHub
    templates: Templates
    hasher: PasswordHasher
    # Verified against when the username is unknown or disabled, so that a sign-in with an
    # unknown name costs the same as one with a wrong password.
    dummy_hash: str
    # The public page's audit log, written in groups (each look-up waits for its row's commit).
    lookup_log: GroupWriter[LookupRow]
    # The public page's look-ups by number, asked of tracking in groups (public.service.tracking_views).
    public_views: GroupCall[tuple[str, str | None], dict[str, Any] | None]
    # Failed sign-ins per client address and minute, counted in PostgreSQL (every replica
    # counts into the same window); None when the limit is off.
    login_limiter: SharedWindows | None = None
    # Public tracking look-ups per client address and minute (PostgreSQL); None when off.
    public_limiter: SharedWindows | None = None
    # The same limit counted, with the digit locks read, for the form's look-ups of the moment
    # together (public.service.limits_and_locks); None when off.
    public_takes: GroupCall[tuple[str, bytes | None], tuple[float, DigitLock | None]] | None = None
    # The app's answer to an exception a route raised (main.configure_app's handlers: an HTML
    # page for a browser), for a fast route that answers without FastAPI's exception middleware.
    error_page: Callable[[Request, Exception], Awaitable[Response]] | None = None


WebRuntime = Runtime[WebSettings, WebContext]
RuntimeDep = Annotated[WebRuntime, Depends(runtime)]
