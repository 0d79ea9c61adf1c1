"""A page's language (`templating.language_of`) read from the raw headers, once a request: the
same language as Starlette's `request.cookies` and `request.headers.get` give `pick_language`,
whatever the headers (the cookie among others, quoted, in several Cookie headers, named only
inside another cookie's value, Accept-Language with weights, twice)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from services.web.domain.words import pick_language
from services.web.templating import LANG_COOKIE, language_of

cookie_values = st.sampled_from(["en", "zh-CN", '"en"', "fr", "", "x; lcs_lang=en"])
# the language's cookie most of the time, else names that hold its name
cookie_pairs = st.tuples(st.sampled_from([LANG_COOKIE, LANG_COOKIE, LANG_COOKIE, "x_lcs_lang", " lcs_lang", "s"]),
                         st.one_of(cookie_values, st.text(alphabet="enzh-CN=lcs_lang; ", max_size=12)))
cookie_headers = st.lists(cookie_pairs, max_size=4).map(lambda pairs: "; ".join(f"{k}={v}" for k, v in pairs))
accept = st.sampled_from(["en-US,en;q=0.9", "en;q=0.5,zh-CN;q=0.8", "zh", "fr", "en;q=0", "en;q=x", ""])
headers = st.lists(
    st.one_of(st.tuples(st.just(b"cookie"), cookie_headers.map(str.encode)),
              st.tuples(st.just(b"accept-language"), accept.map(str.encode)),
              st.tuples(st.sampled_from([b"host", b"content-type"]), st.just(b"x"))),
    max_size=5)


def _request(raw: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/track", "headers": list(raw)})


@settings(max_examples=300)
@given(headers=headers)
def test_the_language_is_starlettes_reading_of_the_headers(headers: list[tuple[bytes, bytes]]) -> None:
    starlette = _request(headers)
    expected = pick_language(starlette.cookies.get(LANG_COOKIE), starlette.headers.get("accept-language"))
    request = _request(headers)
    assert language_of(request) == expected
    assert language_of(request) == expected  # the second time from the scope


def test_the_cookie_wins_over_accept_language_and_a_later_cookie_header_over_an_earlier() -> None:
    assert language_of(_request([(b"accept-language", b"zh-CN"), (b"cookie", b"lcs_lang=en")])) == "en"
    assert language_of(_request([(b"cookie", b"lcs_lang=en"), (b"cookie", b"a=1; lcs_lang=zh-CN")])) == "zh-CN"
    assert language_of(_request([(b"cookie", b"lcs_lang=fr"), (b"accept-language", b"en")])) == "en"
    assert language_of(_request([])) == "zh-CN"
