"""Slow and idle clients cannot hold a connection (issue 22, point 6): over a real uvicorn server
configured as every service runs it (`shared.serving.server_config`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.serving import server_config
from shared.settings import Settings
from tests.support.servers import serving

HEADER_TIMEOUT = 0.3


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    if scope["path"] == "/stream":
        await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
        # the thing under test: a response that lasts longer than the header deadline
        await asyncio.sleep(HEADER_TIMEOUT * 3)
    await send({"type": "http.response.body", "body": b"last\n"})


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, int]]:
    settings = Settings(env="dev", http_header_timeout_seconds=HEADER_TIMEOUT, http_keep_alive_seconds=30)
    async with serving(server_config(_app, settings, port=0, grace_seconds=1)) as (address, _):
        yield address


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server has closed the connection (EOF), waited for with a generous bound."""
    await asyncio.wait_for(reader.read(), 10)  # what is left of a response, then EOF
    return reader.at_eof()


async def test_an_idle_connection_is_closed(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    assert await _closed_by_server(reader)
    writer.close()


async def test_a_client_that_never_finishes_its_headers_is_closed(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n")  # and never the blank line
    await writer.drain()
    assert await _closed_by_server(reader)
    writer.close()


async def test_slow_headers_on_a_kept_alive_connection_are_closed_too(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    await asyncio.wait_for(reader.readuntil(b"last\n"), 5)
    writer.write(b"GET /two HTTP/1.1\r\n")  # the second request stalls in its headers
    await writer.drain()
    assert await _closed_by_server(reader)
    writer.close()


async def test_a_long_response_is_not_cut_by_the_header_deadline(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"first\n"), 5)
    assert (await asyncio.wait_for(reader.readuntil(b"last\n"), 10)).endswith(b"last\n")
    writer.close()
