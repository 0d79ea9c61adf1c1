"""A real uvicorn server for a test, on a loopback port of its own."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn


@contextlib.asynccontextmanager
async def serving(config: uvicorn.Config) -> AsyncIterator[tuple[tuple[str, int], uvicorn.Server]]:
    """The server of `config` listening (before it starts: no wait for it), its address and the
    server; stopped and its socket closed on the way out."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield listener.getsockname(), server
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        listener.close()
