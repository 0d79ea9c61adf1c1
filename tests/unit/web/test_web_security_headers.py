"""web's security headers: `with_defaults` gives what Starlette's `MutableHeaders.setdefault`
gives, called for each default in turn (the way `SecurityHeaders` added them before), and the
middleware adds them to pages (with `Cache-Control: no-store`) and to static files (without)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from services.web.security import SecurityHeaders, with_defaults
from tests.conftest import run_sync

# names that collide with the defaults' (and not quite: another case), and any others
names = st.sampled_from([b"content-security-policy", b"x-frame-options", b"cache-control", b"Cache-Control",
                         b"content-type", b"referrer-policy", b"x-custom"]) | st.binary(min_size=1, max_size=12)
values = st.binary(max_size=20)
headers = st.lists(st.tuples(names, values), max_size=8)
defaults = st.dictionaries(st.sampled_from([b"content-security-policy", b"x-frame-options", b"cache-control",
                                            b"referrer-policy", b"x-other"]), values)


@given(headers=headers, defaults=defaults)
def test_defaults_are_added_as_setdefault_adds_them(headers: list[tuple[bytes, bytes]],
                                                    defaults: dict[bytes, bytes]) -> None:
    message = {"headers": list(headers)}
    starlette = MutableHeaders(scope=message)
    for name, value in defaults.items():
        starlette.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    assert with_defaults(headers, defaults.items()) == message["headers"]


def _answer(path: str, own: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(own)})
        await send({"type": "http.response.body", "body": b"x"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    run_sync(SecurityHeaders(app, csp="default-src 'self'")({"type": "http", "path": path}, receive, send))
    return list(sent[0]["headers"])


def test_a_page_gets_every_header_and_no_store_and_keeps_its_own() -> None:
    got = _answer("/track", [(b"content-type", b"text/html"), (b"referrer-policy", b"no-referrer")])
    assert got[:2] == [(b"content-type", b"text/html"), (b"referrer-policy", b"no-referrer")]
    names = [name for name, _ in got]
    assert names.count(b"referrer-policy") == 1  # the page's own kept, not doubled
    assert dict(got)[b"cache-control"] == b"no-store"
    assert dict(got)[b"content-security-policy"] == b"default-src 'self'"
    assert {b"x-content-type-options", b"x-frame-options", b"permissions-policy",
            b"cross-origin-opener-policy"} <= set(names)


def test_a_static_file_gets_the_headers_but_may_be_cached() -> None:
    got = dict(_answer("/static/app.css", [(b"content-type", b"text/css")]))
    assert b"cache-control" not in got
    assert got[b"x-frame-options"] == b"DENY"
