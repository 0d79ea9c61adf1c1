"""web's public look-ups asked of tracking in groups (`services.web.public.service.tracking_views`),
against a loopback server that plays tracking: the look-ups of the moment go in one
`POST /v1/public/shipments/lookups`, each caller gets its own answer; a tracking without that route
(an older release during a rolling upgrade) is asked one `GET /v1/public/shipments` at a time; a
group tracking cannot answer fails each of its callers as a single look-up would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from services.web.backends.client import Backend, BackendDown, BackendError
from services.web.public.service import LOOKUPS_PATH, PATH, tracking_views
from tests.web.test_web_backend_transport import Server, json_response, serving

NOT_FOUND = b'{"error": {"code": "not_found", "message": "no", "details": null}}'


def view(number: str, detailed: bool) -> dict[str, object]:
    return {"waybill_no": number, "stage": "in_transit", "city": "上海", "detailed": detailed}


def answer(raw: bytes, *, grouped: bool) -> bytes:
    """tracking's answer: digits 0000 open the detailed view, numbers starting NO are unknown."""
    head, body = raw.split(b"\r\n\r\n", 1)
    line = head.split(b"\r\n")[0].decode()
    if line.startswith(f"POST {LOOKUPS_PATH} "):
        if not grouped:
            return json_response(NOT_FOUND, status=b"404 Not Found")
        lookups = json.loads(body)["lookups"]
        results = [None if q["waybill_no"].startswith("NO") or q["phone_last4"] not in (None, "0000")
                   else view(q["waybill_no"], q["phone_last4"] == "0000") for q in lookups]
        return json_response(json.dumps({"results": results}).encode())
    assert line.startswith(f"GET {PATH}?waybill_no="), line
    number = line.split("=", 1)[1].split(" ")[0]
    digits = next((h.split(b":", 1)[1].strip().decode() for h in head.split(b"\r\n")
                   if h.lower().startswith(b"x-phone-last4:")), None)
    if number.startswith("NO") or digits not in (None, "0000"):
        return json_response(NOT_FOUND, status=b"404 Not Found")
    return json_response(json.dumps(view(number, digits == "0000")).encode())


def tracking(grouped: bool = True, status: bytes | None = None):  # type: ignore[no-untyped-def]
    async def script(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            raw = await server.request(reader)
            writer.write(json_response(NOT_FOUND, status=status) if status else answer(raw, grouped=grouped))
            await writer.drain()
    return serving(script)


@pytest.fixture
async def backend_of() -> AsyncIterator[list[Backend]]:
    made: list[Backend] = []
    yield made
    for backend in made:
        await backend.aclose()


def backend(server: Server, made: list[Backend]) -> Backend:
    made.append(Backend("tracking", f"http://127.0.0.1:{server.port}", secret="s" * 32, token_ttl=60, timeout=5.0,
                        connect_timeout=5.0, retries=0))
    return made[-1]


ASKED = [("S1", "0000"), ("S2", None), ("NO3", "0000"), ("S4", "1234"), ("S1", None)]
EXPECTED = [view("S1", True), view("S2", False), None, None, view("S1", False)]


async def test_the_look_ups_of_the_moment_go_to_tracking_in_one_request(backend_of: list[Backend]) -> None:
    async with tracking() as server:
        views = tracking_views(backend(server, backend_of))
        assert await asyncio.gather(*(views.call(q) for q in ASKED)) == EXPECTED
        assert len(server.requests) == 1
        head, body = server.requests[0].split(b"\r\n\r\n", 1)
        assert head.startswith(f"POST {LOOKUPS_PATH} HTTP/1.1".encode())
        assert json.loads(body) == {"lookups": [{"waybill_no": n, "phone_last4": d} for n, d in ASKED]}
        assert b"authorization: bearer " in head.lower()


async def test_a_tracking_without_the_grouped_route_is_asked_one_look_up_at_a_time(
        backend_of: list[Backend]) -> None:
    async with tracking(grouped=False) as server:
        views = tracking_views(backend(server, backend_of))
        assert await asyncio.gather(*(views.call(q) for q in ASKED)) == EXPECTED
        lines = [raw.split(b"\r\n")[0].decode() for raw in server.requests]
        assert lines[0].startswith(f"POST {LOOKUPS_PATH} ") and len(lines) == 1 + len(ASKED)
        assert all(line.startswith(f"GET {PATH}?waybill_no=") for line in lines[1:])
        # the digits travel in a header, never in the query string
        assert not any("0000" in line or "1234" in line for line in lines)


async def test_a_group_tracking_cannot_answer_fails_each_of_its_callers(backend_of: list[Backend]) -> None:
    for status, down in ((b"403 Forbidden", False), (b"500 Internal Server Error", True)):
        async with tracking(status=status) as server:
            views = tracking_views(backend(server, backend_of))
            outcomes = await asyncio.gather(*(views.call(q) for q in ASKED[:3]), return_exceptions=True)
            assert all(isinstance(o, BackendError) and isinstance(o, BackendDown) == down for o in outcomes), outcomes
            port = server.port
    down = Backend("tracking", f"http://127.0.0.1:{port}", secret="s" * 32, token_ttl=60, timeout=5.0,
                   connect_timeout=5.0, retries=0)
    backend_of.append(down)
    outcomes = await asyncio.gather(*(tracking_views(down).call(q) for q in ASKED[:3]), return_exceptions=True)
    assert all(isinstance(o, BackendDown) for o in outcomes), outcomes  # nobody listening
