"""What a service's request handlers, event handlers and jobs share: the typed runtime.

`Runtime[S, C]` is built once at start-up by `shared.runtime`: the service's settings
(`S`, its own `Settings` subclass), the pool, the bus, and `context` (`C`, a dataclass of
what the service holds: rules, committers, senders). A service names its own alias once,
e.g. `RuntimeDep = Annotated[Runtime[TrackingSettings, TrackingContext], Depends(runtime)]`,
so no handler downcasts settings or looks things up by string key.

`uow(rt)` is the one way to run a write: a pooled connection inside one transaction,
committed when the block ends, rolled back if it raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
from fastapi import Request

from shared.bus import Bus
from shared.settings import Settings

S = TypeVar("S", bound=Settings)
C = TypeVar("C")


@dataclass
class Runtime(Generic[S, C]):
    """What request handlers and jobs of one service share."""

    service: str
    settings: S
    pool: asyncpg.Pool
    bus: Bus | None = None
    # Built by the service's `ServiceSpec.context` at start-up; `None` for a service without one.
    context: C = None  # type: ignore[assignment]


# The dependency is `async def` on purpose: FastAPI runs a plain `def` dependency in a worker
# thread (an anyio hop, and the GIL passed back and forth) on every request that uses it.
async def runtime(request: Request) -> Runtime[Any, Any]:
    rt: Runtime[Any, Any] = request.app.state.runtime
    return rt


@asynccontextmanager
async def uow(source: Runtime[Any, Any] | asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """One unit of work: a connection in a transaction (commit on success, rollback on error).
    Outbox rows written through it leave with the business change or not at all."""
    pool = source.pool if isinstance(source, Runtime) else source
    async with pool.acquire() as conn, conn.transaction():
        yield conn
